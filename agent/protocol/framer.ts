/**
 * Splits the byte stream from the server into whole LDAPMessages. TCP may
 * deliver a message in many chunks or several messages in one chunk; the
 * framer reads only the outer SEQUENCE header (tag 0x30 and its definite
 * length) and hands each complete message on as its own Buffer.
 */

import { ProtocolError } from './errors.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const SEQUENCE_TAG = 0x30;

/** Tag byte, the length byte, and at most 8 more length bytes. */
const MAX_HEADER_BYTES = 10;

export interface FramerOptions {
  /**
   * Largest accepted LDAPMessage, header included. A larger one is refused
   * before its bytes are buffered.
   * @default 16 MiB
   */
  maxMessageBytes?: number;
}

interface Header {
  headerBytes: number;
  contentBytes: number;
}

export class LdapMessageFramer {
  readonly #maxMessageBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: Header | undefined;

  constructor(options: FramerOptions = {}) {
    this.#maxMessageBytes =
      options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes received that do not yet form a whole message. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and returns the messages it completes, in order. Throws a
   * ProtocolError when the stream cannot be an LDAPMessage; the stream is
   * then unusable and the connection must be closed.
   */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;

    const messages: Buffer[] = [];
    for (;;) {
      const message = this.#takeMessage();
      if (message === undefined) return messages;
      messages.push(message);
    }
  }

  #takeMessage(): Buffer | undefined {
    this.#header ??= this.#readHeader();
    if (this.#header === undefined) return undefined;

    const total = this.#header.headerBytes + this.#header.contentBytes;
    if (this.#buffered < total) return undefined;

    const all = this.#joined();
    // Copy, so a kept message does not pin the rest of a large chunk.
    const message = Buffer.from(all.subarray(0, total));
    this.#chunks = all.length > total ? [all.subarray(total)] : [];
    this.#buffered -= total;
    this.#header = undefined;
    return message;
  }

  #readHeader(): Header | undefined {
    if (this.#buffered < 2) return undefined;
    const head = this.#peek(MAX_HEADER_BYTES);
    const tag = head[0] ?? 0;
    if (tag !== SEQUENCE_TAG) {
      throw new ProtocolError(
        `Received a message starting with byte 0x${hex(tag)} instead of ` +
          'an LDAPMessage SEQUENCE (0x30). Check that the URL points to ' +
          'an LDAP server and that ldap:// or ldaps:// matches its port.',
      );
    }
    return this.#readLength(head);
  }

  #readLength(head: Buffer): Header | undefined {
    const first = head[1] ?? 0;
    if (first < 0x80)
      return this.#checked({ headerBytes: 2, contentBytes: first });

    const lengthBytes = first & 0x7f;
    if (lengthBytes === 0) {
      throw new ProtocolError(
        'Received an LDAPMessage with an indefinite length, which ' +
          'RFC 4511 section 5.1 forbids. The server is not LDAPv3 compliant.',
      );
    }
    if (lengthBytes > MAX_HEADER_BYTES - 2) {
      throw this.#tooLarge(`a ${lengthBytes}-byte length`);
    }
    if (head.length < 2 + lengthBytes) return undefined;

    let contentBytes = 0;
    for (const byte of head.subarray(2, 2 + lengthBytes)) {
      contentBytes = contentBytes * 256 + byte;
    }
    return this.#checked({ headerBytes: 2 + lengthBytes, contentBytes });
  }

  #checked(header: Header): Header {
    const total = header.headerBytes + header.contentBytes;
    if (total > this.#maxMessageBytes) throw this.#tooLarge(`${total} bytes`);
    return header;
  }

  #tooLarge(size: string): ProtocolError {
    return new ProtocolError(
      `Received an LDAPMessage of ${size}, more than the limit of ` +
        `${this.#maxMessageBytes} bytes. Raise the maximum message size ` +
        'or make the entries smaller.',
    );
  }

  /** The first `count` buffered bytes (or fewer), joining chunks if needed. */
  #peek(count: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= count) return first;
    return this.#joined().subarray(0, count);
  }

  #joined(): Buffer {
    if (this.#chunks.length > 1) {
      this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
    }
    return this.#chunks[0] ?? Buffer.alloc(0);
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
