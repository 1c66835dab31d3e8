/**
 * The scheduler decides which event runs next and runs one at a time.
 *
 * Every event the agent learns of, from the watch or the reconcile, is
 * offered here. An event is in exactly one of these states:
 *
 *   pending  known, waiting its turn
 *   running  being claimed or run (at most one event), or covered by the
 *            run of a coalescing conduit
 *   held     not to run before a time: its last run failed, or an identical
 *            event is running elsewhere; then it becomes pending again
 *   done     it ran and its entry was deleted; kept as a tombstone so that a
 *            late sighting (a reconcile page read before the delete) is
 *            ignored. Its entryUUID can never come back.
 *
 * An event that left this agent's hands otherwise (claimed by another
 * agent, moved to the failed area) is forgotten, so that it is taken up
 * again if it ever returns to the queue.
 *
 * Offers of an event that is already known are ignored, so an event seen by
 * both the watch and the reconcile runs once. Ordering is by
 * `compareEvents`: each arrival queues one task on a p-queue of concurrency
 * 1, and a task runs whichever pending event is earliest when it starts, so
 * events that arrive out of order still run in creation order.
 *
 * Coalescing: when the earliest event belongs to a coalescing conduit and
 * that conduit also has a pending event without arguments, that event runs
 * instead, and the pending events of the conduit with arguments created
 * before it are handed over as covered by it.
 */
import PQueue from 'p-queue';
import { compareEvents, type QueuedEvent } from './entry.js';
import { Heap } from './heap.js';

/** What became of an event after its turn. */
export type Outcome =
  /** It ran and was deleted. */
  | { readonly kind: 'done' }
  /** It is no longer this agent's: claimed elsewhere, or failed for good. */
  | { readonly kind: 'left' }
  /**
   * It is back in the queue, not to run before `at` (ms since epoch),
   * with `attempts` runs so far.
   */
  | { readonly kind: 'retry'; readonly at: number; readonly attempts: number };

export interface Execution {
  readonly outcome: Outcome;
  /** Whether the covered events were removed from the queue. */
  readonly coveredRemoved: boolean;
}

export type Execute = (
  event: QueuedEvent,
  covered: readonly QueuedEvent[],
) => Promise<Execution>;

interface Known {
  event: QueuedEvent;
  state: 'pending' | 'running' | 'held' | 'done';
  /** When the event was last offered or finished (ms since epoch). */
  since: number;
  retry?: NodeJS.Timeout;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** After an unexpected error in a turn, the event waits this long. */
const ERROR_RETRY_MS = 5000;

export class Scheduler {
  readonly #known = new Map<string, Known>();
  readonly #queue = new PQueue({ concurrency: 1, autoStart: false });
  /**
   * Pending events by run order. Entries are not removed when an event
   * leaves the pending state, only skipped when they reach the top.
   */
  readonly #order = new Heap<Known>((a, b) => compareEvents(a.event, b.event));
  #stopping = false;

  constructor(
    private readonly execute: Execute,
    /** Whether a conduit's run without arguments covers runs with them. */
    private readonly coalesces: (conduit: string) => boolean,
  ) {}

