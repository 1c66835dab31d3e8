/**
 * The reconcile: a full, paged search of the queue that offers every event
 * it finds, so that an event whose notification was lost still runs; and
 * of the running area, so that an event whose agent died while running it
 * runs again once the claim has lapsed.
 */
import type { Claims } from './claims.js';
import type { Config } from './config.js';
import { DirectoryError, ResultCode, type Directory } from './directory.js';
import { EVENT_ATTRIBUTES, type DirectoryEntry } from './entry.js';
import type { QueuedEvent } from './entry.js';
import { leaseOf } from './execute.js';
import type { Logger } from './log.js';
import type { AgentObserver } from './observer.js';
import { areaBase } from './areas.js';
import { EVENT_FILTER, PAGE_SIZE } from './queue.js';
import type { Scheduler } from './scheduler.js';

export interface ReconcilerContext {
  /** Read at each reconcile, so that a reload applies from the next one. */
  readonly config: () => Config;
  readonly log: Logger;
  readonly observer: AgentObserver;
  readonly claims: Claims;
  readonly scheduler: Scheduler;
  readonly directory: () => Promise<Directory>;
  /** Offers an entry's event; returns the entry's identity. */
  readonly offer: (entry: DirectoryEntry) => string;
  /** How many events the scheduler has taken as new, so far. */
  readonly offered: () => number;
  /** Starts the runs, the queue having been read in full. */
  readonly synchronized: () => void;
  /** A complete read: the queue fits the server's size limit. */
  readonly complete: () => void;
  readonly stopping: () => boolean;
}

export class Reconciler {
  #running: Promise<void> | undefined;
  #sizeLimited = false;

  constructor(private readonly context: ReconcilerContext) {}

  /** Runs a reconcile, or joins the one under way. */
  run(): Promise<void> {
    this.#running ??= this.reconcile().finally(
      () => (this.#running = undefined),
    );
    return this.#running;
  }

  /** Resolves when no reconcile is under way. */
  async settled(): Promise<void> {
    await this.#running;
  }

  private async reconcile(): Promise<void> {
    const { scheduler, log } = this.context;
    const startedAt = Date.now();
    const present = new Set<string>();
    const offeredBefore = this.context.offered();
    let complete: boolean;
    try {
      complete = await this.readQueue(present);
      await this.recoverLapsedClaims();
    } catch (error) {
      log.warn('Reconcile failed; trying again at the next interval', {
        error,
      });
      return;
    }
    if (!complete) {
      const fresh = this.context.offered() > offeredBefore;
      return this.readInPart(present.size, fresh);
    }
    scheduler.reconciled(present, startedAt);
    this.context.complete();
    const failed = await this.countFailed();
    this.context.observer.reconciled(present.size, failed);
    log.debug('Reconciled', { present: present.size, failed });
    if (!scheduler.started) this.context.synchronized();
  }

  /**
   * Offers every event the search finds and adds its identity to
   * `present`. Returns false if the server's size limit ended the search
   * early: the events read so far were offered, the rest were not.
   */
  private async readQueue(present: Set<string>): Promise<boolean> {
    const directory = await this.context.directory();
    const options = {
      scope: 'one' as const,
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      pageSize: PAGE_SIZE,
    };
    try {
      await directory.search(
        this.context.config().ldap.queueBase,
        options,
        (entry) => present.add(this.context.offer(entry)),
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
   * 4511. A whole limit's worth of events that cannot run (waiting out a
   * retry delay) hides the events behind them until some leave the queue.
   */
  private readInPart(read: number, fresh: boolean): void {
    const { scheduler, log } = this.context;
    const config = this.context.config();
    const fields = { read, bindDN: config.ldap.bindDN };
    const message =
      "The server's size limit ended the reconcile; running the events " +
      'read, then reading the queue again. Lift the limit for the bind ' +
      'identity (OpenLDAP: limits ... size=unlimited; 389: nsSizeLimit: -1)';
    if (this.#sizeLimited) log.debug(message, fields);
    else log.warn(message, fields);
    this.#sizeLimited = true;

    if (!scheduler.started) this.context.synchronized();
    // Without a new event the same events would be read again at once.
    if (!fresh) return;
    void scheduler.idle().then(() => {
      if (!this.context.stopping()) void this.run();
    });
  }

  /**
   * Counts the failed area with a one-level search that returns no
   * attributes. Undefined if the search fails (a size limit, say): the
   * gauge then keeps its last value.
   */
  private async countFailed(): Promise<number | undefined> {
    const base = areaBase(this.context.config().ldap.queueBase, 'failed');
    const options = {
      scope: 'one' as const,
      filter: EVENT_FILTER,
      attributes: ['1.1'],
      pageSize: PAGE_SIZE,
    };
    let count = 0;
    try {
      const directory = await this.context.directory();
      await directory.search(base, options, () => count++);
      return count;
    } catch {
      return undefined;
    }
  }

  /** Moves events whose claim lapsed back to the queue, or to failed. */
  private async recoverLapsedClaims(): Promise<void> {
    const { claims, scheduler, log } = this.context;
    const config = this.context.config();
    const lease = (event: QueuedEvent) => {
      const conduit = config.conduits.get(event.conduit);
      return conduit === undefined ? 0 : leaseOf(config, conduit);
    };
    for (const event of await claims.lapsed(Date.now(), lease)) {
      if (scheduler.isRunning(event.id)) continue;
      const holder = event.claimedBy ?? 'an agent';
      const attempts = config.conduits.get(event.conduit)?.attempts ?? 1;
      const reason = `the claim of ${holder} lapsed during attempt ${event.attempts}`;
      const fields = { hash: event.hash, conduit: event.conduit, holder };
      if (event.attempts >= attempts) {
        await claims.fail(event.dn, reason);
        log.error('Claim lapsed on the last attempt; event failed', fields);
      } else {
        await claims.release(event.dn, { lastError: reason });
        log.warn('Claim lapsed; event back in the queue', fields);
      }
    }
  }
}
