/**
 * Floor (a): a bare consumer. It holds the same search the agent's watch
 * holds, on our own agent/protocol LdapConnection, and notes when each
 * entry arrives, and nothing else: no entry parsing, no scheduler, no
 * process. In `poll` mode it repeats the agent's reconcile search on the
 * same interval instead.
 *
 * It also notes every later change to an entry (modify, rename, delete),
 * which is how the benchmark counts the directory writes the agent makes
 * before a run, and learns that an event's entry has been deleted.
 */
import { readFile } from 'node:fs/promises';
import { EVENT_ATTRIBUTES } from '../agent/entry.js';
import {
  LdapConnection,
  decodeSyncInfoMessage,
  findSyncState,
  syncRequestControl,
  type Control,
  type SearchEvent,
  type SearchHandle,
  type SearchResultEntry,
} from '../agent/protocol/index.js';
import {
  findEntryChangeNotification,
  persistentSearchControl,
} from '../agent/protocol/psearch.js';
import { EVENT_FILTER } from '../agent/queue.js';
import type { WallClock } from './clock.js';

export type WatchKind = 'syncrepl' | 'psearch' | 'poll';

/** How to reach a server as its root DN. */
export interface ServerAccess {
  readonly url: string;
  readonly rootDN: string;
  readonly rootPasswordFile: string;
}

type Sighting = 'entry' | 'change' | 'delete';

export class BareConsumer {
  readonly #seen = new Map<string, number>();
  /** syncrepl deletes name the entry by entryUUID only. */
  readonly #dnByUUID = new Map<string, string>();
  readonly #listeners = new Set<() => void>();
  readonly #searches: SearchHandle[] = [];
  /** poll mode: when each search was sent and when it was done. */
  readonly #polls: { sent: number; done: number }[] = [];
  #poller: NodeJS.Timeout | undefined;

  private constructor(
    private readonly connection: LdapConnection,
    private readonly base: string,
    private readonly clock: WallClock,
  ) {}

  /** Connects, binds and starts the search; resolves once it is current. */
  static async open(
    kind: WatchKind,
    server: ServerAccess,
    base: string,
    clock: WallClock,
    pollIntervalMs: number,
  ): Promise<BareConsumer> {
    const connection = await LdapConnection.connect(server.url, {
      connectTimeoutMs: 10_000,
      keepAliveMs: 30_000,
    });
    const password = await readFile(server.rootPasswordFile, 'utf8');
    await connection.bind(server.rootDN, password.split('\n')[0] ?? '');
    const consumer = new BareConsumer(connection, base, clock);
    await consumer.start(kind, pollIntervalMs);
    return consumer;
  }

  /** When `dn`, added at `added`, first arrived (ms since the epoch). */
  seen(dn: string, added: number, timeoutMs: number): Promise<number> {
    const key = normalize(dn);
    const polled = () => this.#polls.find((poll) => poll.sent >= added)?.done;
    return this.until(() => this.#seen.get(key) ?? polled(), timeoutMs);
  }

  async close(): Promise<void> {
    clearInterval(this.#poller);
    for (const search of this.#searches) search.abandon();
    await this.connection.close();
  }

  private async start(kind: WatchKind, pollIntervalMs: number) {
    switch (kind) {
      case 'syncrepl':
        return this.holdSyncrepl();
      case 'psearch':
        return this.holdPersistentSearch();
      case 'poll':
        return this.poll(pollIntervalMs);
    }
  }

  private holdSyncrepl(): Promise<void> {
    return new Promise((resolve) => {
      const control = syncRequestControl({ mode: 'refreshAndPersist' });
      this.search([control], (event) => {
        if (event.protocolOp === 'IntermediateResponse') {
          const info = decodeSyncInfoMessage(event);
          if (info !== undefined && 'refreshDone' in info && info.refreshDone) {
            resolve();
          }
          return;
        }
        if (event.protocolOp !== 'SearchResultEntry') return;
        const state = findSyncState(event);
        const uuid = state?.entryUUIDString ?? '';
        if (state?.state !== 'delete') this.#dnByUUID.set(uuid, event.dn);
        const dn = this.#dnByUUID.get(uuid) ?? event.dn;
        const kind = state?.state ?? 'present';
        this.note(dn, kind === 'delete' ? kind : sightingOf(kind));
      });
    });
  }

  /** The agent's pair: a persistent search, then an ordinary one as marker. */
  private async holdPersistentSearch(): Promise<void> {
    const control = persistentSearchControl({
      changesOnly: false,
      returnECs: true,
    });
    this.search([control], (event) => {
      if (event.protocolOp !== 'SearchResultEntry') return;
      const change = findEntryChangeNotification(event)?.changeType;
      const kind = change === undefined ? 'add' : change;
      this.note(event.dn, kind === 'delete' ? kind : sightingOf(kind));
    });
    await this.search([], (event) => this.noteEntry(event)).done;
  }

  /**
   * The agent's reconcile may run the event and delete its entry before
   * this consumer's search comes round, so a poll counts as seeing every
   * entry added before the poll was sent, when the poll is done.
   */
  private async poll(intervalMs: number): Promise<void> {
    const once = async () => {
      const sent = this.clock.now();
      await this.search([], (event) => this.noteEntry(event)).done;
      this.#polls.push({ sent, done: this.clock.now() });
      for (const listener of this.#listeners) listener();
    };
    await once();
    this.#poller = setInterval(() => void once().catch(() => {}), intervalMs);
  }

  private search(
    controls: Control[],
    listener: (event: SearchEvent) => void,
  ): SearchHandle {
    const handle = this.connection.search(
      {
        baseObject: this.base,
        scope: 'singleLevel',
        filter: EVENT_FILTER,
        attributes: EVENT_ATTRIBUTES,
        controls,
      },
      listener,
    );
    this.#searches.push(handle);
    return handle;
  }

  private noteEntry(event: SearchEvent): void {
    if (event.protocolOp === 'SearchResultEntry') {
      this.note((event as SearchResultEntry).dn, 'entry');
    }
  }

  /** Records an arrival; the time is taken before anything else. */
  private note(dn: string, sighting: Sighting): void {
    const at = this.clock.now();
    const key = normalize(dn);
    if (sighting === 'entry' && !this.#seen.has(key)) this.#seen.set(key, at);
    for (const listener of this.#listeners) listener();
  }

  /** Resolves with probe()'s first defined value, checked at each arrival. */
  private until<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`No notification within ${timeoutMs} ms.`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** An add, or an entry present at the start, is a sighting; others write. */
function sightingOf(kind: string): Sighting {
  return kind === 'add' || kind === 'present' ? 'entry' : 'change';
}

/** DNs as servers return them may differ in case and spacing. */
function normalize(dn: string): string {
  return dn.toLowerCase().replace(/\s*,\s*/g, ',');
}
