/**
 * LDAP controls (RFC 4511 section 4.1.11). A control value is kept as the
 * exact bytes sent or received: it is usually BER, and decoding it as text
 * would corrupt it.
 */

import type asn1 from '@ldapjs/asn1';

import {
  BerCursor,
  decodeBoolean,
  decodeString,
  type BerElement,
} from './ber.js';

export interface Control {
  /** The control's OID, e.g. SYNC_REQUEST_OID. */
  type: string;
  /** @default false */
  criticality: boolean;
  value?: Buffer;
}

const OCTET_STRING = 0x04;
const BOOLEAN = 0x01;
const SEQUENCE = 0x30;
/** Controls ::= [0] SEQUENCE OF Control, inside an LDAPMessage. */
export const CONTROLS_TAG = 0xa0;

/** Writes `[0] Controls`; writes nothing for an empty list. */
export function writeControls(
  writer: asn1.BerWriter,
  controls: readonly Control[],
): void {
  if (controls.length === 0) return;

  writer.startSequence(CONTROLS_TAG);
  for (const control of controls) writeControl(writer, control);
  writer.endSequence();
}

function writeControl(writer: asn1.BerWriter, control: Control): void {
  writer.startSequence(SEQUENCE);
  writer.writeString(control.type);
  // DEFAULT FALSE is omitted, as DER and OpenLDAP's own client do.
  if (control.criticality) writer.writeBoolean(true);
  if (control.value !== undefined) {
    writer.writeBuffer(control.value, OCTET_STRING);
  }
  writer.endSequence();
}

/** Decodes the contents of `[0] Controls`. */
export function decodeControls(element: BerElement): Control[] {
  const list = new BerCursor(element.value, 'Controls');
  return list.rest('Control').map((each) => decodeControl(list, each));
}

function decodeControl(list: BerCursor, element: BerElement): Control {
  if (element.tag !== SEQUENCE) throw list.error('a Control is not a SEQUENCE');

  const fields = new BerCursor(element.value, 'Control');
  const type = decodeString(fields.next('controlType', OCTET_STRING));
  const critical = fields.nextIf('criticality', BOOLEAN);
  const value = fields.nextIf('controlValue', OCTET_STRING);

  const control: Control = {
    type,
    criticality: critical === undefined ? false : decodeBoolean(critical),
  };
  if (value !== undefined) control.value = value.value;
  return control;
}

/** The first control of `type` in a response, if any. */
export function findControl(
  controls: readonly Control[],
  type: string,
): Control | undefined {
  return controls.find((control) => control.type === type);
}
