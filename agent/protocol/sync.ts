/**
 * RFC 4533 Content Synchronization ("syncrepl") values: the Sync Request
 * control sent with a search, the Sync State control on each entry, the
 * Sync Done control on the SearchResultDone, and the Sync Info message
 * carried in an IntermediateResponse. Cookies are opaque bytes and are
 * never decoded as text.
 */

import asn1 from '@ldapjs/asn1';

import {
  BerCursor,
  decodeBoolean,
  decodeInteger,
  hex,
  type BerElement,
} from './ber.js';
import { findControl, type Control } from './controls.js';
import { ProtocolError } from './errors.js';
import type { IntermediateResponse, LdapResponse } from './responses.js';

export const SYNC_REQUEST_OID = '1.3.6.1.4.1.4203.1.9.1.1';
export const SYNC_STATE_OID = '1.3.6.1.4.1.4203.1.9.1.2';
export const SYNC_DONE_OID = '1.3.6.1.4.1.4203.1.9.1.3';
export const SYNC_INFO_OID = '1.3.6.1.4.1.4203.1.9.1.4';

/** Result code e-syncRefreshRequired: start again without a cookie. */
export const E_SYNC_REFRESH_REQUIRED = 4096;

const Tag = {
  boolean: 0x01,
  octetString: 0x04,
  enumerated: 0x0a,
  sequence: 0x30,
  set: 0x31,
  newcookie: 0x80,
  refreshDelete: 0xa1,
  refreshPresent: 0xa2,
  syncIdSet: 0xa3,
} as const;

export type SyncMode = 'refreshOnly' | 'refreshAndPersist';

const modeCodes: Record<SyncMode, number> = {
  refreshOnly: 1,
  refreshAndPersist: 3,
};

export interface SyncRequestOptions {
  mode: SyncMode;
  /** The cookie from the last session; omit for a full refresh. */
  cookie?: Buffer;
  /** @default false */
  reloadHint?: boolean;
}

/** The Sync Request control, critical so a server without it refuses. */
export function syncRequestControl(options: SyncRequestOptions): Control {
  return {
    type: SYNC_REQUEST_OID,
    criticality: true,
    value: encodeSyncRequestValue(options),
  };
}

export function encodeSyncRequestValue(options: SyncRequestOptions): Buffer {
  const writer = new asn1.BerWriter();
  writer.startSequence(Tag.sequence);
  writer.writeEnumeration(modeCodes[options.mode]);
  if (options.cookie !== undefined) {
    writer.writeBuffer(options.cookie, Tag.octetString);
  }
  if (options.reloadHint) writer.writeBoolean(true);
  writer.endSequence();
  return Buffer.from(writer.buffer);
}

export type SyncStateName = 'present' | 'add' | 'modify' | 'delete';

const stateNames: readonly SyncStateName[] = [
  'present',
  'add',
  'modify',
  'delete',
];

export interface SyncStateValue {
  state: SyncStateName;
  /** The entry's entryUUID, 16 bytes. */
  entryUUID: Buffer;
  /** entryUUID as text, e.g. '07762d1a-8385-1041-8427-a5726f26be68'. */
  entryUUIDString: string;
  cookie?: Buffer;
}

export function decodeSyncStateValue(value: Buffer): SyncStateValue {
  const fields = sequenceFields(value, 'Sync State control');
  const code = decodeInteger(fields.next('state', Tag.enumerated), 'state');
  const state = stateNames[code];
  if (state === undefined) throw fields.error(`unknown state ${code}`);

  const uuid = readUUID(fields.next('entryUUID', Tag.octetString), fields);
  const cookie = fields.nextIf('cookie', Tag.octetString);

  const decoded: SyncStateValue = {
    state,
    entryUUID: uuid,
    entryUUIDString: formatUUID(uuid),
  };
  if (cookie !== undefined) decoded.cookie = cookie.value;
  return decoded;
}

export interface SyncDoneValue {
  cookie?: Buffer;
  /** @default false */
  refreshDeletes: boolean;
}

export function decodeSyncDoneValue(value: Buffer): SyncDoneValue {
  const fields = sequenceFields(value, 'Sync Done control');
  const cookie = fields.nextIf('cookie', Tag.octetString);
  const deletes = fields.nextIf('refreshDeletes', Tag.boolean);

  const decoded: SyncDoneValue = {
    refreshDeletes: deletes === undefined ? false : decodeBoolean(deletes),
  };
  if (cookie !== undefined) decoded.cookie = cookie.value;
  return decoded;
}

