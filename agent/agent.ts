/**
 * The agent: watch the queue, order its events, run each conduit, and
 * remove the event once its run succeeded.
 *
 * Two connections: the watch's own (see watch/), and the work connection
 * here for deletes and the reconcile search. The reconcile runs every
 * `agent.reconcileInterval` and offers every entry it finds, so an event
 * whose notification was lost still runs.
 */
import os from 'node:os';
import { ensureAreas } from './areas.js';
import { Claims } from './claims.js';
import type { Config } from './config.js';
import { Directory, DirectoryError, ResultCode } from './directory.js';
import {
  entryChangeMark,
  entryId,
  readEntry,
  type DirectoryEntry,
  type MalformedEvent,
  type QueuedEvent,
} from './entry.js';
import { EarlyStart } from './early-start.js';
import { Executor } from './execute.js';
import { type Logger } from './log.js';
import { NO_OBSERVER, type AgentObserver } from './observer.js';
import { Reconciler } from './reconciler.js';
import { reloadable } from './reload.js';
import { ConduitRun } from './runner.js';
import { Scheduler } from './scheduler.js';
import { chooseWatchMode, type ChosenMode } from './watch/select.js';
import type { Watch, WatchListener } from './watch/watch.js';
import { notifyReady } from './systemd.js';

export type WatchFactory = (mode: ChosenMode, listener: WatchListener) => Watch;

export class Agent implements WatchListener {
  readonly #scheduler: Scheduler;
  #watch: Watch | undefined;
  readonly #claims: Claims;
  readonly #reconciler: Reconciler;
  readonly #early: EarlyStart;
  /** Whether the first reconcile has been started. */
  #firstReconcile = false;
  readonly #malformed = new Set<string>();
  /** DNs whose run succeeded but whose delete failed; retried. */
  readonly #undeleted = new Set<string>();
  #work: Promise<Directory> | undefined;
  #reconcileTimer: NodeJS.Timeout | undefined;
  #run: ConduitRun | undefined;
  #grace: NodeJS.Timeout | undefined;
  #stopping = false;
  /** How many events the scheduler has taken as new. */
  #offered = 0;
  /** Replaced by a reload; each turn and reconcile reads the current one. */
  #config: Config;

