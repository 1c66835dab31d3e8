/**
 * The event hash: 32 lowercase hex digits over the canonical form, so that
 * argument order does not matter and values compare byte for byte.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventHash, parseArguments } from '../agent/event.js';

const conduit = 'Prometheus::Conduits::RoleExpander';

describe('eventHash', () => {
  test('is 32 lowercase hexadecimal digits', () => {
    assert.match(eventHash({ conduit, arguments: {} }), /^[0-9a-f]{32}$/);
  });

  test('does not depend on the order of the arguments', () => {
    const a = parseArguments(['username=juser', 'role=staff']);
    const b = parseArguments(['role=staff', 'username=juser']);
    assert.equal(
      eventHash({ conduit, arguments: a }),
      eventHash({ conduit, arguments: b }),
    );
  });

  test('differs when the conduit, a name or a value differs', () => {
    const hashes = new Set([
      eventHash({ conduit, arguments: { username: 'juser' } }),
      eventHash({ conduit: `${conduit}2`, arguments: { username: 'juser' } }),
      eventHash({ conduit, arguments: { user: 'juser' } }),
      eventHash({ conduit, arguments: { username: 'Juser' } }),
      eventHash({ conduit, arguments: {} }),
    ]);
    assert.equal(hashes.size, 5);
  });

  test('compares values byte for byte as UTF-8, without normalising', () => {
    const composed = eventHash({
      conduit,
      arguments: { username: 'jos\u00e9' },
    });
    const decomposed = eventHash({
      conduit,
      arguments: { username: 'jose\u0301' },
    });
    assert.notEqual(composed, decomposed);
  });

  test('cannot be confused by separators inside names or values', () => {
    const one = eventHash({ conduit, arguments: { a: 'x", "b' } });
    const two = eventHash({ conduit, arguments: { a: 'x', b: '' } });
    assert.notEqual(one, two);
  });

  test('is stable across releases for a known request', () => {
    // Entries written by earlier versions must keep deduplicating.
    assert.equal(
      eventHash({ conduit, arguments: { username: 'juser' } }),
      '9255467a2119587474645b553e119ddb',
    );
  });
});

describe('parseArguments', () => {
  test('splits at the first "=", so values may contain "="', () => {
    assert.deepEqual(parseArguments(['filter=a=b']), { filter: 'a=b' });
  });

  test('refuses a pair without "=", a bad name and a repeated name', () => {
    assert.throws(() => parseArguments(['username']), /has no "="/);
    assert.throws(() => parseArguments(['=x']), /is not valid/);
    assert.throws(() => parseArguments(['1x=y']), /is not valid/);
    assert.throws(() => parseArguments(['a=1', 'a=2']), /given twice/);
  });
});
