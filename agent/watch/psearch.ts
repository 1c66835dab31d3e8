/**
 * The Persistent Search watch (draft-ietf-ldapext-psearch-03), for servers
 * such as 389 Directory Server that offer it instead of syncrepl.
 *
 * Modes and transitions:
 *
 *   idle ──start()──▶ connecting ──bound, both searches sent──▶ reading
 *   reading ──the ordinary search is done──▶ persisting
 *   connecting | reading | persisting ──connection lost, search ended
 *       or refused──▶ waiting
 *   waiting ──backoff elapsed──▶ connecting
 *   any ──stop()──▶ stopped
 *
 * Each session sends two searches of the queue, pipelined on one
 * connection: first the persistent search (changesOnly FALSE, returnECs
 * TRUE), then an ordinary one. The draft marks no end of a persistent
 * search's initial entries, so the ordinary search's SearchResultDone is
 * the marker: when it arrives the listener has been told of every entry
 * that the ordinary search found, and is told `synchronized(true)`.
 *
 * Why no event is missed between them: the persistent search alone
 * delivers every entry, provided the server registers it for changes no
 * later than it reads its initial entries (without that, changesOnly FALSE
 * would lose changes for every client; 389-ds is assumed to, not proven).
 * An entry added before that read is among the initial entries; one added
 * after it arrives with an Entry Change Notification. The ordinary search
 * adds no coverage; it only proves, without guessing a time, that every
 * entry present when it read the queue has been delivered. Anything added
 * after that is still on its way through the persistent search, like any
 * change. Entries may arrive twice (once from each search); `entry()` is
 * idempotent for the listener.
 *
 * LIMITATION: an entry that the ordinary search delivered and that was
 * deleted before the server registered the persistent search gets no
 * delete notification. The listener holds it until the next reconcile or
 * until its claim fails; no event is lost, one may be offered that is gone.
 */
import type { Config } from '../config.js';
import { EVENT_ATTRIBUTES, readEntry, type DirectoryEntry } from '../entry.js';
import type { Logger } from '../log.js';
import {
  LdapConnection,
  ResultCode,
  type SearchEvent,
  type SearchHandle,
  type SearchRequest,
  type SearchResultDone,
  type SearchResultEntry,
} from '../protocol/index.js';
import {
  findEntryChangeNotification,
  persistentSearchControl,
} from '../protocol/psearch.js';
import { EVENT_FILTER } from '../queue.js';
import { Reconnector } from './reconnect.js';
import { openWatchConnection, searchEnded } from './connect.js';
import {
  logWatchMode,
  toDirectoryEntry,
  type Watch,
  type WatchListener,
} from './watch.js';

export type PersistentSearchMode =
  'idle' | 'connecting' | 'reading' | 'persisting' | 'waiting' | 'stopped';

export class PersistentSearchWatch implements Watch {
  #mode: PersistentSearchMode = 'idle';
  #connection: LdapConnection | undefined;
  #persistent: SearchHandle | undefined;
  #loop: Promise<void> | undefined;
  readonly #reconnector: Reconnector;

  constructor(
    private readonly config: Config,
    private readonly password: string | undefined,
    private readonly listener: WatchListener,
    private readonly log: Logger,
  ) {
    this.#reconnector = new Reconnector(log, listener);
  }

  get mode(): PersistentSearchMode {
    return this.#mode;
  }

  resume(): void {
    this.#reconnector.resume();
  }

  start(): void {
    this.#loop ??= this.#reconnector.run(
      () => this.session(),
      () => this.enter('waiting'),
    );
  }

  /** Abandons the persistent search, closes the connection, resolves. */
  async stop(): Promise<void> {
    this.#mode = 'stopped';
    this.#reconnector.stop();
    this.#persistent?.abandon();
    await this.#connection?.close();
    await this.#loop;
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
      this.#persistent = undefined;
      await connection.close();
    }
  }

  private async search(connection: LdapConnection): Promise<void> {
    if (this.#mode === 'stopped') return;
    this.enter('reading');

    const persistent = connection.search(
      this.request([
        persistentSearchControl({ changesOnly: false, returnECs: true }),
      ]),
      (event) => this.receive(event),
    );
    this.#persistent = persistent;
    const ended = persistent.done.then((done) => {
      throw searchEnded('persistent search', done);
    });
    ended.catch(() => undefined);

    // Sent right behind the persistent search, before any answer: see the
    // comment above the class for why this marks the end of the reading.
    const reading = connection.search(this.request([]), (event) =>
      this.receive(event),
    );
    await Promise.race([reading.done.then((done) => this.read(done)), ended]);
    await ended;
  }

  private request(controls: SearchRequest['controls']): SearchRequest {
    return {
      baseObject: this.config.ldap.queueBase,
      scope: 'singleLevel',
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      sizeLimit: 0,
      timeLimit: 0,
      controls: controls ?? [],
    };
  }

  private receive(event: SearchEvent): void {
    switch (event.protocolOp) {
      case 'SearchResultEntry':
        return this.receiveEntry(event);
      case 'SearchResultReference':
      case 'IntermediateResponse':
        return;
    }
  }

  /**
   * An entry without an Entry Change Notification is present now (an
   * initial entry of either search); one with it is a change.
   */
  private receiveEntry(event: SearchResultEntry): void {
    const entry = toDirectoryEntry(event);
    const change = findEntryChangeNotification(event);
    switch (change?.changeType) {
      case undefined:
      case 'add':
      case 'modify':
      case 'modDN': // keeps the identity; the entry carries its new DN
        return this.listener.entry(entry);
      case 'delete':
        return this.listener.deleted(entryId(entry));
    }
  }

  /** The ordinary search is done: everything it found has been told. */
  private read(done: SearchResultDone): void {
    if (done.resultCode !== ResultCode.success) {
      throw searchEnded('search of the queue', done);
    }
    if (this.#mode !== 'reading') return;
    this.enter('persisting');
    this.#reconnector.connected();
    this.listener.synchronized(true);
  }

  private enter(mode: PersistentSearchMode): void {
    if (this.#mode === 'stopped') return;
    this.#mode = mode;
    logWatchMode(
      this.log,
      mode,
      'Persistent Search',
      this.config.ldap.queueBase,
    );
  }
}

/** The identity agent/entry.ts gives: entryUUID, nsUniqueId or the DN. */
function entryId(entry: DirectoryEntry): string {
  const reading = readEntry(entry);
  return reading.kind === 'event' ? reading.event.id : reading.malformed.id;
}
