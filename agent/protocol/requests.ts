/**
 * Encoders for the LDAPMessages this client sends (RFC 4511 section 4):
 * simple BindRequest, SearchRequest, AbandonRequest, UnbindRequest and
 * ExtendedRequest, each
 * wrapped in an LDAPMessage with its messageID and optional controls.
 */

import asn1 from '@ldapjs/asn1';
import ldapFilter from '@ldapjs/filter';

import { writeControls, type Control } from './controls.js';
import { FilterError } from './errors.js';

const LDAP_VERSION = 3;

const Tag = {
  sequence: 0x30,
  bindRequest: 0x60,
  unbindRequest: 0x42,
  searchRequest: 0x63,
  abandonRequest: 0x50,
  extendedRequest: 0x77,
  extendedRequestName: 0x80,
  extendedRequestValue: 0x81,
  simpleAuthentication: 0x80,
} as const;

/** SearchRequest scope (RFC 4511 section 4.5.1.2). */
export type SearchScope = 'baseObject' | 'singleLevel' | 'wholeSubtree';

const scopeCodes: Record<SearchScope, number> = {
  baseObject: 0,
  singleLevel: 1,
  wholeSubtree: 2,
};

/** derefAliases neverDerefAliases: this client never follows aliases. */
const NEVER_DEREF_ALIASES = 0;

export interface SearchRequest {
  baseObject: string;
  scope: SearchScope;
  /** An RFC 4515 filter string, e.g. '(objectClass=*)'. */
  filter: string;
  /** Attributes to return; empty means all user attributes. @default [] */
  attributes?: readonly string[];
  /** Most entries to return; 0 means no client limit. @default 0 */
  sizeLimit?: number;
  /** Most seconds to search; 0 means no client limit. @default 0 */
  timeLimit?: number;
  /** @default [] */
  controls?: readonly Control[];
}

export function encodeBindRequest(
  messageId: number,
  dn: string,
  password: string,
  controls: readonly Control[] = [],
): Buffer {
  return encodeMessage(messageId, controls, (writer) => {
    writer.startSequence(Tag.bindRequest);
    writer.writeInt(LDAP_VERSION);
    writer.writeString(dn);
    writer.writeString(password, Tag.simpleAuthentication);
    writer.endSequence();
  });
}

/** Throws a FilterError when `request.filter` cannot be encoded. */
export function encodeSearchRequest(
  messageId: number,
  request: SearchRequest,
): Buffer {
  const filter = encodeFilter(request.filter);

  return encodeMessage(messageId, request.controls ?? [], (writer) => {
    writer.startSequence(Tag.searchRequest);
    writer.writeString(request.baseObject);
    writer.writeEnumeration(scopeCodes[request.scope]);
    writer.writeEnumeration(NEVER_DEREF_ALIASES);
    writer.writeInt(request.sizeLimit ?? 0);
    writer.writeInt(request.timeLimit ?? 0);
    writer.writeBoolean(false);
    writer.appendBuffer(filter);
    writer.startSequence(Tag.sequence);
    writer.writeStringArray([...(request.attributes ?? [])]);
    writer.endSequence();
    writer.endSequence();
  });
}

export function encodeAbandonRequest(
  messageId: number,
  abandonId: number,
): Buffer {
  return encodeMessage(messageId, [], (writer) => {
    writer.writeInt(abandonId, Tag.abandonRequest);
  });
}

/** RFC 4511 section 4.12: requestName [0], optional requestValue [1]. */
export function encodeExtendedRequest(
  messageId: number,
  requestName: string,
  requestValue?: Buffer,
  controls: readonly Control[] = [],
): Buffer {
  return encodeMessage(messageId, controls, (writer) => {
    writer.startSequence(Tag.extendedRequest);
    writer.writeString(requestName, Tag.extendedRequestName);
    if (requestValue !== undefined) {
      writer.writeBuffer(requestValue, Tag.extendedRequestValue);
    }
    writer.endSequence();
  });
}

export function encodeUnbindRequest(messageId: number): Buffer {
  return encodeMessage(messageId, [], (writer) => {
    writer.writeByte(Tag.unbindRequest);
    writer.writeLength(0);
  });
}

/**
 * LIMITATION: @ldapjs/filter 2.1.1 sends RFC 4515 escapes such as `\2a`
 * as the literal characters instead of the byte they stand for, so such a
 * filter would silently match the wrong entries. Filters with a backslash
 * are refused; values needing escapes cannot be searched for.
 */
function encodeFilter(text: string): Buffer {
  if (text.includes('\\')) {
    throw new FilterError(
      `Cannot use the search filter ${text}: escaped values (\\XX) are ` +
        'not supported. Use a filter whose values need no escaping.',
    );
  }
  try {
    return ldapFilter.parseString(text).toBer().buffer;
  } catch (cause) {
    throw new FilterError(
      `Cannot parse the search filter ${text}. Write it as in RFC 4515, ` +
        'e.g. (&(objectClass=device)(cn=e1)).',
      { cause },
    );
  }
}

function encodeMessage(
  messageId: number,
  controls: readonly Control[],
  writeProtocolOp: (writer: asn1.BerWriter) => void,
): Buffer {
  const writer = new asn1.BerWriter();
  writer.startSequence(Tag.sequence);
  writer.writeInt(messageId);
  writeProtocolOp(writer);
  writeControls(writer, controls);
  writer.endSequence();
  // Copy: the writer's buffer is a view into a larger backing store.
  return Buffer.from(writer.buffer);
}
