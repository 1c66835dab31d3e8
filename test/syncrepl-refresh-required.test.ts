/**
 * The syncrepl watch and e-syncRefreshRequired (4096): the saved cookie is
 * discarded, on disk as well, and after a backoff delay the watch reads the
 * queue again without a cookie (refreshOnly), is told the whole queue,
 * persists from the server's new cookie (refreshAndPersist), reports a
 * complete refresh and keeps the new cookie.
 *
 * And the size limit: a refreshOnly search that the limit ends is not
 * followed by a refreshAndPersist search, nor repeated, until resume().
 * OpenLDAP 2.5.13's syncprov keeps a refreshAndPersist search that fails
 * in its refresh on its list after the operation is freed, and slapd
 * crashes on a later write to the queue (seen here several times); so the
 * watch must only ever send one after a refreshOnly read has succeeded.
 *
 * These tests run against a scripted fake server, because OpenLDAP 2.5
 * cannot be made to send 4096: a stale cookie gets a present phase, and a
 * cookie newer than the server gets unwillingToPerform (53), which
 * test/watch-modes.test.ts covers against a real slapd.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';

import asn1 from '@ldapjs/asn1';

import { parseConfig, type Config } from '../agent/config.js';
import type { DirectoryEntry } from '../agent/entry.js';
import { createLogger } from '../agent/log.js';
import { BerCursor, decodeInteger } from '../agent/protocol/ber.js';
import {
  findControl,
  writeControls,
  type Control,
} from '../agent/protocol/controls.js';
import {
  E_SYNC_REFRESH_REQUIRED,
  SYNC_DONE_OID,
  SYNC_INFO_OID,
  SYNC_REQUEST_OID,
  SYNC_STATE_OID,
} from '../agent/protocol/sync.js';
import { CookieStore } from '../agent/watch/cookie-store.js';
import { SyncreplWatch } from '../agent/watch/syncrepl.js';
import type { WatchListener } from '../agent/watch/watch.js';
import {
  FakeServer,
  type Reply,
  type Request,
} from './support/fake-ldap-server.js';

const SEARCH_REQUEST = 0x63;
/** The Sync Request modes (RFC 4533 section 2.2). */
const REFRESH_ONLY = 1;
const REFRESH_AND_PERSIST = 3;
const SIZE_LIMIT_EXCEEDED = 4;
const QUEUE = 'ou=events,dc=example,dc=test';
const OLD_COOKIE = 'rid=000,csn=20240101000000.000000Z#000000#000#000000';
const NEW_COOKIE = 'rid=000,csn=new';
const ENTRY_DN = `cn=e1,${QUEUE}`;
const ENTRY_UUID = Buffer.from('07762d1a838510418427a5726f26be68', 'hex');
const CONDUIT = 'Prometheus::Conduits::RoleExpander';

/** What the fake server saw of each search carrying a Sync Request. */
interface QueueSearch {
  receivedAt: number;
  /** The Sync Request's mode. */
  mode: number;
  cookie: string | undefined;
  /** Whether the cookie file existed when the search arrived. */
  cookieFileExisted: boolean;
}

type Call =
  | { kind: 'entry'; entry: DirectoryEntry }
  | { kind: 'deleted'; id: string }
  | { kind: 'synchronized'; complete: boolean };

