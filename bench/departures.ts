/**
 * When each event left the queue: a syncrepl consumer on the queue's level
 * (agent/protocol's LdapConnection, no attributes) notes the time of every
 * entry the server reports gone from it. An agent's claim moves the entry
 * out of the level, so the n-th departure is the n-th claim, and rates over
 * ranges of departures are the agent's throughput, seen from outside.
 */
import { readFile } from 'node:fs/promises';
import {
  LdapConnection,
  decodeSyncInfoMessage,
  findSyncState,
  syncRequestControl,
  type SearchEvent,
  type SearchHandle,
} from '../agent/protocol/index.js';
import { EVENT_FILTER } from '../agent/queue.js';
import type { ServerAccess } from './consumer.js';

export class Departures {
  /** performance.now() of each departure, in order. */
  readonly times: number[] = [];
  readonly #waiters = new Set<() => void>();
  #search: SearchHandle | undefined;

  private constructor(private readonly connection: LdapConnection) {}

  /** Resolves once the consumer's refresh is done and it is watching. */
  static async open(server: ServerAccess, base: string): Promise<Departures> {
    const connection = await LdapConnection.connect(server.url, {
      connectTimeoutMs: 10_000,
      keepAliveMs: 30_000,
    });
    const password = await readFile(server.rootPasswordFile, 'utf8');
    await connection.bind(server.rootDN, password.split('\n')[0] ?? '');
    const departures = new Departures(connection);
    await departures.watch(base);
    return departures;
  }

  /** Resolves when `count` events have left, or rejects after `timeoutMs`. */
  reached(count: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.times.length < count) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `Only ${this.times.length} of ${count} events left the ` +
              `queue within ${timeoutMs / 1000} s.`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Events per second between departures `from` and `to` (0-based). */
  rate(from: number, to: number): number {
    const span = (this.times[to] ?? NaN) - (this.times[from] ?? NaN);
    return ((to - from) / span) * 1000;
  }

  async close(): Promise<void> {
    this.#search?.abandon();
    await this.connection.close();
  }

  private watch(base: string): Promise<void> {
    return new Promise((resolve) => {
      const request = {
        baseObject: base,
        scope: 'singleLevel' as const,
        filter: EVENT_FILTER,
        attributes: ['1.1'],
        controls: [syncRequestControl({ mode: 'refreshAndPersist' })],
      };
      this.#search = this.connection.search(request, (event) => {
        if (refreshDone(event)) resolve();
        if (event.protocolOp !== 'SearchResultEntry') return;
        if (findSyncState(event)?.state !== 'delete') return;
        this.times.push(performance.now());
        for (const waiter of this.#waiters) waiter();
      });
    });
  }
}

function refreshDone(event: SearchEvent): boolean {
  if (event.protocolOp !== 'IntermediateResponse') return false;
  const info = decodeSyncInfoMessage(event);
  return info !== undefined && 'refreshDone' in info && info.refreshDone;
}
