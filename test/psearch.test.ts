/**
 * The Persistent Search watch against a real 389 Directory Server: it
 * reads the queue, says when it has, reports adds, renames and deletes as
 * they happen, survives a server restart, and leaves nothing open.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test, type TestContext } from 'node:test';
import winston from 'winston';
import { parseConfig, type Config } from '../agent/config.js';
import type { DirectoryEntry } from '../agent/entry.js';
import { PersistentSearchWatch } from '../agent/watch/psearch.js';
import type { WatchListener } from '../agent/watch/watch.js';
import { Dirsrv } from '../scripts/dirsrv.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  waitFor,
} from './support/queue-fixture.js';

let dirsrv: Dirsrv;
before(async () => (dirsrv = await Dirsrv.start()), { timeout: 120_000 });
after(() => dirsrv?.stop());

/** Every call the watch made, in order. */
type Call =
  | { kind: 'entry'; dn: string; id: string; at: number }
  | { kind: 'deleted'; id: string; at: number }
  | { kind: 'synchronized'; complete: boolean; at: number };

class RecordingListener implements WatchListener {
  readonly calls: Call[] = [];

  entry(entry: DirectoryEntry): void {
    this.calls.push({
      kind: 'entry',
      dn: entry.dn,
      id: identity(entry),
      at: Date.now(),
    });
  }

  deleted(id: string): void {
    this.calls.push({ kind: 'deleted', id, at: Date.now() });
  }

  synchronized(complete: boolean): void {
    this.calls.push({ kind: 'synchronized', complete, at: Date.now() });
  }

  /** Waits for a call that `match` accepts, made after call `from`. */
  waitFor(match: (call: Call) => boolean, from = 0): Promise<Call> {
    return waitFor(async () => this.calls.slice(from).find(match), 10_000);
  }
}

/** entryUUID, which 389-ds 2.3 gives every new entry (its plugin is on). */
function identity(entry: DirectoryEntry): string {
  const uuid = entry.attributes.get('entryuuid')?.[0]?.toString('utf8');
  return (uuid ?? '').toLowerCase();
}

