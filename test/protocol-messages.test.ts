import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import asn1 from '@ldapjs/asn1';

import { decodeControls, type Control } from '../agent/protocol/controls.js';
import { FilterError, ProtocolError } from '../agent/protocol/errors.js';
import {
  encodeAbandonRequest,
  encodeBindRequest,
  encodeSearchRequest,
  encodeUnbindRequest,
} from '../agent/protocol/requests.js';
import {
  decodeLdapMessage,
  NOTICE_OF_DISCONNECTION_OID,
} from '../agent/protocol/responses.js';

/** Builds a server response as OpenLDAP would encode it. */
function response(
  messageId: number,
  writeOp: (writer: asn1.BerWriter) => void,
  controls: Control[] = [],
): Buffer {
  const writer = new asn1.BerWriter();
  writer.startSequence(0x30);
  writer.writeInt(messageId);
  writeOp(writer);
  if (controls.length > 0) {
    writer.startSequence(0xa0);
    for (const control of controls) {
      writer.startSequence(0x30);
      writer.writeString(control.type);
      if (control.criticality) writer.writeBoolean(true);
      if (control.value) writer.writeBuffer(control.value, 0x04);
      writer.endSequence();
    }
    writer.endSequence();
  }
  writer.endSequence();
  return Buffer.from(writer.buffer);
}

function ldapResult(tag: number, code: number, diagnostic = '') {
  return (writer: asn1.BerWriter) => {
    writer.startSequence(tag);
    writer.writeEnumeration(code);
    writer.writeString('');
    writer.writeString(diagnostic);
    writer.endSequence();
  };
}

const INVALID_UTF8 = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);

describe('request encoders', () => {
  it('encode a simple BindRequest as LDAPv3', () => {
    const bytes = encodeBindRequest(1, 'cn=a', 'pw');
    assert.equal(
      bytes.toString('hex'),
      '3012020101600d020103' + '0404636e3d61' + '80027077',
    );
  });

  it('encode a SearchRequest with no limits as zeros', () => {
    const bytes = encodeSearchRequest(2, {
      baseObject: 'ou=e',
      scope: 'singleLevel',
      filter: '(objectClass=*)',
      attributes: ['cn', '*'],
    });
    const expected =
      '3030020102' +
      '632b' +
      '04046f753d65' + // baseObject
      '0a0101' + // scope singleLevel
      '0a0100' + // derefAliases neverDerefAliases
      '020100' + // sizeLimit 0
      '020100' + // timeLimit 0
      '010100' + // typesOnly FALSE
      '870b6f626a656374436c617373' + // (objectClass=*)
      '30070402636e04012a'; // attributes
    assert.equal(bytes.toString('hex'), expected);
  });

  it('encode request controls with their value bytes unchanged', () => {
    const control = { type: '1.2.3.4', criticality: true, value: INVALID_UTF8 };
    const bytes = encodeSearchRequest(3, {
      baseObject: '',
      scope: 'baseObject',
      filter: '(cn=x)',
      controls: [control, { type: '1.2.3.5', criticality: false }],
    });
    const start = bytes.indexOf(Buffer.from([0xa0]), bytes.length - 40);
    const reader = new asn1.BerReader(bytes.subarray(start));
    const value = reader.readTag(0xa0);
    assert.ok(value);
    assert.deepEqual(decodeControls({ tag: 0xa0, value }), [
      control,
      { type: '1.2.3.5', criticality: false },
    ]);
  });

  it('refuse a malformed filter with a FilterError', () => {
    assert.throws(
      () =>
        encodeSearchRequest(4, {
          baseObject: '',
          scope: 'baseObject',
          filter: '(cn=x',
        }),
      FilterError,
    );
  });

  it('refuse a filter with escapes that @ldapjs/filter would mangle', () => {
    assert.throws(
      () =>
        encodeSearchRequest(4, {
          baseObject: '',
          scope: 'baseObject',
          filter: '(cn=a\\2ab)',
        }),
      (error: unknown) =>
        error instanceof FilterError && error.code === 'LDAP_FILTER_INVALID',
    );
  });

  it('encode AbandonRequest and UnbindRequest', () => {
    assert.equal(
      encodeAbandonRequest(5, 2).toString('hex'),
      '3006020105500102',
    );
    assert.equal(encodeUnbindRequest(6).toString('hex'), '30050201064200');
  });
});