class RecordingListener implements WatchListener {
  readonly calls: Call[] = [];
  #resolve: () => void = () => undefined;
  /** Resolves on the first `synchronized()`. */
  readonly synchronizedOnce = new Promise<void>(
    (resolve) => (this.#resolve = resolve),
  );

  entry(entry: DirectoryEntry): void {
    this.calls.push({ kind: 'entry', entry });
  }

  deleted(id: string): void {
    this.calls.push({ kind: 'deleted', id });
  }

  synchronized(complete: boolean): void {
    this.calls.push({ kind: 'synchronized', complete });
    this.#resolve();
  }
}

describe('syncrepl watch on e-syncRefreshRequired', () => {
  it('drops the cookie, backs off and refreshes in full', async (t) => {
    // Backoff draws its delay from Math.random; at one half the first
    // delay is 250 ms, so a delay can be told apart from none at all.
    t.mock.method(Math, 'random', () => 0.5);
    const { server, searches, cookies, listener, watch } = await start(
      t,
      (search) =>
        search.cookie === OLD_COOKIE ? E_SYNC_REFRESH_REQUIRED : 'refresh',
      OLD_COOKIE,
    );
    await within(5000, listener.synchronizedOnce, 'the full refresh');

    assert.deepEqual(
      searches.map((search) => [search.mode, search.cookie]),
      [
        [REFRESH_ONLY, OLD_COOKIE],
        [REFRESH_ONLY, undefined],
        [REFRESH_AND_PERSIST, NEW_COOKIE],
      ],
      'the first read resumes from the saved cookie, the second does not, ' +
        'and the persistent search starts from the cookie the second ended with',
    );
    assert.equal(
      searches[1]?.cookieFileExisted,
      false,
      'the saved cookie is removed before the full refresh starts',
    );
    const [first, second] = searches as [QueueSearch, QueueSearch, QueueSearch];
    const delay = Math.round(second.receivedAt - first.receivedAt);
    assert.ok(delay >= 245, `searched again after ${delay} ms, not 250 ms`);

    assert.deepEqual(listener.calls.map(describeCall), [
      `entry ${ENTRY_DN} ${CONDUIT}`,
      'synchronized complete',
    ]);
    assert.equal(watch.mode, 'persisting');

    await watch.stop();
    await cookies.flush();
    assert.equal(await readFile(cookies.file, 'utf8'), NEW_COOKIE);
    assert.equal(searches.length, 3);
    await server.close();
    assert.deepEqual(await openHandles(), []);
  });
});

describe('syncrepl watch over the size limit', () => {
  it('sends no persistent search until a read succeeds after resume()', async (t) => {
    t.mock.method(Math, 'random', () => 0.5);
    let limited = true;
    const { server, searches, listener, watch } = await start(t, () =>
      limited ? SIZE_LIMIT_EXCEEDED : 'refresh',
    );
    await waitUntil(() => watch.mode === 'waiting', 'the size-limited read');
    // Four times the first backoff delay: a watch that retried would have.
    await sleep(1000);
    assert.deepEqual(
      searches.map((search) => [search.mode, search.cookie]),
      [[REFRESH_ONLY, undefined]],
      'one refreshOnly read, then nothing until resume()',
    );
    assert.deepEqual(listener.calls, []);

    limited = false;
    watch.resume();
    await within(5000, listener.synchronizedOnce, 'the refresh after resume');
    assert.deepEqual(
      searches.map((search) => [search.mode, search.cookie]),
      [
        [REFRESH_ONLY, undefined],
        [REFRESH_ONLY, undefined],
        [REFRESH_AND_PERSIST, NEW_COOKIE],
      ],
    );
    assert.equal(watch.mode, 'persisting');
    await watch.stop();
    await server.close();
  });
});

/**
 * What the fake server answers a refreshOnly search with: a result code,
 * or 'refresh', the whole queue (one entry) and a Sync Done with
 * NEW_COOKIE. A refreshAndPersist search always gets the end of an empty
 * refresh.
 */
type ReadAnswer = (search: QueueSearch) => number | 'refresh';

/** A watch, resuming from `savedCookie` if given, against a fake server. */
async function start(t: TestContext, answer: ReadAnswer, savedCookie?: string) {
  const state = await stateDirectory(t);
  const log = createLogger({ level: 'error', stdout: false });
  // Without a transport winston would complain of every line on stderr.
  log.silent = true;
  const searches: QueueSearch[] = [];

  const server = new FakeServer((request, reply) => {
    const search = queueSearch(request, cookies.file);
    if (search === undefined) return answerOther(request, reply);
    searches.push(search);
    const id = request.messageId;
    const result = answer(search);
    if (search.mode === REFRESH_AND_PERSIST) {
      reply.send(refreshDeleteDone(id, NEW_COOKIE));
    } else if (result === 'refresh') {
      reply.send(...fullRefresh(id));
    } else {
      reply.send(searchResultDone(id, result));
    }
  });
  const config = watchConfig(await server.listen(), state);
  const scope = `${config.ldap.url} ${config.ldap.queueBase}`;
  const cookies = new CookieStore(state, scope, log);
  if (savedCookie !== undefined) await writeFile(cookies.file, savedCookie);

  const listener = new RecordingListener();
  const watch = new SyncreplWatch(config, undefined, listener, log, cookies);
  t.after(async () => {
    await watch.stop();
    await server.close();
  });
  watch.start();
  return { server, searches, cookies, listener, watch };
}

/** Polls `condition` every 10 ms for up to 5 s. */
async function waitUntil(condition: () => boolean, what: string) {
  for (let tries = 0; tries < 500; tries += 1) {
    if (condition()) return;
    await sleep(10);
  }
  throw new Error(`${what} did not happen within 5 s`);
}

/** Waits for `promise`, failing after `ms` instead of hanging the run. */
async function within<T>(ms: number, promise: Promise<T>, what: string) {
  const timer = new AbortController();
  const timeout = sleep(ms, undefined, { signal: timer.signal }).then(() => {
    throw new Error(`${what} did not happen within ${ms} ms`);
  });
  timeout.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    timer.abort();
  }
}