/** Log lines the watch wrote, as winston info objects. */
function recordingLogger(): { log: winston.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

interface LogLine {
  level: string;
  message: string;
}

/** A real configuration for a watch on this test's queue. */
function watchConfig(queue: QueueFixture): Config {
  const yaml = [
    'ldap:',
    `  url: ${dirsrv.url}`,
    `  bindDN: ${dirsrv.rootDN}`,
    `  passwordFile: ${dirsrv.rootPasswordFile}`,
    `  queueBase: ${queue.base}`,
    '  connectTimeout: 5s',
    'conduits: {}',
  ].join('\n');
  return parseConfig(yaml, 'psearch.test');
}

function eventLdif(queue: QueueFixture, name: string): string {
  return [
    `dn: cn=${name},${queue.base}`,
    'objectClass: prometheusEvent',
    `cn: ${name}`,
    'eventConduit: Prometheus::Conduits::RoleExpander',
    `eventArgument: username=${name}`,
    '',
  ].join('\n');
}

async function newQueue(t: TestContext): Promise<QueueFixture> {
  // QueueFixture uses only what Dirsrv shares with Slapd.
  return QueueFixture.create(dirsrv, t);
}

function startWatch(t: TestContext, queue: QueueFixture) {
  const listener = new RecordingListener();
  const { log, lines } = recordingLogger();
  const watch = new PersistentSearchWatch(
    watchConfig(queue),
    dirsrv.rootPassword,
    listener,
    log,
  );
  watch.start();
  t.after(() => watch.stop());
  return { watch, listener, lines };
}

const isSynchronized = (call: Call) => call.kind === 'synchronized';

describe('PersistentSearchWatch on 389 Directory Server', () => {
  test('tells of the entries already queued, then that it is synchronized', async (t) => {
    const queue = await newQueue(t);
    for (const name of ['e1', 'e2', 'e3']) {
      await dirsrv.ldapAdd(eventLdif(queue, name));
    }
    const { listener } = startWatch(t, queue);

    const synced = await listener.waitFor(isSynchronized);
    const told = listener.calls.slice(0, listener.calls.indexOf(synced));
    const dns = new Set(
      told.flatMap((call) => (call.kind === 'entry' ? [call.dn] : [])),
    );
    assert.deepEqual(
      [...dns].sort(),
      ['e1', 'e2', 'e3'].map((name) => `cn=${name},${queue.base}`),
    );
    assert.ok(synced.kind === 'synchronized' && synced.complete);
  });

  test('an entry added later arrives within one second', async (t) => {
    const queue = await newQueue(t);
    const { listener } = startWatch(t, queue);
    await listener.waitFor(isSynchronized);

    const from = listener.calls.length;
    const addedAt = Date.now();
    await dirsrv.ldapAdd(eventLdif(queue, 'later'));
    const call = await listener.waitFor(
      (each) => each.kind === 'entry' && each.dn.startsWith('cn=later,'),
      from,
    );
    const latency = call.at - addedAt;
    t.diagnostic(`add to entry(): ${latency} ms`);
    assert.ok(latency < 1000, `arrived ${latency} ms after the add`);
  });

  test('a delete arrives as deleted() with the identity the entry had', async (t) => {
    const queue = await newQueue(t);
    await dirsrv.ldapAdd(eventLdif(queue, 'doomed'));
    const { listener } = startWatch(t, queue);
    const seen = await listener.waitFor((each) => each.kind === 'entry');
    await listener.waitFor(isSynchronized);
    assert.ok(seen.kind === 'entry' && /^[0-9a-f-]{36}$/.test(seen.id));

    // 389 may register the persistent search a moment after it answers the
    // ordinary search behind it; an add seen proves it is registered.
    await dirsrv.ldapAdd(eventLdif(queue, 'probe'));
    await listener.waitFor(
      (each) => each.kind === 'entry' && each.dn.startsWith('cn=probe'),
    );

    const from = listener.calls.length;
    await dirsrv.ldapDelete(`cn=doomed,${queue.base}`);
    const deleted = await listener.waitFor(
      (each) => each.kind === 'deleted',
      from,
    );
    assert.equal(deleted.kind === 'deleted' && deleted.id, seen.id);
  });

  test('a rename arrives as entry() with the new DN and the same identity', async (t) => {
    const queue = await newQueue(t);
    await dirsrv.ldapAdd(eventLdif(queue, 'old'));
    const { listener } = startWatch(t, queue);
    const seen = await listener.waitFor((each) => each.kind === 'entry');
    await listener.waitFor(isSynchronized);

    const from = listener.calls.length;
    await dirsrv.ldapModify(
      `dn: cn=old,${queue.base}\nchangetype: modrdn\n` +
        'newrdn: cn=new\ndeleteoldrdn: 1\n',
    );
    const renamed = await listener.waitFor(
      (each) => each.kind === 'entry',
      from,
    );
    assert.ok(renamed.kind === 'entry' && seen.kind === 'entry');
    assert.equal(renamed.dn, `cn=new,${queue.base}`);
    assert.equal(renamed.id, seen.id);
  });

  test('reconnects after a server restart and sees later adds', async (t) => {
    const queue = await newQueue(t);
    const { watch, listener, lines } = startWatch(t, queue);
    await listener.waitFor(isSynchronized);

    const restartedAt = Date.now();
    await dirsrv.restart();
    const from = listener.calls.length;
    const resynced = await listener.waitFor(isSynchronized, from);
    t.diagnostic(`restart to synchronized(): ${resynced.at - restartedAt} ms`);
    assert.equal(watch.mode, 'persisting');

    const addedAt = Date.now();
    await dirsrv.ldapAdd(eventLdif(queue, 'after-restart'));
    const call = await listener.waitFor(
      (each) => each.kind === 'entry' && each.dn.startsWith('cn=after-'),
      from,
    );
    t.diagnostic(`add after restart to entry(): ${call.at - addedAt} ms`);
    const warnings = lines.filter((line) => line.level === 'warn');
    assert.deepEqual(
      warnings.map((line) => line.message),
      ['Watch lost; reconnecting'],
    );
  });

  test('stop() closes the connection and leaves no timer or socket', async (t) => {
    const queue = await newQueue(t);
    const idle = process.getActiveResourcesInfo();
    const { watch, listener } = startWatch(t, queue);
    await listener.waitFor(isSynchronized);
    assert.equal(watch.mode, 'persisting');

    await watch.stop();
    assert.equal(watch.mode, 'stopped');
    assert.deepEqual(count(process.getActiveResourcesInfo()), count(idle));
  });

  test('stop() while waiting to reconnect resolves at once', async (t) => {
    const queue = await newQueue(t);
    const config = watchConfig(queue);
    const unreachable = { ...config.ldap, url: 'ldap://127.0.0.1:9' };
    const { log } = recordingLogger();
    const watch = new PersistentSearchWatch(
      { ...config, ldap: unreachable },
      undefined,
      new RecordingListener(),
      log,
    );
    watch.start();
    await waitFor(
      async () => (watch.mode === 'waiting' ? true : undefined),
      5000,
    );
    const stoppingAt = Date.now();
    await watch.stop();
    assert.ok(Date.now() - stoppingAt < 500);
  });

  test('the agent chooses Persistent Search on 389 and runs an added event', async (t) => {
    const queue = await QueueFixture.create(dirsrv, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watch mode: psearch, since the server offers');
    await agent.waitForOutput('Queue read; running events');
    const added = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=dsuser',
    );
    const addedAt = Date.now();
    assert.equal(added.code, 0, added.stderr);
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'dsuser']);
    assert.ok((run?.startedAt ?? Infinity) - addedAt < 1000);
    await queue.waitUntilEmpty(5000);
    assert.equal(await agent.stop(), 0);
  });
});

/** Sockets and timers by kind, so a leak of either shows. */
function count(resources: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of resources) {
    if (kind !== 'TCPSocketWrap' && kind !== 'Timeout') continue;
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}
