/**
 * Decoder for LDAPMessages received from the server (RFC 4511 section 4).
 * The result is a union discriminated by `protocolOp`. Values stay Buffers
 * wherever LDAP allows arbitrary bytes (attribute values, intermediate and
 * extended response values, control values), so binary data and cookies
 * arrive exactly as sent.
 */

import {
  BerCursor,
  decodeInteger,
  decodeString,
  hex,
  type BerElement,
} from './ber.js';
import { CONTROLS_TAG, decodeControls, type Control } from './controls.js';

const Tag = {
  integer: 0x02,
  enumerated: 0x0a,
  octetString: 0x04,
  sequence: 0x30,
  set: 0x31,
  bindResponse: 0x61,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  searchResultReference: 0x73,
  extendedResponse: 0x78,
  intermediateResponse: 0x79,
  referral: 0xa3,
  serverSaslCreds: 0x87,
  extendedResponseName: 0x8a,
  extendedResponseValue: 0x8b,
  intermediateResponseName: 0x80,
  intermediateResponseValue: 0x81,
} as const;

/** RFC 4511 section 4.4.1: sent unsolicited, with messageID 0. */
export const NOTICE_OF_DISCONNECTION_OID = '1.3.6.1.4.1.1466.20036';

export interface LdapResult {
  /** Any number the server sends; see describeResultCode(). */
  resultCode: number;
  matchedDN: string;
  diagnosticMessage: string;
  /** LDAP URLs from a referral result, if any. */
  referral?: string[];
}

export interface PartialAttribute {
  type: string;
  values: Buffer[];
}

interface Envelope {
  messageId: number;
  controls: Control[];
}

export interface BindResponse extends Envelope, LdapResult {
  protocolOp: 'BindResponse';
  serverSaslCreds?: Buffer;
}

export interface SearchResultEntry extends Envelope {
  protocolOp: 'SearchResultEntry';
  dn: string;
  attributes: PartialAttribute[];
}

export interface SearchResultReference extends Envelope {
  protocolOp: 'SearchResultReference';
  uris: string[];
}

export interface SearchResultDone extends Envelope, LdapResult {
  protocolOp: 'SearchResultDone';
}

export interface ExtendedResponse extends Envelope, LdapResult {
  protocolOp: 'ExtendedResponse';
  responseName?: string;
  responseValue?: Buffer;
}

export interface IntermediateResponse extends Envelope {
  protocolOp: 'IntermediateResponse';
  responseName?: string;
  responseValue?: Buffer;
}

/** Any other protocolOp, e.g. an AddResponse; kept as raw bytes. */
export interface UnknownResponse extends Envelope {
  protocolOp: 'unknown';
  tag: number;
  value: Buffer;
}

export type LdapResponse =
  | BindResponse
  | SearchResultEntry
  | SearchResultReference
  | SearchResultDone
  | ExtendedResponse
  | IntermediateResponse
  | UnknownResponse;

/**
 * Decodes one whole LDAPMessage, as produced by LdapMessageFramer. Throws a
 * ProtocolError when it is malformed.
 */
export function decodeLdapMessage(message: Buffer): LdapResponse {
  const outer = new BerCursor(message, 'LDAPMessage');
  const sequence = outer.next('LDAPMessage', Tag.sequence);

  const fields = new BerCursor(sequence.value, 'LDAPMessage');
  const messageId = decodeInteger(fields.next('messageID', Tag.integer), 'ID');
  const protocolOp = fields.next('protocolOp');
  const controls = fields.nextIf('controls', CONTROLS_TAG);

  const envelope = {
    messageId,
    controls: controls === undefined ? [] : decodeControls(controls),
  };
  return { ...envelope, ...decodeProtocolOp(protocolOp) };
}

type ProtocolOp = LdapResponse extends infer R
  ? R extends LdapResponse
    ? Omit<R, keyof Envelope>
    : never
  : never;

