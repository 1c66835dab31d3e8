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
 * `compareEvents`: a heap keeps the pending events, and one task at a time
 * on a p-queue of concurrency 1 runs whichever pending event is earliest
 * when it starts, so events that arrive out of order still run in creation
 * order. Each turn queues the next while pending events remain, so a
 * backlog of n events costs O(log n) per event, not a task per arrival.
 *
 * Before `start()` no turn runs, except for an event that the agent has
 * proved to be the earliest in the whole queue (`runAhead`): the start of
 * a large backlog need not wait until all of it has been read.
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
  readonly #queue = new PQueue({ concurrency: 1 });
  /** Whether a turn is queued and has not yet begun. */
  #turnQueued = false;
  #started = false;
  #markStarted: () => void = () => undefined;
  readonly #startedSignal = new Promise<void>(
    (resolve) => (this.#markStarted = resolve),
  );
  /** How many known events are in the pending state. */
  #pendingCount = 0;
  /** Pending events without arguments, by conduit, for coalescing. */
  readonly #withoutArguments = new Map<string, number>();
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
    if (this.#stopping || this.#started) return;
    this.#started = true;
    this.#markStarted();
    this.queueTurn();
  }

  get started(): boolean {
    return this.#started;
  }

  /** How many events are pending (not running, held or done). */
  get pendingCount(): number {
    return this.#pendingCount;
  }

  /** The pending event that would run next, if the scheduler ran. */
  earliest(): QueuedEvent | undefined {
    for (;;) {
      const known = this.#order.peek();
      if (known === undefined) return undefined;
      if (this.isCurrentPending(known)) return known.event;
      this.#order.pop();
    }
  }

  /**
   * Before start(): runs `event`, which the caller has proved to be the
   * earliest event in the whole queue, if it is still the earliest pending
   * here when its turn comes. Resolves when that turn is over. After
   * start() the ordinary turns run it, and this does nothing.
   */
  runAhead(event: QueuedEvent): Promise<void> {
    return this.#queue.add(async () => {
      if (this.#started || this.#stopping) return;
      if (this.earliest()?.id !== event.id) return;
      await this.runTurn(this.takeEarliest() as QueuedEvent);
    });
  }

  /** Offers an event; returns true if it was not known before. */
  offer(event: QueuedEvent): boolean {
    const known = this.#known.get(event.id);
    if (known !== undefined) {
      // The entry as last read; its attempts may have been counted since.
      if (known.state === 'pending' || known.state === 'held') {
        // Through setState, so that the counts follow the new arguments.
        const state = known.state;
        this.setState(known, 'held');
        known.event = event;
        this.setState(known, state);
      }
      return false;
    }
    const entry: Known = { event, state: 'held', since: Date.now() };
    this.#known.set(event.id, entry);
    const notBefore = event.notBefore?.getTime() ?? 0;
    if (notBefore > Date.now()) this.hold(entry, notBefore);
    else this.enqueue(entry);
    return true;
  }

  /**
   * Whether offering the entry with this identity and entryCSN would change
   * nothing: the event is known and running or done, or was read with the
   * same CSN. Lets a reconcile skip reading 100,000 entries it already has.
   */
  unchanged(id: string, csn: string | undefined): boolean {
    const known = this.#known.get(id);
    if (known === undefined) return false;
    if (known.state === 'running' || known.state === 'done') return true;
    return csn !== undefined && known.event.csn === csn;
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

  /** Pending events in the order they will run. O(n log n): not per turn. */
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

  /**
   * Resolves when no event is running and none is pending; before start(),
   * only once started if any is pending.
   */
  async idle(): Promise<void> {
    if (!this.#started && this.#pendingCount > 0) await this.#startedSignal;
    await this.#queue.onIdle();
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
    this.setState(known, 'pending');
    this.#order.push(known);
    this.queueTurn();
  }

  /** Queues one turn, unless one is already waiting to begin. */
  private queueTurn(): void {
    if (!this.#started || this.#turnQueued || this.#stopping) return;
    if (this.#pendingCount === 0) return;
    this.#turnQueued = true;
    void this.#queue.add(async () => {
      this.#turnQueued = false;
      await this.runNext();
      // Queued before this task ends, so that idle() cannot resolve
      // between two turns of a backlog.
      this.queueTurn();
    });
  }

  private isCurrentPending(known: Known): boolean {
    return (
      known.state === 'pending' && this.#known.get(known.event.id) === known
    );
  }

  /** The earliest pending event, taken off the order. */
  private takeEarliest(): QueuedEvent | undefined {
    for (;;) {
      const known = this.#order.pop();
      if (known === undefined) return undefined;
      if (this.isCurrentPending(known)) return known.event;
    }
  }

  private async runNext(): Promise<void> {
    if (this.#stopping) return;
    const earliest = this.takeEarliest();
    if (earliest === undefined) return;
    await this.runTurn(earliest);
  }

  private async runTurn(earliest: QueuedEvent): Promise<void> {
    const [chosen, covered] = this.coalesce(earliest);
    const known = this.#known.get(chosen.id) as Known;
    this.setState(known, 'running');
    const coveredKnown = covered.map((event) => this.#known.get(event.id));
    for (const each of coveredKnown) if (each) this.setState(each, 'running');

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

  /**
   * The event to run instead of `earliest`, and the events it covers.
   * Looking through every pending event is O(n), but only when the conduit
   * has a pending event without arguments, and such a turn covers the
   * conduit's earlier events at once.
   */
  private coalesce(earliest: QueuedEvent): [QueuedEvent, QueuedEvent[]] {
    const { conduit } = earliest;
    if (!this.coalesces(conduit)) return [earliest, []];
    if (!this.#withoutArguments.get(conduit)) return [earliest, []];
    const pending = this.pendingOf(conduit);
    const full = pending.find((e) => Object.keys(e.arguments).length === 0);
    if (full === undefined) return [earliest, []];
    const covered = pending.filter(
      (e) => Object.keys(e.arguments).length > 0 && compareEvents(e, full) < 0,
    );
    return [full, covered];
  }

  /** The conduit's pending events, in the order they will run. */
  private pendingOf(conduit: string): QueuedEvent[] {
    const found: QueuedEvent[] = [];
    for (const known of this.#known.values()) {
      const { event } = known;
      if (known.state === 'pending' && event.conduit === conduit) {
        found.push(event);
      }
    }
    return found.sort(compareEvents);
  }

  /** Changes an event's state, keeping the pending counts. */
  private setState(known: Known, state: Known['state']): void {
    if (known.state === state) return;
    if (known.state === 'pending') this.countPending(known.event, -1);
    if (state === 'pending') this.countPending(known.event, 1);
    known.state = state;
  }

  private countPending(event: QueuedEvent, change: 1 | -1): void {
    this.#pendingCount += change;
    if (Object.keys(event.arguments).length > 0) return;
    const count = (this.#withoutArguments.get(event.conduit) ?? 0) + change;
    if (count === 0) this.#withoutArguments.delete(event.conduit);
    else this.#withoutArguments.set(event.conduit, count);
  }

  private settle(id: string, known: Known, outcome: Outcome): void {
    known.since = Date.now();
    switch (outcome.kind) {
      case 'done':
        this.setState(known, 'done');
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
    this.enqueue(known);
  }

  private hold(known: Known, until: number): void {
    this.setState(known, 'held');
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
    this.setState(known, 'done');
    this.#known.delete(id);
  }
}

const DONE: Outcome = { kind: 'done' };