async function stateDirectory(t: TestContext): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'eq-refresh-required-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  const state = path.join(folder, 'state');
  await mkdir(state);
  return state;
}

/** A real configuration; the long heartbeat keeps its probe out of the way. */
function watchConfig(url: string, state: string): Config {
  const yaml = [
    'ldap:',
    `  url: ${url}`,
    `  queueBase: ${QUEUE}`,
    '  connectTimeout: 2s',
    'agent:',
    `  stateDirectory: ${state}`,
    '  heartbeat: 1h',
    'conduits: {}',
  ].join('\n');
  return parseConfig(yaml, 'syncrepl-refresh-required.test');
}

/** The search's Sync Request, if it carries one; else undefined. */
function queueSearch(
  request: Request,
  cookieFile: string,
): QueueSearch | undefined {
  if (request.tag !== SEARCH_REQUEST) return undefined;
  const control = findControl(request.controls, SYNC_REQUEST_OID);
  if (control?.value === undefined) return undefined;
  const { mode, cookie } = decodeSyncRequest(control.value);
  return {
    receivedAt: request.receivedAt,
    mode,
    cookie: cookie?.toString('utf8'),
    cookieFileExisted: existsSync(cookieFile),
  };
}

/**
 * Any other search (the heartbeat's read of the root DSE) succeeds with no
 * entries. An UnbindRequest needs no answer: the client ends its side and
 * the server's socket, not allowing half-open connections, ends too.
 */
function answerOther(request: Request, reply: Reply): void {
  if (request.tag === SEARCH_REQUEST) {
    reply.send(searchResultDone(request.messageId, 0));
  }
}

/** syncRequestValue ::= SEQUENCE { mode, cookie OPTIONAL, reloadHint } */
function decodeSyncRequest(value: Buffer): {
  mode: number;
  cookie: Buffer | undefined;
} {
  const outer = new BerCursor(value, 'Sync Request control');
  const fields = new BerCursor(outer.next('value', 0x30).value, 'fields');
  const mode = decodeInteger(fields.next('mode', 0x0a), 'mode');
  return { mode, cookie: fields.nextIf('cookie', 0x04)?.value };
}

/** One event entry in state add, then the end of a refreshOnly search. */
function fullRefresh(messageId: number): Buffer[] {
  const entry = searchResultEntry(
    messageId,
    ENTRY_DN,
    { objectClass: ['prometheusEvent'], eventConduit: [CONDUIT] },
    [syncStateControl('add', ENTRY_UUID)],
  );
  const done = searchResultDone(messageId, 0, [syncDoneControl(NEW_COOKIE)]);
  return [entry, done];
}

