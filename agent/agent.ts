/**
 * The agent: watch the queue, order its events, run each conduit, and
 * remove the event once its run succeeded.
 *
 * Two connections: the watch's own (see watch/), and the work connection
 * here for deletes and the reconcile search. The reconcile runs every
 * `agent.reconcileInterval` and offers every entry it finds, so an event
 * whose notification was lost still runs.
 */
import { refusal } from './conduits.js';
import type { Config } from './config.js';
import { Directory, DirectoryError, ResultCode } from './directory.js';
import {
  EVENT_ATTRIBUTES,
  readEntry,
  type DirectoryEntry,
  type MalformedEvent,
  type QueuedEvent,
} from './entry.js';
import { executeEvent, type RunContext } from './execute.js';
import { type Logger } from './log.js';
import { EVENT_FILTER, PAGE_SIZE } from './queue.js';
import { ConduitRun } from './runner.js';
import { Scheduler, type Outcome } from './scheduler.js';
import { chooseWatchMode, type ChosenMode } from './watch/select.js';
import type { Watch, WatchListener } from './watch/watch.js';

export type WatchFactory = (mode: ChosenMode, listener: WatchListener) => Watch;

export class Agent implements WatchListener {
  readonly #scheduler: Scheduler;
  #watch: Watch | undefined;
  readonly #malformed = new Set<string>();
  readonly #refused = new Set<string>();
  /** DNs whose run succeeded but whose delete failed; retried. */
  readonly #undeleted = new Set<string>();
  #work: Promise<Directory> | undefined;
  #reconcileTimer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> | undefined;
  #run: ConduitRun | undefined;
  #grace: NodeJS.Timeout | undefined;
  #stopping = false;
  /** Whether a reconcile was cut short by the server's size limit. */
  #sizeLimited = false;
  /** How many events the scheduler has taken as new. */
  #offered = 0;

