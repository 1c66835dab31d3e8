/**
 * The syncrepl watch: RFC 4533 searches on the queue, on one connection a
 * refreshOnly search that reads it, then a refreshAndPersist search that
 * resumes from the first one's cookie and stays open.
 *
 * Modes and transitions:
 *
 *   idle ──start()──▶ connecting ──bound, search sent──▶ refreshing
 *   refreshing ──refreshOnly done, then the refreshAndPersist search's
 *       Sync Info with refreshDone──▶ persisting
 *   connecting | refreshing | persisting ──connection lost, search ended
 *       or refused──▶ waiting
 *   waiting ──backoff elapsed──▶ connecting
 *   any ──stop()──▶ stopped
 *
 * In `refreshing` the server sends the queue's content (or, with a cookie,
 * what changed since); the listener is told `synchronized()` when both
 * refreshes are done. In `persisting` each add, change and delete arrives as
 * it happens. The cookie from Sync State, Sync Info and Sync Done is kept so
 * that a reconnect resumes where the watch left off; e-syncRefreshRequired
 * (4096) discards it and the next search refreshes in full.
 */
import type { Config } from '../config.js';
import { EVENT_ATTRIBUTES } from '../entry.js';
import type { Logger } from '../log.js';
import {
  E_SYNC_REFRESH_REQUIRED,
  LdapConnection,
  ResultCode,
  decodeSyncInfoMessage,
  findSyncDone,
  findSyncState,
  formatUUID,
  syncRequestControl,
  type SearchEvent,
  type SearchResultDone,
  type SearchResultEntry,
  type SyncInfoMessage,
} from '../protocol/index.js';
import { EVENT_FILTER } from '../queue.js';
import { Reconnector } from './reconnect.js';
import { openWatchConnection, searchEnded } from './connect.js';
import type { CookieStore } from './cookie-store.js';
import {
  logWatchMode,
  toDirectoryEntry,
  type Watch,
  type WatchListener,
} from './watch.js';

export type SyncreplMode =
  'idle' | 'connecting' | 'refreshing' | 'persisting' | 'waiting' | 'stopped';

export class SyncreplWatch implements Watch {
  #mode: SyncreplMode = 'idle';
  #cookie: Buffer | undefined;
  /** Whether the current session started from a cookie. */
  #resumed = false;
  /** Whether the search under way is the refreshAndPersist one. */
  #persistent = false;
  #connection: LdapConnection | undefined;
  #loop: Promise<void> | undefined;
  readonly #reconnector: Reconnector;

  constructor(
    private readonly config: Config,
    private readonly password: string | undefined,
    private readonly listener: WatchListener,
    private readonly log: Logger,
    private readonly cookies?: CookieStore,
  ) {
    this.#reconnector = new Reconnector(log, listener);
  }

  get mode(): SyncreplMode {
    return this.#mode;
  }

  resume(): void {
    this.#reconnector.resume();
  }

  start(): void {
    this.#loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.#mode = 'stopped';
    this.#reconnector.stop();
    await this.#connection?.close();
    await this.#loop;
    await this.cookies?.flush();
  }