function describeCall(call: Call): string {
  switch (call.kind) {
    case 'entry': {
      const conduit = call.entry.attributes.get('eventconduit')?.[0];
      return `entry ${call.entry.dn} ${conduit?.toString()}`;
    }
    case 'deleted':
      return `deleted ${call.id}`;
    case 'synchronized':
      return `synchronized ${call.complete ? 'complete' : 'changes only'}`;
  }
}

/**
 * Sockets, servers and timers still open, the runner's own pipes aside.
 * A closed handle is let go a turn of the event loop later, so this waits
 * up to a second for the list to empty.
 */
async function openHandles(): Promise<string[]> {
  const open = () =>
    process
      .getActiveResourcesInfo()
      .filter((name) => /TCP|Timeout|Immediate/.test(name));
  for (let tries = 0; tries < 100 && open().length > 0; tries += 1) {
    await sleep(10);
  }
  return open();
}

function ldapMessage(
  messageId: number,
  write: (writer: asn1.BerWriter) => void,
  controls: readonly Control[] = [],
): Buffer {
  const writer = new asn1.BerWriter();
  writer.startSequence(0x30);
  writer.writeInt(messageId);
  write(writer);
  writeControls(writer, controls);
  writer.endSequence();
  return Buffer.from(writer.buffer);
}

function searchResultDone(
  messageId: number,
  resultCode: number,
  controls: readonly Control[] = [],
): Buffer {
  const write = (writer: asn1.BerWriter) => {
    writer.startSequence(0x65);
    writer.writeEnumeration(resultCode);
    writer.writeString('');
    writer.writeString('');
    writer.endSequence();
  };
  return ldapMessage(messageId, write, controls);
}

/** syncDoneValue ::= SEQUENCE { cookie, refreshDeletes TRUE } */
function syncDoneControl(cookie: string): Control {
  const writer = new asn1.BerWriter();
  writer.startSequence(0x30);
  writer.writeString(cookie);
  writer.writeBoolean(true);
  writer.endSequence();
  const value = Buffer.from(writer.buffer);
  return { type: SYNC_DONE_OID, criticality: false, value };
}

function searchResultEntry(
  messageId: number,
  dn: string,
  attributes: Record<string, string[]>,
  controls: readonly Control[],
): Buffer {
  const write = (writer: asn1.BerWriter) => {
    writer.startSequence(0x64);
    writer.writeString(dn);
    writer.startSequence(0x30);
    for (const [type, values] of Object.entries(attributes)) {
      writer.startSequence(0x30);
      writer.writeString(type);
      writer.startSequence(0x31);
      writer.writeStringArray(values);
      writer.endSequence();
      writer.endSequence();
    }
    writer.endSequence();
    writer.endSequence();
  };
  return ldapMessage(messageId, write, controls);
}

const syncStates = { present: 0, add: 1, modify: 2, delete: 3 } as const;

/** syncStateValue ::= SEQUENCE { state, entryUUID, cookie OPTIONAL } */
function syncStateControl(
  state: keyof typeof syncStates,
  entryUUID: Buffer,
): Control {
  const writer = new asn1.BerWriter();
  writer.startSequence(0x30);
  writer.writeEnumeration(syncStates[state]);
  writer.writeBuffer(entryUUID, 0x04);
  writer.endSequence();
  const value = Buffer.from(writer.buffer);
  return { type: SYNC_STATE_OID, criticality: false, value };
}

/** Sync Info refreshDelete [1] { cookie, refreshDone TRUE }. */
function refreshDeleteDone(messageId: number, cookie: string): Buffer {
  const info = new asn1.BerWriter();
  info.startSequence(0xa1);
  info.writeString(cookie);
  info.writeBoolean(true);
  info.endSequence();

  return ldapMessage(messageId, (writer) => {
    writer.startSequence(0x79);
    writer.writeString(SYNC_INFO_OID, 0x80);
    writer.writeBuffer(Buffer.from(info.buffer), 0x81);
    writer.endSequence();
  });
}
