import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import asn1 from '@ldapjs/asn1';

import { LdapConnection } from '../agent/protocol/connection.js';
import {
  ConnectError,
  ConnectionLostError,
  LdapResultError,
  NoticeOfDisconnectionError,
  ProtocolError,
  SearchListenerError,
} from '../agent/protocol/errors.js';
import type { SearchEvent } from '../agent/protocol/operations.js';
import { FakeServer } from './support/fake-ldap-server.js';

function message(
  messageId: number,
  write: (writer: asn1.BerWriter) => void,
): Buffer {
  const writer = new asn1.BerWriter();
  writer.startSequence(0x30);
  writer.writeInt(messageId);
  write(writer);
  writer.endSequence();
  return Buffer.from(writer.buffer);
}

function result(messageId: number, tag: number, code: number): Buffer {
  return message(messageId, (writer) => {
    writer.startSequence(tag);
    writer.writeEnumeration(code);
    writer.writeString('');
    writer.writeString(code === 0 ? '' : 'nope');
    writer.endSequence();
  });
}

function entry(messageId: number, dn: string): Buffer {
  return message(messageId, (writer) => {
    writer.startSequence(0x64);
    writer.writeString(dn);
    writer.startSequence(0x30);
    writer.endSequence();
    writer.endSequence();
  });
}

function noticeOfDisconnection(code: number): Buffer {
  return message(0, (writer) => {
    writer.startSequence(0x78);
    writer.writeEnumeration(code);
    writer.writeString('');
    writer.writeString('going away');
    writer.writeString('1.3.6.1.4.1.1466.20036', 0x8a);
    writer.endSequence();
  });
}

const BIND_REQUEST = 0x60;
const SEARCH_REQUEST = 0x63;
const ABANDON_REQUEST = 0x50;
const UNBIND_REQUEST = 0x42;

const search = {
  baseObject: 'ou=events,dc=example,dc=test',
  scope: 'singleLevel',
  filter: '(objectClass=*)',
} as const;

let server: FakeServer;
let connection: LdapConnection | undefined;

async function connect(
  onDebug?: (message: string, fields: Record<string, unknown>) => void,
): Promise<LdapConnection> {
  server = new FakeServer();
  const url = await server.listen();
  const options = { connectTimeoutMs: 2000, keepAliveMs: 60_000 };
  connection = await LdapConnection.connect(url, { ...options, onDebug });
  return connection;
}

function closed(ldap: LdapConnection): Promise<Error | undefined> {
  return new Promise((resolve) => ldap.once('close', resolve));
}

afterEach(async () => {
  await connection?.close();
  await server.close();
});

describe('LdapConnection', () => {
  it('rejects a refused bind with its code, not the password', async () => {
    const ldap = await connect();
    const bind = ldap.bind('cn=agent,dc=example,dc=test', 's3cret-pw');
    const request = await server.request(BIND_REQUEST);
    server.send(result(request.messageId, 0x61, 49));

    await assert.rejects(bind, (error: unknown) => {
      assert.ok(error instanceof LdapResultError);
      assert.equal(error.resultCode, 49);
      const expected =
        /^Cannot bind to ldap:\/\/127\.0\.0\.1:\d+ as cn=agent,dc=exa/;
      assert.match(error.message, expected);
      assert.match(error.message, /,dc=test: invalid credentials \(49\)/);
      assert.doesNotMatch(error.message + error.stack, /s3cret-pw/);
      return true;
    });
  });

  it('delivers search events in order and resolves done', async () => {
    const ldap = await connect();
    const events: SearchEvent[] = [];
    const handle = ldap.search(search, (event) => events.push(event));
    const request = await server.request(SEARCH_REQUEST);
    const id = request.messageId;
    server.send(entry(id, 'cn=a'), entry(id, 'cn=b'));
    server.send(result(id, 0x65, 4096));

    const done = await handle.done;
    assert.equal(done.resultCode, 4096);
    assert.deepEqual(
      events.map((event) => 'dn' in event && event.dn),
      ['cn=a', 'cn=b'],
    );
  });

  it('ignores and reports responses for unknown message IDs', async () => {
    const debug: Array<Record<string, unknown>> = [];
    const ldap = await connect((_message, fields) => debug.push(fields));
    const handle = ldap.search(search, () => {});
    const request = await server.request(SEARCH_REQUEST);
    server.send(entry(999, 'cn=stray'));
    server.send(result(request.messageId, 0x65, 0));

    await handle.done;
    assert.equal(ldap.isOpen, true);
    assert.equal(debug[0]?.messageId, 999);
  });

  it('closes on a Notice of Disconnection and names its code', async () => {
    const ldap = await connect();
    const reason = closed(ldap);
    const handle = ldap.search(search, () => {});
    await server.request(SEARCH_REQUEST);
    server.send(noticeOfDisconnection(52));

    const error = await reason;
    assert.ok(error instanceof NoticeOfDisconnectionError);
    assert.equal(error.resultCode, 52);
    assert.match(error.message, /unavailable \(52\).*going away/);
    await assert.rejects(handle.done, ConnectionLostError);
  });

  it('closes with a ProtocolError when a message does not decode', async () => {
    const ldap = await connect();
    const reason = closed(ldap);
    server.send(Buffer.from([0x30, 0x03, 0x02, 0x01]));
    server.send(Buffer.from([0x01, 0x30, 0x02, 0x04, 0x00]));

    assert.ok((await reason) instanceof ProtocolError);
    await assert.rejects(ldap.bind('cn=x', 'y'), ConnectionLostError);
  });

  it('emits close once and rejects outstanding operations', async () => {
    const ldap = await connect();
    let closes = 0;
    ldap.on('close', () => (closes += 1));
    const handle = ldap.search(search, () => {});
    await server.request(SEARCH_REQUEST);

    await ldap.close();
    await ldap.close();
    await server.request(UNBIND_REQUEST);
    await assert.rejects(handle.done, ConnectionLostError);
    assert.equal(closes, 1);
  });

  it('reports a connection the server drops', async () => {
    const ldap = await connect();
    const reason = closed(ldap);
    const bind = ldap.bind('cn=x', 'y');
    await server.request(BIND_REQUEST);
    server.dropClient();

    assert.ok((await reason) instanceof ConnectionLostError);
    await assert.rejects(bind, ConnectionLostError);
  });

  it('abandons a search whose listener throws', async () => {
    const ldap = await connect();
    const handle = ldap.search(search, () => {
      throw new Error('listener bug');
    });
    const request = await server.request(SEARCH_REQUEST);
    server.send(entry(request.messageId, 'cn=a'));

    await assert.rejects(handle.done, SearchListenerError);
    const abandon = await server.request(ABANDON_REQUEST);
    assert.ok(abandon.messageId > request.messageId);
  });

  it('fails to connect to a closed port with a ConnectError', async () => {
    server = new FakeServer();
    const url = await server.listen();
    await server.close();
    const options = { connectTimeoutMs: 2000, keepAliveMs: 60_000 };
    await assert.rejects(LdapConnection.connect(url, options), ConnectError);
  });
});
