/**
 * The scheduler decides which event runs next and runs one at a time.
 *
 * Every event the agent learns of, from the watch or the reconcile, is
 * offered here. An event is in exactly one of these states:
 *
 *   pending  known, waiting its turn
 *   running  its conduit is running (at most one event)
 *   held     its last run failed; it waits out the retry delay, then
 *            becomes pending again
 *   done     it ran and was deleted; kept as a tombstone so that a late
 *            sighting (a reconcile page read before the delete) is ignored
 *
 * Offers of an event that is already known are ignored, so an event seen by
 * both the watch and the reconcile runs once. Ordering is by
 * `compareEvents`: each arrival queues one task on a p-queue of concurrency
 * 1, and a task runs whichever pending event is earliest when it starts, so
 * events that arrive out of order still run in creation order.
 */
import PQueue from 'p-queue';
import { compareEvents, type QueuedEvent } from './entry.js';

export type Outcome = 'done' | 'failed';

export type Execute = (event: QueuedEvent) => Promise<Outcome>;

interface Known {
  event: QueuedEvent;
  state: 'pending' | 'running' | 'held' | 'done';
  /** When the event was last offered or finished (ms since epoch). */
  since: number;
  retry?: NodeJS.Timeout;
}

export class Scheduler {
  readonly #known = new Map<string, Known>();
  readonly #queue = new PQueue({ concurrency: 1, autoStart: false });
  #stopping = false;

  constructor(
    private readonly execute: Execute,
    private readonly retryDelayMs: number,
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
      if (known.state === 'pending') known.event = event;
      return false;
    }
    this.#known.set(event.id, { event, state: 'pending', since: Date.now() });
    this.enqueue();
    return true;
  }

  /** The entry is gone from the directory: forget the event unless running. */
  withdraw(id: string): void {
    const known = this.#known.get(id);
    if (known === undefined || known.state === 'running') return;
    if (known.state === 'done') return;
    clearTimeout(known.retry);
    this.#known.delete(id);
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
      clearTimeout(known.retry);
      this.#known.delete(id);
    }
  }

  /** Pending events in the order they will run. */
  pending(): QueuedEvent[] {
    return [...this.#known.values()]
      .filter((known) => known.state === 'pending')
      .map((known) => known.event)
      .sort(compareEvents);
  }

  get running(): QueuedEvent | undefined {
    for (const known of this.#known.values()) {
      if (known.state === 'running') return known.event;
    }
    return undefined;
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

  private enqueue(): void {
    if (this.#stopping) return;
    void this.#queue.add(() => this.runNext());
  }

  private async runNext(): Promise<void> {
    const next = this.pending()[0];
    if (next === undefined || this.#stopping) return;
    const known = this.#known.get(next.id) as Known;
    known.state = 'running';
    const outcome = await this.execute(next).catch((): Outcome => 'failed');
    known.since = Date.now();
    if (outcome === 'done') known.state = 'done';
    else this.hold(known);
  }

  private hold(known: Known): void {
    known.state = 'held';
    if (this.#stopping) return;
    known.retry = setTimeout(() => {
      known.state = 'pending';
      known.since = Date.now();
      this.enqueue();
    }, this.retryDelayMs);
  }
}
