import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import asn1 from '@ldapjs/asn1';

import { ProtocolError } from '../agent/protocol/errors.js';
import type { IntermediateResponse } from '../agent/protocol/responses.js';
import {
  decodeSyncDoneValue,
  decodeSyncInfoMessage,
  decodeSyncInfoValue,
  decodeSyncStateValue,
  encodeSyncRequestValue,
  formatUUID,
  SYNC_INFO_OID,
  SYNC_REQUEST_OID,
  syncRequestControl,
} from '../agent/protocol/sync.js';

const COOKIE = Buffer.from([0x72, 0x69, 0x64, 0xff, 0xfe, 0xc3, 0x28, 0x00]);
const UUID = Buffer.from('07762d1a838510418427a5726f26be68', 'hex');
const OTHER_UUID = Buffer.alloc(16, 0xab);

function ber(write: (writer: asn1.BerWriter) => void): Buffer {
  const writer = new asn1.BerWriter();
  write(writer);
  return Buffer.from(writer.buffer);
}

function intermediate(value: Buffer): IntermediateResponse {
  return {
    protocolOp: 'IntermediateResponse',
    messageId: 2,
    controls: [],
    responseName: SYNC_INFO_OID,
    responseValue: value,
  };
}

describe('Sync Request control', () => {
  it('encodes refreshAndPersist without a cookie', () => {
    const value = encodeSyncRequestValue({ mode: 'refreshAndPersist' });
    assert.equal(value.toString('hex'), '30030a0103');
  });

  it('encodes refreshOnly with a cookie of arbitrary bytes', () => {
    const value = encodeSyncRequestValue({
      mode: 'refreshOnly',
      cookie: COOKIE,
      reloadHint: true,
    });
    const expected = Buffer.concat([
      Buffer.from('30100a0101' + '0408', 'hex'),
      COOKIE,
      Buffer.from('0101ff', 'hex'),
    ]);
    assert.deepEqual(value, expected);
  });

  it('is a critical control with the RFC 4533 OID', () => {
    const control = syncRequestControl({ mode: 'refreshAndPersist' });
    assert.equal(control.type, SYNC_REQUEST_OID);
    assert.equal(control.criticality, true);
  });
});

describe('Sync State control', () => {
  it('decodes state, entryUUID and cookie', () => {
    const value = ber((writer) => {
      writer.startSequence(0x30);
      writer.writeEnumeration(3);
      writer.writeBuffer(UUID, 0x04);
      writer.writeBuffer(COOKIE, 0x04);
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncStateValue(value), {
      state: 'delete',
      entryUUID: UUID,
      entryUUIDString: '07762d1a-8385-1041-8427-a5726f26be68',
      cookie: COOKIE,
    });
  });

  it('decodes the value OpenLDAP sends during a refresh', () => {
    const value = Buffer.from('MBUKAQEEEAd2LRqDhRBBhCelcm8mvmg=', 'base64');
    const state = decodeSyncStateValue(value);
    assert.equal(state.state, 'add');
    assert.equal(state.entryUUIDString, formatUUID(UUID));
    assert.equal(state.cookie, undefined);
  });

  it('refuses an unknown state and a short UUID', () => {
    const badState = ber((writer) => {
      writer.startSequence(0x30);
      writer.writeEnumeration(7);
      writer.writeBuffer(UUID, 0x04);
      writer.endSequence();
    });
    const shortUUID = ber((writer) => {
      writer.startSequence(0x30);
      writer.writeEnumeration(1);
      writer.writeBuffer(UUID.subarray(0, 15), 0x04);
      writer.endSequence();
    });
    assert.throws(() => decodeSyncStateValue(badState), ProtocolError);
    assert.throws(() => decodeSyncStateValue(shortUUID), ProtocolError);
  });
});

describe('Sync Done control', () => {
  it('defaults refreshDeletes to false', () => {
    assert.deepEqual(decodeSyncDoneValue(Buffer.from('3000', 'hex')), {
      refreshDeletes: false,
    });
  });

  it('decodes a cookie and refreshDeletes', () => {
    const value = ber((writer) => {
      writer.startSequence(0x30);
      writer.writeBuffer(COOKIE, 0x04);
      writer.writeBoolean(true);
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncDoneValue(value), {
      cookie: COOKIE,
      refreshDeletes: true,
    });
  });
});

describe('Sync Info message', () => {
  it('returns a newcookie whose invalid UTF-8 bytes are exact', () => {
    const value = ber((writer) => writer.writeBuffer(COOKIE, 0x80));
    const message = decodeSyncInfoMessage(intermediate(value));
    assert.deepEqual(message, { kind: 'newcookie', cookie: COOKIE });
  });

  it('defaults refreshDone to true in refreshDelete', () => {
    const value = ber((writer) => {
      writer.startSequence(0xa1);
      writer.writeBuffer(COOKIE, 0x04);
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncInfoValue(value), {
      kind: 'refreshDelete',
      cookie: COOKIE,
      refreshDone: true,
    });
  });

  it('decodes refreshPresent with refreshDone false and no cookie', () => {
    const value = ber((writer) => {
      writer.startSequence(0xa2);
      writer.writeBoolean(false);
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncInfoValue(value), {
      kind: 'refreshPresent',
      refreshDone: false,
    });
  });

  it('decodes syncIdSet with its UUIDs and refreshDeletes', () => {
    const value = ber((writer) => {
      writer.startSequence(0xa3);
      writer.writeBuffer(COOKIE, 0x04);
      writer.writeBoolean(true);
      writer.startSequence(0x31);
      writer.writeBuffer(UUID, 0x04);
      writer.writeBuffer(OTHER_UUID, 0x04);
      writer.endSequence();
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncInfoValue(value), {
      kind: 'syncIdSet',
      cookie: COOKIE,
      refreshDeletes: true,
      syncUUIDs: [UUID, OTHER_UUID],
    });
  });

  it('defaults refreshDeletes to false in syncIdSet', () => {
    const value = ber((writer) => {
      writer.startSequence(0xa3);
      writer.startSequence(0x31);
      writer.endSequence();
      writer.endSequence();
    });
    assert.deepEqual(decodeSyncInfoValue(value), {
      kind: 'syncIdSet',
      refreshDeletes: false,
      syncUUIDs: [],
    });
  });

  it('ignores an IntermediateResponse with another name', () => {
    const response = { ...intermediate(Buffer.alloc(0)), responseName: '1.2' };
    assert.equal(decodeSyncInfoMessage(response), undefined);
  });

  it('refuses an unknown choice', () => {
    const value = ber((writer) => writer.writeBuffer(COOKIE, 0x84));
    assert.throws(() => decodeSyncInfoValue(value), ProtocolError);
  });
});