  constructor(
    private readonly config: Config,
    private readonly password: string | undefined,
    private readonly log: Logger,
    private readonly createWatch: WatchFactory,
  ) {
    this.#scheduler = new Scheduler(
      (event) => this.execute(event),
      config.agent.retryDelayMs,
    );
  }

  /**
   * Connects, chooses the watch mode, starts the watch and the first
   * reconcile. Rejects if the directory cannot be reached or lacks a
   * watch mode the configuration insists on.
   */
  async start(): Promise<void> {
    this.log.info('Agent starting', {
      queue: this.config.ldap.queueBase,
      url: this.config.ldap.url,
      conduits: this.config.conduits.size,
    });
    const directory = await this.workConnection();
    const mode = await chooseWatchMode(this.config, directory, this.log);
    this.#watch = this.createWatch(mode, this);
    this.#watch.start();
    // The first reconcile gives the whole queue even when the watch resumes
    // from a cookie and reports only what changed.
    void this.reconcile();
    this.#reconcileTimer = setInterval(
      () => void this.reconcile(),
      this.config.agent.reconcileIntervalMs,
    );
  }

  /**
   * Stops taking events, lets a running conduit finish within the grace
   * period (then stops it), and closes the connections.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#reconcileTimer);
    const idle = this.#scheduler.stop();
    this.#grace = setTimeout(() => {
      if (this.#run === undefined) return;
      this.log.warn('Stopping the running conduit: shutdown grace is over', {
        pid: this.#run.pid,
      });
      this.#run.stop();
    }, this.config.agent.shutdownGraceMs);
    await Promise.all([idle, this.#watch?.stop(), this.#reconciling]);
    clearTimeout(this.#grace);
    await this.closeWork();
    this.log.info('Agent stopped');
  }

  /** Ends the running conduit at once with SIGKILL (a second signal). */
  kill(): void {
    clearTimeout(this.#grace);
    this.#run?.kill();
  }

  /** Pending events in the order they will run, as this agent knows them. */
  pending(): QueuedEvent[] {
    return this.#scheduler.pending();
  }

  entry(entry: DirectoryEntry): void {
    this.offer(entry);
  }

  deleted(id: string): void {
    this.#scheduler.withdraw(id);
  }

  synchronized(complete: boolean): void {
    // After a reconnect the watch resumed from its cookie, which reports
    // entries deleted meanwhile only by leaving them out: the reconcile
    // settles what is really there.
    if (this.#scheduler.started) {
      void this.reconcile();
      return;
    }
    // Running before the whole queue is known could run a later event
    // before an earlier one; the first reconcile will start the runs.
    if (!complete) return;
    this.log.info('Queue read; running events', {
      pending: this.#scheduler.pending().length,
    });
    this.#scheduler.start();
  }

  /** A full, paged search of the queue; offers every event it finds. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.searchQueue().finally(
      () => (this.#reconciling = undefined),
    );
    return this.#reconciling;
  }

  private async searchQueue(): Promise<void> {
    const startedAt = Date.now();
    const present = new Set<string>();
    const offeredBefore = this.#offered;
    let complete: boolean;
    try {
      const directory = await this.workConnection();
      complete = await this.readQueue(directory, present);
      await this.retryDeletes(directory);
    } catch (error) {
      this.log.warn('Reconcile failed; trying again at the next interval', {
        error,
      });
      return;
    }
    if (!complete) {
      return this.readInPart(present.size, this.#offered > offeredBefore);
    }
    this.#scheduler.reconciled(present, startedAt);
    this.log.debug('Reconciled', { present: present.size });
    if (!this.#scheduler.started) this.synchronized(true);
  }

  /**
   * Offers every event the search finds and adds its identity to
   * `present`. Returns false if the server's size limit ended the search
   * early: the events read so far were offered, the rest were not.
   */
  private async readQueue(
    directory: Directory,
    present: Set<string>,
  ): Promise<boolean> {
    const options = {
      scope: 'one' as const,
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      pageSize: PAGE_SIZE,
    };
    try {
      await directory.search(this.config.ldap.queueBase, options, (entry) =>
        present.add(this.offer(entry)),
      );
      return true;
    } catch (error) {
      const limited =
        error instanceof DirectoryError &&
        error.resultCode === ResultCode.sizeLimitExceeded;
      if (limited) return false;
      throw error;
    }
  }

  /**
   * The server's size limit ended the reconcile after `read` events (a
   * paged search does not escape it: OpenLDAP caps a paged search's total
   * at the hard limit, 389 each page at its limit). Those events run now,
   * and the queue is read again as soon as they have run, so a backlog
   * larger than the limit drains one limit's worth at a time. Nothing is
   * forgotten: a partial read proves no event gone.
   *
   * LIMITATION: the events read are the first in the server's order, which
   * on OpenLDAP (back-mdb) and 389 is the order entries were added, so a
   * backlog still runs in order; this rests on the servers, not on RFC
   * 4511. A whole limit's worth of events that cannot run (refused, or
   * failing and waiting out the retry delay) hides the events behind them
   * until some of them leave the queue.
   */
  private readInPart(read: number, fresh: boolean): void {
    const fields = { read, bindDN: this.config.ldap.bindDN };
    const message =
      "The server's size limit ended the reconcile; running the events " +
      'read, then reading the queue again. Lift the limit for the bind ' +
      'identity (OpenLDAP: limits ... size=unlimited; 389: nsSizeLimit: -1)';
    if (this.#sizeLimited) this.log.debug(message, fields);
    else this.log.warn(message, fields);
    this.#sizeLimited = true;

    if (!this.#scheduler.started) this.synchronized(true);
    // Without a new event the same events would be read again at once.
    if (!fresh) return;
    void this.#scheduler.idle().then(() => {
      if (!this.#stopping) void this.reconcile();
    });
  }

  private async execute(event: QueuedEvent): Promise<Outcome> {
    if (this.#stopping) return 'failed';
    const reason = refusal(this.config.conduits, event);
    const conduit = this.config.conduits.get(event.conduit);
    if (reason !== undefined || conduit === undefined) {
      this.reportRefused(event, reason);
      return 'failed';
    }
    const context: RunContext = {
      log: this.log,
      onStart: (run) => (this.#run = run),
      remove: (dn) => this.removeEvent(dn),
    };
    try {
      return await executeEvent(event, conduit, context);
    } finally {
      this.#run = undefined;
    }
  }

  /**
   * Deletes a finished event. A connection that failed mid-way is replaced
   * and the delete tried once more at once; after that the delete waits for
   * the next reconcile, and the event's tombstone keeps it from running.
   */
  private async removeEvent(dn: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const directory = await this.workConnection();
        await directory.delete(dn);
        return;
      } catch (error) {
        const code = (error as DirectoryError).resultCode;
        if (code === ResultCode.noSuchObject) return;
        if (code === undefined && attempt === 1) continue;
        this.#undeleted.add(dn);
        this.log.error('Event ran but could not be deleted; will retry', {
          dn,
          error,
        });
        return;
      }
    }
  }

  private async retryDeletes(directory: Directory): Promise<void> {
    for (const dn of this.#undeleted) {
      this.#undeleted.delete(dn);
      await directory.delete(dn).catch((error: unknown) => {
        const gone =
          error instanceof DirectoryError &&
          error.resultCode === ResultCode.noSuchObject;
        if (!gone) this.#undeleted.add(dn);
      });
    }
  }

  /** Reads an entry and offers its event; returns the entry's identity. */
  private offer(entry: DirectoryEntry): string {
    const reading = readEntry(entry);
    if (reading.kind === 'malformed') {
      this.reportMalformed(reading.malformed);
      return reading.malformed.id;
    }
    const { event } = reading;
    if (this.#scheduler.offer(event)) {
      this.#offered++;
      this.log.debug('Event queued', {
        hash: event.hash,
        conduit: event.conduit,
      });
    }
    return event.id;
  }

  /** Logged as an error once per entry; later retries at debug. */
  private reportRefused(event: QueuedEvent, reason?: string): void {
    const fields = { hash: event.hash, dn: event.dn, reason };
    const first = !this.#refused.has(event.id);
    this.#refused.add(event.id);
    const level = first ? 'error' : 'debug';
    this.log.log(level, 'Event refused; it stays in the queue', fields);
  }

  private reportMalformed({ dn, id, reason }: MalformedEvent): void {
    if (this.#malformed.has(id)) return;
    this.#malformed.add(id);
    this.log.error('Entry is not a valid event; it is not run', { dn, reason });
  }

  private workConnection(): Promise<Directory> {
    const current = this.#work;
    const connect = () =>
      (this.#work = Directory.connect(this.config.ldap, this.password));
    if (current === undefined) return connect();
    return current.then(
      (directory) => (directory.usable ? directory : connect()),
      () => connect(),
    );
  }

  private async closeWork(): Promise<void> {
    const work = this.#work;
    this.#work = undefined;
    await work?.then((directory) => directory.close()).catch(() => undefined);
  }
}