  private async run(): Promise<void> {
    this.#cookie = await this.cookies?.load();
    if (this.#cookie !== undefined) {
      this.log.info('Resuming the watch from the saved cookie', {
        file: this.cookies?.file,
      });
    }
    await this.#reconnector.run(
      () => this.session(),
      () => this.enter('waiting'),
    );
  }

  /** One connection: connect, bind, search until the search ends. */
  private async session(): Promise<void> {
    this.enter('connecting');
    const connection = await openWatchConnection(
      this.config,
      this.password,
      this.log,
    );
    this.#connection = connection;
    try {
      await this.search(connection);
    } finally {
      this.#connection = undefined;
      await connection.close();
    }
  }

  /**
   * Reads the queue with a refreshOnly search, then watches it with a
   * refreshAndPersist search from the cookie that ended the first.
   *
   * The second search starts from an up-to-date cookie, so its refresh
   * carries only what changed in between: it cannot meet the server's
   * size limit unless that many events arrive in those milliseconds. Only
   * the first search reads the whole queue, and a refreshOnly search that
   * fails costs nothing. A refreshAndPersist search that fails in its
   * refresh (sizeLimitExceeded) leaves OpenLDAP 2.5's syncprov holding the
   * finished operation, and the next write to the queue makes slapd read
   * freed memory: see the README's known limitations.
   */
  private async search(connection: LdapConnection): Promise<void> {
    if (this.#mode === 'stopped') return;
    this.enter('refreshing');
    this.#resumed = this.#cookie !== undefined;
    this.check(await this.syncSearch(connection, 'refreshOnly'), true);
    if (this.#reconnector.stopped) return;
    this.check(await this.syncSearch(connection, 'refreshAndPersist'), false);
  }

  private async syncSearch(
    connection: LdapConnection,
    mode: 'refreshOnly' | 'refreshAndPersist',
  ): Promise<SearchResultDone> {
    this.#persistent = mode === 'refreshAndPersist';
    const handle = connection.search(
      {
        baseObject: this.config.ldap.queueBase,
        scope: 'singleLevel',
        filter: EVENT_FILTER,
        attributes: EVENT_ATTRIBUTES,
        sizeLimit: 0,
        timeLimit: 0,
        controls: [syncRequestControl({ mode, cookie: this.#cookie })],
      },
      (event) => this.receive(event),
    );
    const done = await handle.done;
    const syncDone = findSyncDone(done);
    if (syncDone?.cookie !== undefined) this.keepCookie(syncDone.cookie);
    return done;
  }

  /**
   * Returns when the refreshOnly search (`first`) succeeded; throws for
   * anything else, a refreshAndPersist search having no successful end.
   */
  private check(done: SearchResultDone, first: boolean): void {
    if (done.resultCode === E_SYNC_REFRESH_REQUIRED) {
      this.keepCookie(null);
      throw new Error(
        'the server asked for a full refresh (e-syncRefreshRequired, 4096)',
      );
    }
    if (first && done.resultCode === ResultCode.success) return;
    const ended = searchEnded('syncrepl search', done);
    if (this.refusedCookie(done.resultCode)) {
      // OpenLDAP answers a cookie newer than its own state (a server
      // restored from backup) with unwillingToPerform (53), not 4096.
      this.keepCookie(null);
      throw new Error(`${ended.message}; the saved cookie is discarded`);
    }
    throw ended;
  }

  private receive(event: SearchEvent): void {
    switch (event.protocolOp) {
      case 'SearchResultEntry':
        return this.receiveEntry(event);
      case 'IntermediateResponse': {
        const info = decodeSyncInfoMessage(event);
        if (info !== undefined) this.receiveInfo(info);
        return;
      }
      case 'SearchResultReference':
        return;
    }
  }

  private receiveEntry(event: SearchResultEntry): void {
    const state = findSyncState(event);
    if (state?.cookie !== undefined) this.keepCookie(state.cookie);
    if (state?.state === 'delete') {
      this.listener.deleted(state.entryUUIDString.toLowerCase());
      return;
    }
    this.listener.entry(toDirectoryEntry(event));
  }

  private receiveInfo(info: SyncInfoMessage): void {
    if (info.cookie !== undefined) this.keepCookie(info.cookie);
    switch (info.kind) {
      case 'newcookie':
        return;
      case 'refreshDelete':
      case 'refreshPresent':
        if (info.refreshDone) this.refreshed();
        return;
      case 'syncIdSet':
        // Only an explicit delete set removes events here; entries the
        // present phase leaves out are confirmed gone by the reconcile.
        if (info.refreshDeletes) {
          for (const uuid of info.syncUUIDs) {
            this.listener.deleted(formatUUID(uuid).toLowerCase());
          }
        }
        return;
    }
  }

  private refreshed(): void {
    if (this.#mode !== 'refreshing' || !this.#persistent) return;
    this.enter('persisting');
    this.#reconnector.connected();
    this.listener.synchronized(!this.#resumed);
  }

  /**
   * A search from a saved cookie refused before its refresh completed, for
   * a reason other than the size limit (which says nothing of the cookie).
   */
  private refusedCookie(resultCode: number): boolean {
    return (
      this.#resumed &&
      this.#mode === 'refreshing' &&
      resultCode !== ResultCode.success &&
      resultCode !== ResultCode.sizeLimitExceeded
    );
  }

  private keepCookie(cookie: Buffer | null): void {
    this.#cookie = cookie ?? undefined;
    this.cookies?.save(cookie);
  }

  private enter(mode: SyncreplMode): void {
    if (this.#mode === 'stopped') return;
    this.#mode = mode;
    logWatchMode(this.log, mode, 'syncrepl', this.config.ldap.queueBase);
  }
}