  constructor(
    config: Config,
    private readonly password: string | undefined,
    private readonly log: Logger,
    private readonly createWatch: WatchFactory,
    private readonly observer: AgentObserver = NO_OBSERVER,
  ) {
    this.#config = config;
    const current = () => this.#config;
    const directory = () => this.workConnection();
    this.#claims = new Claims(directory, config.ldap.queueBase, holderName());
    const executor = new Executor({
      config: current,
      log,
      observer,
      claims: this.#claims,
      remove: (dn) => this.removeEvent(dn),
      onRun: (run) => (this.#run = run),
      stopping: () => this.#stopping,
    });
    this.#scheduler = new Scheduler(
      (event, covered) => executor.execute(event, covered),
      (conduit) => this.#config.conduits.get(conduit)?.coalesce ?? false,
    );
    this.#early = new EarlyStart(
      this.#scheduler,
      directory,
      config.ldap.queueBase,
      log,
    );
    this.#reconciler = new Reconciler({
      config: current,
      log,
      observer,
      claims: this.#claims,
      scheduler: this.#scheduler,
      directory,
      offer: (entry) => this.offer(entry),
      offered: () => this.#offered,
      synchronized: () => this.synchronized(true),
      complete: () => this.#watch?.resume?.(),
      stopping: () => this.#stopping,
    });
  }

  /**
   * Connects, chooses the watch mode, starts the watch and the first
   * reconcile. Rejects if the directory cannot be reached or lacks a
   * watch mode the configuration insists on.
   */
  async start(): Promise<void> {
    this.log.info('Agent starting', {
      queue: this.#config.ldap.queueBase,
      url: this.#config.ldap.url,
      conduits: this.#config.conduits.size,
      holder: this.#claims.holder,
    });
    const directory = await this.workConnection();
    await ensureAreas(directory, this.#config.ldap.queueBase);
    const mode = await chooseWatchMode(this.#config, directory, this.log);
    this.observer.watchMode(mode);
    this.#watch = this.createWatch(mode, this);
    this.#watch.start();
    if (mode === 'poll') this.reconcileFirst();
    this.#reconcileTimer = setInterval(
      () => void this.reconcile(),
      this.#config.agent.reconcileIntervalMs,
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
    }, this.#config.agent.shutdownGraceMs);
    await Promise.all([idle, this.#watch?.stop(), this.#reconciler.settled()]);
    clearTimeout(this.#grace);
    await this.closeWork();
    this.log.info('Agent stopped');
  }

  get config(): Config {
    return this.#config;
  }

  /**
   * Takes the conduits and log level of `next` for the next runs; the run
   * under way keeps its own. Other settings stay as they were started.
   */
  reload(next: Config): void {
    this.#config = reloadable(this.#config, next);
    this.log.level = next.agent.logLevel;
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

  watchState(state: 'up' | 'lost'): void {
    this.observer.watchState(state);
    // A watch that cannot read the queue (down, or over the size limit)
    // leaves it to the reconcile.
    if (state === 'lost') this.reconcileFirst();
  }

  /**
   * The first reconcile gives the whole queue even when the watch resumes
   * from a cookie and reports only what changed, and recovers lapsed
   * claims. It waits for the watch's first refresh (or its failure): run
   * beside a full refresh it would read the same queue at the same time,
   * doubling the work of a large backlog's start; after a full refresh it
   * runs while the events do.
   */
  private reconcileFirst(): void {
    if (this.#firstReconcile) return;
    this.#firstReconcile = true;
    void this.reconcile();
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
    if (!complete) return this.reconcileFirst();
    this.log.info('Queue read; running events', {
      pending: this.#scheduler.pendingCount,
      ranBeforeRead: this.#early.ran,
    });
    this.#scheduler.start();
    void notifyReady(`Watching ${this.config.ldap.queueBase}`);
    this.reconcileFirst();
  }

  /** A full, paged search of the queue; offers every event it finds. */
  async reconcile(): Promise<void> {
    await this.#reconciler.run();
    await this.retryDeletes();
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

  private async retryDeletes(): Promise<void> {
    if (this.#undeleted.size === 0) return;
    const directory = await this.workConnection().catch(() => undefined);
    if (directory === undefined) return;
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
    const id = entryId(entry);
    if (this.#scheduler.unchanged(id, entryChangeMark(entry))) return id;
    const reading = readEntry(entry);
    if (reading.kind === 'malformed') {
      this.reportMalformed(reading.malformed);
      return reading.malformed.id;
    }
    const { event } = reading;
    if (this.#scheduler.offer(event)) {
      this.#offered++;
      // Checked first: a backlog's offers would build 100,000 log records.
      if (this.log.isDebugEnabled()) {
        this.log.debug('Event queued', {
          hash: event.hash,
          conduit: event.conduit,
        });
      }
    }
    if (!this.#scheduler.started) this.#early.consider();
    return event.id;
  }

  /** An entry that can never run goes to the failed area, once. */
  private reportMalformed({ dn, id, reason }: MalformedEvent): void {
    if (this.#malformed.has(id)) return;
    this.#malformed.add(id);
    this.log.error('Entry is not a valid event; moved to the failed area', {
      dn,
      reason,
    });
    this.#claims.fail(dn, `not a valid event: ${reason}`).catch((error) =>
      this.log.warn('Cannot move the entry to the failed area', {
        dn,
        error,
      }),
    );
  }

  /**
   * The work connection, opened again when it was lost. Concurrent callers
   * share one new connection: only the first to find the old one unusable
   * replaces it.
   */
  private workConnection(): Promise<Directory> {
    const current = this.#work;
    if (current === undefined) return this.replaceWork(current);
    return current.then(
      (directory) => (directory.usable ? directory : this.replaceWork(current)),
      () => this.replaceWork(current),
    );
  }

  private replaceWork(
    stale: Promise<Directory> | undefined,
  ): Promise<Directory> {
    if (this.#work !== stale) return this.workConnection();
    this.#work = Directory.connect(this.#config.ldap, this.password);
    return this.#work;
  }

  private async closeWork(): Promise<void> {
    const work = this.#work;
    this.#work = undefined;
    await work?.then((directory) => directory.close()).catch(() => undefined);
  }
}

/** Who this agent is, in the claims it records: host and process. */
function holderName(): string {
  return `${os.hostname()}:${process.pid}`;
}
