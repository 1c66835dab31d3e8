/**
 * Events run by creation time, then entryCSN, then DN.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compareEvents,
  parseGeneralizedTime,
  type QueuedEvent,
} from '../agent/entry.js';

function event(dn: string, created?: string, csn?: string): QueuedEvent {
  return {
    dn,
    id: dn,
    hash: '0'.repeat(32),
    conduit: 'C',
    arguments: {},
    created: parseGeneralizedTime(created),
    csn,
    creator: undefined,
    attempts: 0,
    notBefore: undefined,
    lastError: undefined,
    claimedBy: undefined,
    claimExpires: undefined,
    modified: undefined,
  };
}

describe('compareEvents', () => {
  test('orders by createTimestamp first', () => {
    const later = event(
      'cn=a',
      '20261203120001Z',
      '20261203120001.000000Z#000000#000#000000',
    );
    const earlier = event(
      'cn=b',
      '20261203120000Z',
      '20261203120000.999999Z#000000#000#000000',
    );
    assert.deepEqual([later, earlier].sort(compareEvents), [earlier, later]);
  });

  test('orders events of the same second by entryCSN, then DN', () => {
    const second = '20261203120000Z';
    const a = event('cn=z', second, '20261203120000.000001Z#000000#000#000000');
    const b = event('cn=y', second, '20261203120000.000001Z#000001#000#000000');
    const c = event('cn=x', second, '20261203120000.000500Z#000000#000#000000');
    const d = event('cn=a', second);
    const e = event('cn=b', second);
    assert.deepEqual([c, e, b, a, d].sort(compareEvents), [d, e, a, b, c]);
  });

  test('reads GeneralizedTime in UTC, with or without a fraction', () => {
    assert.equal(
      parseGeneralizedTime('20261203164822Z')?.toISOString(),
      '2026-12-03T16:48:22.000Z',
    );
    assert.equal(
      parseGeneralizedTime('20261203164822.25Z')?.toISOString(),
      '2026-12-03T16:48:22.250Z',
    );
    assert.equal(parseGeneralizedTime('garbage'), undefined);
  });
});
