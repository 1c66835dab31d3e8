import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ProtocolError } from '../agent/protocol/errors.js';
import { LdapMessageFramer } from '../agent/protocol/framer.js';

/** A SEQUENCE of `contentBytes` bytes, with the shortest length form. */
function sequence(contentBytes: number, fill = 0x04): Buffer {
  const content = Buffer.alloc(contentBytes, fill);
  return Buffer.concat([Buffer.from([0x30]), length(contentBytes), content]);
}

function length(value: number): Buffer {
  if (value < 0x80) return Buffer.from([value]);
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) {
    bytes.unshift(rest % 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

describe('LdapMessageFramer', () => {
  it('yields a message split at every byte boundary', () => {
    const message = sequence(200);
    for (let split = 1; split < message.length; split += 1) {
      const framer = new LdapMessageFramer();
      assert.deepEqual(framer.push(message.subarray(0, split)), []);
      assert.deepEqual(framer.push(message.subarray(split)), [message]);
      assert.equal(framer.bufferedBytes, 0);
    }
  });

  it('yields a message delivered one byte at a time', () => {
    const message = sequence(300);
    const framer = new LdapMessageFramer();
    const received: Buffer[] = [];
    for (const byte of message) received.push(...framer.push(Buffer.of(byte)));
    assert.deepEqual(received, [message]);
  });

  it('yields two messages that arrive in one chunk', () => {
    const first = sequence(5, 0x01);
    const second = sequence(130, 0x02);
    const framer = new LdapMessageFramer();
    assert.deepEqual(framer.push(Buffer.concat([first, second])), [
      first,
      second,
    ]);
  });

  it('keeps the start of the next message for the next chunk', () => {
    const first = sequence(3);
    const second = sequence(4);
    const both = Buffer.concat([first, second]);
    const framer = new LdapMessageFramer();
    assert.deepEqual(framer.push(both.subarray(0, 7)), [first]);
    assert.deepEqual(framer.push(both.subarray(7)), [second]);
  });

  it('reads long-form lengths of one, two and three bytes', () => {
    for (const contentBytes of [0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000]) {
      const message = sequence(contentBytes);
      const framer = new LdapMessageFramer();
      const [received] = framer.push(message);
      assert.equal(received?.length, message.length);
    }
  });

  it('reads a long-form length with leading zero bytes', () => {
    const message = Buffer.from([0x30, 0x84, 0, 0, 0, 2, 0x05, 0x00]);
    assert.deepEqual(new LdapMessageFramer().push(message), [message]);
  });

  it('refuses an indefinite length', () => {
    const framer = new LdapMessageFramer();
    assert.throws(
      () => framer.push(Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01])),
      (error: unknown) =>
        error instanceof ProtocolError && /indefinite/.test(error.message),
    );
  });

  it('refuses a message above the maximum before buffering it', () => {
    const framer = new LdapMessageFramer({ maxMessageBytes: 1000 });
    const header = Buffer.from([0x30, 0x82, 0x10, 0x00]);
    assert.throws(
      () => framer.push(header),
      (error: unknown) =>
        error instanceof ProtocolError &&
        error.code === 'LDAP_PROTOCOL_ERROR' &&
        /4100 bytes, more than the limit of 1000/.test(error.message),
    );
  });

  it('accepts a message of exactly the maximum size', () => {
    const message = sequence(996);
    const framer = new LdapMessageFramer({ maxMessageBytes: 1000 });
    assert.deepEqual(framer.push(message), [message]);
  });

  it('refuses a stream that does not start with a SEQUENCE', () => {
    const framer = new LdapMessageFramer();
    assert.throws(
      () => framer.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n')),
      /byte 0x48 instead of an LDAPMessage SEQUENCE/,
    );
  });
});