  /** Starts running events; until then they only accumulate. */
  start(): void {
    if (!this.#stopping) this.#queue.start();
  }

  get started(): boolean {
    return !this.#queue.isPaused;
  }

  /** Offers an event; returns true if it was not known before. */
  offer(event: QueuedEvent): boolean {
    const known = this.#known.get(event.id);
    if (known !== undefined) {
      // The entry as last read; its attempts may have been counted since.
      if (known.state === 'pending' || known.state === 'held') {
        known.event = event;
      }
      return false;
    }
    const entry: Known = { event, state: 'pending', since: Date.now() };
    this.#known.set(event.id, entry);
    const notBefore = event.notBefore?.getTime() ?? 0;
    if (notBefore > Date.now()) this.hold(entry, notBefore);
    else this.enqueue(entry);
    return true;
  }

  /** The entry is gone from the queue: forget the event unless running. */
  withdraw(id: string): void {
    const known = this.#known.get(id);
    if (known === undefined || known.state === 'running') return;
    if (known.state === 'done') return;
    this.forget(id, known);
  }

  /**
   * After a complete search that started at `startedAt` and found `present`:
   * forgets pending or held events that were known before the search but not
   * found, and tombstones older than the search, which no later search or
   * notification can bring back.
   */
  reconciled(present: ReadonlySet<string>, startedAt: number): void {
    for (const [id, known] of this.#known) {
      const before = known.since < startedAt;
      if (!before || present.has(id) || known.state === 'running') continue;
      this.forget(id, known);
    }
  }

  /** Pending events in the order they will run. */
  pending(): QueuedEvent[] {
    return [...this.#known.values()]
      .filter((known) => known.state === 'pending')
      .map((known) => known.event)
      .sort(compareEvents);
  }

  /** Whether this agent is running (or claiming) the event. */
  isRunning(id: string): boolean {
    return this.#known.get(id)?.state === 'running';
  }

  /** Resolves when no event is running and none is pending. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /** Stops starting events and waits for the running one to finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#queue.clear();
    for (const known of this.#known.values()) clearTimeout(known.retry);
    await this.#queue.onIdle();
  }

  private enqueue(known: Known): void {
    if (this.#stopping) return;
    this.#order.push(known);
    void this.#queue.add(() => this.runNext());
  }

  /** The earliest pending event, taken off the order. */
  private takeEarliest(): QueuedEvent | undefined {
    for (;;) {
      const known = this.#order.pop();
      if (known === undefined) return undefined;
      const current = this.#known.get(known.event.id) === known;
      if (current && known.state === 'pending') return known.event;
    }
  }

  private async runNext(): Promise<void> {
    if (this.#stopping) return;
    const earliest = this.takeEarliest();
    if (earliest === undefined) return;
    const [chosen, covered] = this.coalesce(earliest);
    const known = this.#known.get(chosen.id) as Known;
    known.state = 'running';
    const coveredKnown = covered.map((event) => this.#known.get(event.id));
    for (const each of coveredKnown) if (each) each.state = 'running';

    const execution = await this.execute(chosen, covered).catch(
      (): Execution => ({
        outcome: {
          kind: 'retry',
          at: Date.now() + ERROR_RETRY_MS,
          attempts: chosen.attempts,
        },
        coveredRemoved: false,
      }),
    );
    this.settle(chosen.id, known, execution.outcome);
    for (const each of coveredKnown) {
      if (each === undefined) continue;
      if (execution.coveredRemoved) this.settle(each.event.id, each, DONE);
      else this.requeue(each);
    }
  }

  /** The event to run instead of `earliest`, and the events it covers. */
  private coalesce(earliest: QueuedEvent): [QueuedEvent, QueuedEvent[]] {
    const { conduit } = earliest;
    if (!this.coalesces(conduit)) return [earliest, []];
    const pending = this.pending().filter((e) => e.conduit === conduit);
    const full = pending.find((e) => Object.keys(e.arguments).length === 0);
    if (full === undefined) return [earliest, []];
    const covered = pending.filter(
      (e) => Object.keys(e.arguments).length > 0 && compareEvents(e, full) < 0,
    );
    return [full, covered];
  }

  private settle(id: string, known: Known, outcome: Outcome): void {
    known.since = Date.now();
    switch (outcome.kind) {
      case 'done':
        known.state = 'done';
        return;
      case 'left':
        this.forget(id, known);
        return;
      case 'retry':
        known.event = { ...known.event, attempts: outcome.attempts };
        this.hold(known, outcome.at);
        return;
    }
  }

  private requeue(known: Known): void {
    known.state = 'pending';
    this.enqueue(known);
  }

  private hold(known: Known, until: number): void {
    known.state = 'held';
    if (this.#stopping) return;
    clearTimeout(known.retry);
    known.retry = setTimeout(
      () => {
        known.since = Date.now();
        this.requeue(known);
      },
      // A timer holds at most 2^31 - 1 ms; a later time is looked at again.
      Math.min(Math.max(0, until - Date.now()), MAX_TIMER_MS),
    );
  }

  private forget(id: string, known: Known): void {
    clearTimeout(known.retry);
    this.#known.delete(id);
  }
}

const DONE: Outcome = { kind: 'done' };