function decodeProtocolOp(op: BerElement): ProtocolOp {
  switch (op.tag) {
    case Tag.bindResponse:
      return decodeBindResponse(op);
    case Tag.searchResultEntry:
      return decodeSearchResultEntry(op);
    case Tag.searchResultReference:
      return decodeSearchResultReference(op);
    case Tag.searchResultDone:
      return decodeSearchResultDone(op);
    case Tag.extendedResponse:
      return decodeExtendedResponse(op);
    case Tag.intermediateResponse:
      return decodeIntermediateResponse(op);
    default:
      return { protocolOp: 'unknown', tag: op.tag, value: op.value };
  }
}

function decodeBindResponse(op: BerElement): ProtocolOp {
  const fields = new BerCursor(op.value, 'BindResponse');
  const result = readLdapResult(fields);
  const creds = fields.nextIf('serverSaslCreds', Tag.serverSaslCreds);
  const response: ProtocolOp = { protocolOp: 'BindResponse', ...result };
  if (creds !== undefined) response.serverSaslCreds = creds.value;
  return response;
}

function decodeSearchResultEntry(op: BerElement): ProtocolOp {
  const fields = new BerCursor(op.value, 'SearchResultEntry');
  const dn = decodeString(fields.next('objectName', Tag.octetString));
  const list = fields.next('attributes', Tag.sequence);
  const attributes = new BerCursor(list.value, 'PartialAttributeList')
    .rest('PartialAttribute')
    .map(decodePartialAttribute);
  return { protocolOp: 'SearchResultEntry', dn, attributes };
}

function decodePartialAttribute(element: BerElement): PartialAttribute {
  const fields = new BerCursor(element.value, 'PartialAttribute');
  const type = decodeString(fields.next('type', Tag.octetString));
  const set = fields.next('vals', Tag.set);
  const values = new BerCursor(set.value, `values of ${type}`)
    .rest('value')
    .map((value) => value.value);
  return { type, values };
}

function decodeSearchResultReference(op: BerElement): ProtocolOp {
  const uris = new BerCursor(op.value, 'SearchResultReference')
    .rest('URI')
    .map(decodeString);
  return { protocolOp: 'SearchResultReference', uris };
}

function decodeSearchResultDone(op: BerElement): ProtocolOp {
  const fields = new BerCursor(op.value, 'SearchResultDone');
  return { protocolOp: 'SearchResultDone', ...readLdapResult(fields) };
}

function decodeExtendedResponse(op: BerElement): ProtocolOp {
  const fields = new BerCursor(op.value, 'ExtendedResponse');
  const result = readLdapResult(fields);
  const name = fields.nextIf('responseName', Tag.extendedResponseName);
  const value = fields.nextIf('responseValue', Tag.extendedResponseValue);
  const response: ProtocolOp = { protocolOp: 'ExtendedResponse', ...result };
  if (name !== undefined) response.responseName = decodeString(name);
  if (value !== undefined) response.responseValue = value.value;
  return response;
}

function decodeIntermediateResponse(op: BerElement): ProtocolOp {
  const fields = new BerCursor(op.value, 'IntermediateResponse');
  const name = fields.nextIf('responseName', Tag.intermediateResponseName);
  const value = fields.nextIf('responseValue', Tag.intermediateResponseValue);
  const response: ProtocolOp = { protocolOp: 'IntermediateResponse' };
  if (name !== undefined) response.responseName = decodeString(name);
  if (value !== undefined) response.responseValue = value.value;
  return response;
}

function readLdapResult(fields: BerCursor): LdapResult {
  const code = fields.next('resultCode', Tag.enumerated);
  const matchedDN = fields.next('matchedDN', Tag.octetString);
  const diagnostic = fields.next('diagnosticMessage', Tag.octetString);
  const referral = fields.nextIf('referral', Tag.referral);

  const result: LdapResult = {
    resultCode: decodeInteger(code, 'resultCode'),
    matchedDN: decodeString(matchedDN),
    diagnosticMessage: decodeString(diagnostic),
  };
  if (referral !== undefined) result.referral = readReferral(referral);
  return result;
}

function readReferral(element: BerElement): string[] {
  return new BerCursor(element.value, 'Referral').rest('URI').map(decodeString);
}

/** "SearchResultEntry", or "protocolOp 0x67" for an unknown one. */
export function describeProtocolOp(response: LdapResponse): string {
  if (response.protocolOp !== 'unknown') return response.protocolOp;
  return `protocolOp ${hex(response.tag)}`;
}
