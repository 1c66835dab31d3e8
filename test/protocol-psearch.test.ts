import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ProtocolError } from '../agent/protocol/errors.js';
import {
  decodeEntryChangeNotification,
  encodePersistentSearchValue,
  ENTRY_CHANGE_NOTIFICATION_OID,
  findEntryChangeNotification,
  PERSISTENT_SEARCH_OID,
  persistentSearchControl,
} from '../agent/protocol/psearch.js';
import type { SearchResultEntry } from '../agent/protocol/responses.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function entryWith(value?: Buffer): SearchResultEntry {
  return {
    protocolOp: 'SearchResultEntry',
    messageId: 2,
    dn: 'cn=e1,ou=Queue,dc=example,dc=test',
    attributes: [],
    controls: [
      {
        type: ENTRY_CHANGE_NOTIFICATION_OID,
        criticality: false,
        ...(value === undefined ? {} : { value }),
      },
    ],
  };
}

describe('Persistent Search control', () => {
  it('asks for every change type, initial entries and ECNs by default', () => {
    assert.deepEqual(
      encodePersistentSearchValue(),
      hex('3009 02010f 010100 0101ff'),
    );
  });

  it('encodes changesOnly TRUE and returnECs FALSE', () => {
    const value = encodePersistentSearchValue({
      changeTypes: 1 | 2,
      changesOnly: true,
      returnECs: false,
    });
    assert.deepEqual(value, hex('3009 020103 0101ff 010100'));
  });

  it('is a critical control with the draft OID', () => {
    const control = persistentSearchControl({ changesOnly: false });
    assert.equal(control.type, PERSISTENT_SEARCH_OID);
    assert.equal(control.type, '2.16.840.1.113730.3.4.3');
    assert.equal(control.criticality, true);
    assert.deepEqual(control.value, hex('3009 02010f 010100 0101ff'));
  });

  it('refuses a changeTypes mask outside 1 to 15', () => {
    assert.throws(() => encodePersistentSearchValue({ changeTypes: 0 }), {
      name: 'RangeError',
    });
    assert.throws(() => encodePersistentSearchValue({ changeTypes: 16 }), {
      name: 'RangeError',
    });
  });
});

describe('Entry Change Notification control', () => {
  it('reads each changeType sent as ENUMERATED, as 389-ds sends it', () => {
    const expected = { 1: 'add', 2: 'delete', 4: 'modify', 8: 'modDN' };
    for (const [code, name] of Object.entries(expected)) {
      const value = hex(`3003 0a010${code}`);
      assert.deepEqual(decodeEntryChangeNotification(value), {
        changeType: name,
      });
    }
  });

  it('reads a changeType sent as INTEGER', () => {
    assert.deepEqual(decodeEntryChangeNotification(hex('3003 020104')), {
      changeType: 'modify',
    });
  });

  it('reads previousDN and changeNumber', () => {
    const previous = Buffer.from('cn=old,dc=example,dc=test');
    const value = Buffer.concat([
      hex(`30${(previous.length + 9).toString(16)} 0a0108`),
      hex(`04${previous.length.toString(16)}`),
      previous,
      hex('0202 0101'),
    ]);
    assert.deepEqual(decodeEntryChangeNotification(value), {
      changeType: 'modDN',
      previousDN: 'cn=old,dc=example,dc=test',
      changeNumber: 257,
    });
  });

  it('reads a changeNumber without a previousDN', () => {
    assert.deepEqual(decodeEntryChangeNotification(hex('3006 0a0101 020107')), {
      changeType: 'add',
      changeNumber: 7,
    });
  });

  it('gives a ProtocolError for malformed values, never a TypeError', () => {
    const malformed = [
      '',
      '30',
      '3003 0a01',
      '0a0101',
      '3000',
      '3003 0a0103',
      '3003 0a0110',
      '3003 040101',
      '3002 0a00',
      '3005 0a0102 0405',
      '3009 0a0101 0207 01020304050607',
    ];
    for (const bytes of malformed) {
      assert.throws(
        () => decodeEntryChangeNotification(hex(bytes)),
        ProtocolError,
        `input ${bytes}`,
      );
    }
  });

  it('is found on a SearchResultEntry by its OID', () => {
    assert.deepEqual(
      findEntryChangeNotification(entryWith(hex('3003 0a0102'))),
      {
        changeType: 'delete',
      },
    );
    const plain: SearchResultEntry = { ...entryWith(), controls: [] };
    assert.equal(findEntryChangeNotification(plain), undefined);
  });

  it('gives a ProtocolError when the control has no value', () => {
    assert.throws(
      () => findEntryChangeNotification(entryWith()),
      ProtocolError,
    );
  });
});
