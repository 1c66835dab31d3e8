/**
 * Before the queue has been read in full, the agent runs an event only if
 * the directory proves that no pending event precedes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LdapConfig } from '../agent/config.js';
import { Directory } from '../agent/directory.js';
import { EarlyStart, earlierQuery } from '../agent/early-start.js';
import {
  EVENT_ATTRIBUTES,
  readEntry,
  type QueuedEvent,
} from '../agent/entry.js';
import { createLogger } from '../agent/log.js';
import { Scheduler } from '../agent/scheduler.js';
import { Slapd } from '../scripts/slapd.js';

let slapd: Slapd;
let directory: Directory;
let queues = 0;

before(async () => {
  slapd = await Slapd.start();
  const config: LdapConfig = {
    url: slapd.url,
    bindDN: slapd.rootDN,
    passwordFile: slapd.rootPasswordFile,
    queueBase: slapd.suffix,
    connectTimeoutMs: 10_000,
    operationTimeoutMs: 30_000,
    startTLS: false,
    tls: { caFile: undefined, ca: undefined, verify: true },
    allowPlaintextPassword: true,
  };
  directory = await Directory.connect(config, slapd.rootPassword);
});

after(async () => {
  await directory.close();
  await slapd.stop();
});

/** A queue of `count` events added in order; returns them as read. */
async function queueOf(count: number) {
  const base = `ou=early-${++queues},${slapd.suffix}`;
  const entries = [`dn: ${base}\nobjectClass: organizationalUnit\n`];
  for (let seq = 0; seq < count; seq++) {
    entries.push(
      `dn: cn=ev-${seq},${base}\nobjectClass: prometheusEvent\n` +
        `eventConduit: Test::Conduit\neventArgument: seq=${seq}\n`,
    );
  }
  await slapd.ldapAdd(entries.join('\n'));
  const events: QueuedEvent[] = [];
  const options = {
    scope: 'one' as const,
    filter: '(objectClass=prometheusEvent)',
    attributes: EVENT_ATTRIBUTES,
  };
  await directory.search(base, options, (entry) => {
    const reading = readEntry(entry);
    if (reading.kind === 'event') events.push(reading.event);
  });
  events.sort((a, b) => a.dn.localeCompare(b.dn, 'en', { numeric: true }));
  return { base, events };
}

/** A scheduler whose runs delete their entry, as the agent's do. */
function setUp(base: string) {
  const ran: string[] = [];
  const scheduler = new Scheduler(
    async (event) => {
      ran.push(event.dn.split(',')[0] ?? '');
      await directory.delete(event.dn);
      return { outcome: { kind: 'done' }, coveredRemoved: true };
    },
    () => false,
  );
  const log = createLogger({ level: 'error', stdout: false });
  const early = new EarlyStart(scheduler, async () => directory, base, log);
  return { ran, scheduler, early };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
}

describe('Running before the queue is read', () => {
  test('events known in full run in creation order before start', async () => {
    const { base, events } = await queueOf(3);
    const { ran, scheduler, early } = setUp(base);
    for (const event of [...events].reverse()) scheduler.offer(event);
    early.consider();
    await settle();
    assert.deepEqual(ran, ['cn=ev-0', 'cn=ev-1', 'cn=ev-2']);
    assert.equal(scheduler.started, false);
  });

  test('nothing runs while an earlier event has not been received', async () => {
    const { base, events } = await queueOf(3);
    const { ran, scheduler, early } = setUp(base);
    scheduler.offer(events[2] as QueuedEvent);
    scheduler.offer(events[1] as QueuedEvent);
    early.consider();
    await settle();
    assert.deepEqual(ran, []);
    scheduler.offer(events[0] as QueuedEvent);
    early.consider();
    await settle();
    assert.deepEqual(ran, ['cn=ev-0', 'cn=ev-1', 'cn=ev-2']);
  });

  test('an earlier event that waits for a retry keeps later ones waiting', async () => {
    const { base, events } = await queueOf(2);
    const later = new Date(Date.now() + 3_600_000);
    const first = { ...(events[0] as QueuedEvent), notBefore: later };
    const { ran, scheduler, early } = setUp(base);
    scheduler.offer(first);
    scheduler.offer(events[1] as QueuedEvent);
    early.consider();
    await settle();
    assert.deepEqual(ran, []);
    await scheduler.stop();
  });

  test('the query for earlier events has the order of compareEvents', () => {
    const created = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const csn = '20260102030405.123456Z#000000#000#000000';
    const event = { created, csn } as QueuedEvent;
    assert.deepEqual(earlierQuery(event), {
      filter:
        '(&(objectClass=prometheusEvent)(|(createTimestamp<=20260102030404Z)' +
        `(&(createTimestamp=20260102030405Z)(entryCSN<=${csn})` +
        `(!(entryCSN=${csn})))))`,
      sizeLimit: 1,
    });
    const withoutCsn = { created, csn: undefined } as QueuedEvent;
    assert.equal(earlierQuery(withoutCsn)?.sizeLimit, 2);
    assert.equal(
      earlierQuery({ created: undefined } as QueuedEvent),
      undefined,
    );
  });
});