/**
 * The Sync Info message, one of four RFC 4533 choices. refreshDelete and
 * refreshPresent end a refresh phase when `refreshDone` is true; syncIdSet
 * lists entries that are present (or deleted, when `refreshDeletes`).
 */
export type SyncInfoMessage =
  | { kind: 'newcookie'; cookie: Buffer }
  | { kind: 'refreshDelete'; cookie?: Buffer; refreshDone: boolean }
  | { kind: 'refreshPresent'; cookie?: Buffer; refreshDone: boolean }
  | {
      kind: 'syncIdSet';
      cookie?: Buffer;
      refreshDeletes: boolean;
      syncUUIDs: Buffer[];
    };

/** The Sync Info message in `response`, or undefined if it carries none. */
export function decodeSyncInfoMessage(
  response: IntermediateResponse,
): SyncInfoMessage | undefined {
  if (response.responseName !== SYNC_INFO_OID) return undefined;
  if (response.responseValue === undefined) {
    throw new ProtocolError(
      'Received a Sync Info message without a value from the server. ' +
        'The server does not implement RFC 4533 correctly.',
    );
  }
  return decodeSyncInfoValue(response.responseValue);
}

export function decodeSyncInfoValue(value: Buffer): SyncInfoMessage {
  const outer = new BerCursor(value, 'Sync Info message');
  const choice = outer.next('syncInfoValue');

  switch (choice.tag) {
    case Tag.newcookie:
      return { kind: 'newcookie', cookie: choice.value };
    case Tag.refreshDelete:
      return { kind: 'refreshDelete', ...readRefreshPhase(choice) };
    case Tag.refreshPresent:
      return { kind: 'refreshPresent', ...readRefreshPhase(choice) };
    case Tag.syncIdSet:
      return readSyncIdSet(choice);
    default:
      throw outer.error(`unknown syncInfoValue choice ${hex(choice.tag)}`);
  }
}

function readRefreshPhase(choice: BerElement) {
  const fields = new BerCursor(choice.value, 'Sync Info refresh phase');
  const cookie = fields.nextIf('cookie', Tag.octetString);
  const done = fields.nextIf('refreshDone', Tag.boolean);

  const phase: { cookie?: Buffer; refreshDone: boolean } = {
    refreshDone: done === undefined ? true : decodeBoolean(done),
  };
  if (cookie !== undefined) phase.cookie = cookie.value;
  return phase;
}

function readSyncIdSet(choice: BerElement): SyncInfoMessage {
  const fields = new BerCursor(choice.value, 'Sync Info syncIdSet');
  const cookie = fields.nextIf('cookie', Tag.octetString);
  const deletes = fields.nextIf('refreshDeletes', Tag.boolean);
  const set = fields.next('syncUUIDs', Tag.set);
  const members = new BerCursor(set.value, 'syncUUIDs');

  const message: SyncInfoMessage = {
    kind: 'syncIdSet',
    refreshDeletes: deletes === undefined ? false : decodeBoolean(deletes),
    syncUUIDs: members.rest('syncUUID').map((id) => readUUID(id, members)),
  };
  if (cookie !== undefined) message.cookie = cookie.value;
  return message;
}

/** The Sync State of a SearchResultEntry, if it carries one. */
export function findSyncState(
  response: LdapResponse,
): SyncStateValue | undefined {
  const value = findControl(response.controls, SYNC_STATE_OID)?.value;
  return value === undefined ? undefined : decodeSyncStateValue(value);
}

/** The Sync Done of a SearchResultDone, if it carries one. */
export function findSyncDone(
  response: LdapResponse,
): SyncDoneValue | undefined {
  const value = findControl(response.controls, SYNC_DONE_OID)?.value;
  return value === undefined ? undefined : decodeSyncDoneValue(value);
}

/** Formats a 16-byte UUID as 8-4-4-4-12 lowercase hexadecimal. */
export function formatUUID(uuid: Buffer): string {
  const text = uuid.toString('hex');
  return [
    text.slice(0, 8),
    text.slice(8, 12),
    text.slice(12, 16),
    text.slice(16, 20),
    text.slice(20),
  ].join('-');
}

function readUUID(element: BerElement, fields: BerCursor): Buffer {
  if (element.value.length !== 16) {
    throw fields.error(`a syncUUID of ${element.value.length} bytes, not 16`);
  }
  return element.value;
}

function sequenceFields(value: Buffer, what: string): BerCursor {
  const outer = new BerCursor(value, what);
  return new BerCursor(outer.next(what, Tag.sequence).value, what);
}