describe('decodeLdapMessage', () => {
  it('decodes a BindResponse with its result code', () => {
    const decoded = decodeLdapMessage(response(1, ldapResult(0x61, 49, 'bad')));
    assert.deepEqual(decoded, {
      messageId: 1,
      controls: [],
      protocolOp: 'BindResponse',
      resultCode: 49,
      matchedDN: '',
      diagnosticMessage: 'bad',
    });
  });

  it('accepts result codes that have no name', () => {
    for (const code of [122, 4096, 70000]) {
      const decoded = decodeLdapMessage(response(2, ldapResult(0x65, code)));
      assert.equal(decoded.protocolOp, 'SearchResultDone');
      assert.equal('resultCode' in decoded && decoded.resultCode, code);
    }
  });

  it('keeps attribute values as exact bytes', () => {
    const message = response(3, (writer) => {
      writer.startSequence(0x64);
      writer.writeString('cn=é,ou=e');
      writer.startSequence(0x30);
      writer.startSequence(0x30);
      writer.writeString('jpegPhoto');
      writer.startSequence(0x31);
      writer.writeBuffer(INVALID_UTF8, 0x04);
      writer.writeBuffer(Buffer.from('ü', 'utf8'), 0x04);
      writer.endSequence();
      writer.endSequence();
      writer.endSequence();
      writer.endSequence();
    });
    const decoded = decodeLdapMessage(message);
    assert.equal(decoded.protocolOp, 'SearchResultEntry');
    assert.equal(decoded.dn, 'cn=é,ou=e');
    assert.deepEqual(decoded.attributes, [
      { type: 'jpegPhoto', values: [INVALID_UTF8, Buffer.from('ü')] },
    ]);
  });

  it('decodes response controls with raw values', () => {
    const controls = [
      { type: '1.3.6.1.4.1.4203.1.9.1.3', criticality: false },
      { type: '1.2.3', criticality: true, value: INVALID_UTF8 },
    ];
    const decoded = decodeLdapMessage(
      response(4, ldapResult(0x65, 0), controls),
    );
    assert.deepEqual(decoded.controls, controls);
  });

  it('keeps an IntermediateResponse value as bytes', () => {
    const message = response(5, (writer) => {
      writer.startSequence(0x79);
      writer.writeString('1.3.6.1.4.1.4203.1.9.1.4', 0x80);
      writer.writeBuffer(INVALID_UTF8, 0x81);
      writer.endSequence();
    });
    assert.deepEqual(decodeLdapMessage(message), {
      messageId: 5,
      controls: [],
      protocolOp: 'IntermediateResponse',
      responseName: '1.3.6.1.4.1.4203.1.9.1.4',
      responseValue: INVALID_UTF8,
    });
  });

  it('decodes a Notice of Disconnection', () => {
    const message = response(0, (writer) => {
      writer.startSequence(0x78);
      writer.writeEnumeration(52);
      writer.writeString('');
      writer.writeString('shutting down');
      writer.writeString(NOTICE_OF_DISCONNECTION_OID, 0x8a);
      writer.endSequence();
    });
    const decoded = decodeLdapMessage(message);
    assert.equal(decoded.protocolOp, 'ExtendedResponse');
    assert.equal(decoded.messageId, 0);
    assert.equal(decoded.resultCode, 52);
    assert.equal(decoded.responseName, NOTICE_OF_DISCONNECTION_OID);
    assert.equal(decoded.responseValue, undefined);
  });

  it('decodes SearchResultReference URIs', () => {
    const message = response(6, (writer) => {
      writer.startSequence(0x73);
      writer.writeString('ldap://other/ou=e');
      writer.endSequence();
    });
    const decoded = decodeLdapMessage(message);
    assert.equal(decoded.protocolOp, 'SearchResultReference');
    assert.deepEqual(decoded.uris, ['ldap://other/ou=e']);
  });

  it('returns other protocolOps as unknown with their bytes', () => {
    const decoded = decodeLdapMessage(response(7, ldapResult(0x69, 0)));
    assert.equal(decoded.protocolOp, 'unknown');
    assert.equal(decoded.tag, 0x69);
  });

  it('throws a ProtocolError, not a TypeError, on truncated input', () => {
    const whole = response(8, ldapResult(0x65, 0, 'some text'));
    for (let end = 1; end < whole.length; end += 1) {
      const cut = Buffer.from(whole.subarray(0, end));
      cut[1] = Math.max(0, end - 2);
      assert.throws(() => decodeLdapMessage(cut), ProtocolError);
    }
  });
});
