/**
 * Persistent Search (draft-ietf-ldapext-psearch-03), as 389 Directory
 * Server offers it: the Persistent Search control sent with a search, which
 * keeps the search open and returns each later change as an entry, and the
 * Entry Change Notification control on those entries, which says what the
 * change was.
 */

import asn1 from '@ldapjs/asn1';

import { BerCursor, decodeInteger, decodeString } from './ber.js';
import { findControl, type Control } from './controls.js';
import type { LdapResponse } from './responses.js';

export const PERSISTENT_SEARCH_OID = '2.16.840.1.113730.3.4.3';
export const ENTRY_CHANGE_NOTIFICATION_OID = '2.16.840.1.113730.3.4.7';

const Tag = {
  integer: 0x02,
  octetString: 0x04,
  enumerated: 0x0a,
  sequence: 0x30,
} as const;

export type ChangeType = 'add' | 'delete' | 'modify' | 'modDN';

/** The draft's changeTypes bits, also the ECN's changeType values. */
export const CHANGE_TYPE_BITS: Readonly<Record<ChangeType, number>> = {
  add: 1,
  delete: 2,
  modify: 4,
  modDN: 8,
};

/** Every kind of change: add | delete | modify | modDN. */
export const ALL_CHANGE_TYPES = 15;

export interface PersistentSearchOptions {
  /** A bitmask of CHANGE_TYPE_BITS. @default ALL_CHANGE_TYPES (15) */
  changeTypes?: number;
  /**
   * True: only changes made after the search started are returned. False:
   * the entries that match now are returned first, without an ECN.
   * @default false
   */
  changesOnly?: boolean;
  /** Attach an Entry Change Notification to each change. @default true */
  returnECs?: boolean;
}

/**
 * The Persistent Search control, critical so that a server without it
 * refuses the search instead of answering once and ending it.
 */
export function persistentSearchControl(
  options: PersistentSearchOptions = {},
): Control {
  return {
    type: PERSISTENT_SEARCH_OID,
    criticality: true,
    value: encodePersistentSearchValue(options),
  };
}

/** SEQUENCE { changeTypes INTEGER, changesOnly BOOLEAN, returnECs BOOLEAN } */
export function encodePersistentSearchValue(
  options: PersistentSearchOptions = {},
): Buffer {
  const changeTypes = options.changeTypes ?? ALL_CHANGE_TYPES;
  if (
    !Number.isInteger(changeTypes) ||
    changeTypes < 1 ||
    changeTypes > ALL_CHANGE_TYPES
  ) {
    throw new RangeError(
      `Expected changeTypes to be a bitmask from 1 to 15, got ${changeTypes}`,
    );
  }
  const writer = new asn1.BerWriter();
  writer.startSequence(Tag.sequence);
  writer.writeInt(changeTypes);
  // Neither BOOLEAN has a DEFAULT in the draft, so both are always sent.
  writer.writeBoolean(options.changesOnly ?? false);
  writer.writeBoolean(options.returnECs ?? true);
  writer.endSequence();
  return Buffer.from(writer.buffer);
}

export interface EntryChangeNotification {
  changeType: ChangeType;
  /** The DN before a modDN; the draft sends it only for modDN. */
  previousDN?: string;
  /** The change's number in the server's changelog, if it keeps one. */
  changeNumber?: number;
}

const changeTypeNames = new Map<number, ChangeType>(
  Object.entries(CHANGE_TYPE_BITS).map(([name, bit]) => [
    bit,
    name as ChangeType,
  ]),
);

/**
 * EntryChangeNotification ::= SEQUENCE {
 *   changeType ENUMERATED { add (1), delete (2), modify (4), modDN (8) },
 *   previousDN LDAPDN OPTIONAL,
 *   changeNumber INTEGER OPTIONAL }
 *
 * changeType is read as ENUMERATED, as the draft and 389-ds send it, or as
 * INTEGER, which some older servers and clients use.
 */
export function decodeEntryChangeNotification(
  value: Buffer,
): EntryChangeNotification {
  const what = 'Entry Change Notification control';
  const outer = new BerCursor(value, what);
  const fields = new BerCursor(outer.next(what, Tag.sequence).value, what);

  const typeTag =
    fields.peekTag() === Tag.integer ? Tag.integer : Tag.enumerated;
  const code = decodeInteger(fields.next('changeType', typeTag), 'changeType');
  const changeType = changeTypeNames.get(code);
  if (changeType === undefined) {
    throw fields.error(`unknown changeType ${code}`);
  }

  const notification: EntryChangeNotification = { changeType };
  const previousDN = fields.nextIf('previousDN', Tag.octetString);
  if (previousDN !== undefined) {
    notification.previousDN = decodeString(previousDN);
  }
  const changeNumber = fields.nextIf('changeNumber', Tag.integer);
  if (changeNumber !== undefined) {
    notification.changeNumber = decodeInteger(changeNumber, 'changeNumber');
  }
  return notification;
}

/** The Entry Change Notification of a SearchResultEntry, if any. */
export function findEntryChangeNotification(
  response: LdapResponse,
): EntryChangeNotification | undefined {
  const control = findControl(response.controls, ENTRY_CHANGE_NOTIFICATION_OID);
  if (control === undefined) return undefined;
  if (control.value === undefined) {
    throw new BerCursor(Buffer.alloc(0), 'Entry Change Notification').error(
      'the control has no value',
    );
  }
  return decodeEntryChangeNotification(control.value);
}
