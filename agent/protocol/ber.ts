/**
 * A cursor over BER elements (tag, length, value) on top of @ldapjs/asn1's
 * BerReader. Decoders walk an ASN.1 SEQUENCE with it, taking OPTIONAL and
 * DEFAULT fields only when their tag is next. Every malformed input becomes
 * a ProtocolError naming the field being read, never a TypeError.
 */

import asn1 from '@ldapjs/asn1';

import { ProtocolError } from './errors.js';

export interface BerElement {
  tag: number;
  /** The value bytes, a view into the message buffer. */
  value: Buffer;
}

export class BerCursor {
  readonly #reader: asn1.BerReader;

  /** @param what names the enclosing structure in error messages. */
  constructor(
    contents: Buffer,
    private readonly what: string,
  ) {
    this.#reader = new asn1.BerReader(contents);
  }

  get done(): boolean {
    return this.#reader.remain === 0;
  }

  peekTag(): number | undefined {
    return this.#reader.peek() ?? undefined;
  }

  /** The next element, which must exist (and have `tag`, if given). */
  next(field: string, tag?: number): BerElement {
    const element = this.#read(field);
    if (tag !== undefined && element.tag !== tag) {
      throw this.error(
        `${field} has tag ${hex(element.tag)}, expected ${hex(tag)}`,
      );
    }
    return element;
  }

  /** The next element if it has `tag`; for OPTIONAL and DEFAULT fields. */
  nextIf(field: string, tag: number): BerElement | undefined {
    if (this.peekTag() !== tag) return undefined;
    return this.#read(field);
  }

  /** Every remaining element, e.g. the members of a SEQUENCE OF. */
  rest(field: string): BerElement[] {
    const elements: BerElement[] = [];
    while (!this.done) elements.push(this.#read(field));
    return elements;
  }

  error(problem: string, cause?: unknown): ProtocolError {
    return new ProtocolError(
      `Malformed ${this.what} from the server: ${problem}. ` +
        'The server or something between it and this agent is not ' +
        'speaking LDAPv3; check the URL and port.',
      cause === undefined ? undefined : { cause },
    );
  }

  #read(field: string): BerElement {
    const tag = this.#reader.peek();
    if (tag === null) throw this.error(`${field} is missing`);
    // LDAP uses only low tag numbers; BerReader cannot read the high form.
    if ((tag & 0x1f) === 0x1f) throw this.error(`${field} has a long tag`);

    const value = this.#readValue(field, tag);
    this.#reader.setOffset(this.#reader.offset + value.length);
    return { tag, value };
  }

  #readValue(field: string, tag: number): Buffer {
    let value: Buffer | null;
    try {
      value = this.#reader.readTag(tag);
    } catch (cause) {
      throw this.error(`${field} has an unreadable length`, cause);
    }
    if (value === null) throw this.error(`${field} is truncated`);
    return value;
  }
}

/**
 * Decodes an INTEGER or ENUMERATED value of up to 6 bytes, so that any
 * result code or message ID is accepted as a plain number.
 */
export function decodeInteger(element: BerElement, field: string): number {
  const bytes = element.value;
  const first = bytes[0];
  if (first === undefined || bytes.length > 6) {
    throw new ProtocolError(
      `Malformed integer ${field} from the server: ${bytes.length} bytes.`,
    );
  }
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  // Two's complement: a set top bit means negative.
  return first & 0x80 ? value - 2 ** (bytes.length * 8) : value;
}

export function decodeBoolean(element: BerElement): boolean {
  return element.value.some((byte) => byte !== 0);
}

export function decodeString(element: BerElement): string {
  return element.value.toString('utf8');
}

export function hex(tag: number): string {
  return `0x${tag.toString(16).padStart(2, '0')}`;
}
