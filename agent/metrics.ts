/**
 * The agent's Prometheus metrics, in a registry of its own, and the state
 * the health endpoint reports. Fed through the AgentObserver calls, so no
 * other module knows about prom-client.
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import type { AgentObserver, EventOutcome, RunTiming } from './observer.js';
import type { ChosenMode } from './watch/select.js';

const MODES: readonly ChosenMode[] = ['syncrepl', 'psearch', 'poll'];

/** Conduits run from under a second to many minutes. */
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** An event waits from a second (a watch) to hours (a backlog). */
const DELAY_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 14400];

export interface WatchHealth {
  readonly mode: ChosenMode | undefined;
  readonly up: boolean;
  /** When the watch was last lost, or the agent started (ms). */
  readonly downSince: number;
  /** When the last complete reconcile ended (ms), if any. */
  readonly lastReconcile: number | undefined;
}

export class Metrics implements AgentObserver {
  readonly registry = new Registry();
  readonly #events = new Counter({
    name: 'eventqueue_events_total',
    help: 'Turns of events that ended, by conduit and outcome',
    labelNames: ['conduit', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'eventqueue_run_duration_seconds',
    help: 'How long conduit runs took',
    labelNames: ['conduit'] as const,
    buckets: RUN_BUCKETS,
    registers: [this.registry],
  });
  readonly #startDelay = new Histogram({
    name: 'eventqueue_event_start_delay_seconds',
    help: "From an event's creation to the start of its run",
    buckets: DELAY_BUCKETS,
    registers: [this.registry],
  });
  readonly #pending = this.gauge(
    'eventqueue_pending_events',
    'Events in the queue at the last complete reconcile',
  );
  readonly #failed = this.gauge(
    'eventqueue_failed_events',
    'Events in the failed area at the last complete reconcile',
  );
  readonly #mode = new Gauge({
    name: 'eventqueue_watch_mode',
    help: 'The watch mode in use (1) and the others (0)',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly #reconnects = new Counter({
    name: 'eventqueue_watch_reconnects_total',
    help: 'Times the watch connected again after it was lost',
    registers: [this.registry],
  });
  readonly #lastReconcile = this.gauge(
    'eventqueue_last_reconcile_timestamp_seconds',
    'When the last complete reconcile ended, in seconds since the epoch',
  );
  #health: WatchHealth = {
    mode: undefined,
    up: false,
    downSince: Date.now(),
    lastReconcile: undefined,
  };
  #everUp = false;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  get health(): WatchHealth {
    return this.#health;
  }

  event(conduit: string, outcome: EventOutcome, run?: RunTiming): void {
    this.#events.inc({ conduit, outcome });
    if (run === undefined) return;
    this.#duration.observe({ conduit }, run.durationSeconds);
    if (run.startDelaySeconds !== undefined) {
      this.#startDelay.observe(Math.max(0, run.startDelaySeconds));
    }
  }

  watchMode(mode: ChosenMode): void {
    for (const each of MODES) this.#mode.set({ mode: each }, +(each === mode));
    this.#health = { ...this.#health, mode };
  }

  watchState(state: 'up' | 'lost'): void {
    const { up, downSince } = this.#health;
    if (state === 'up' && !up && this.#everUp) this.#reconnects.inc();
    if (state === 'up') this.#everUp = true;
    this.#health = {
      ...this.#health,
      up: state === 'up',
      // The first failure of an outage starts it; retries do not.
      downSince: state === 'lost' && up ? Date.now() : downSince,
    };
  }

  reconciled(pending: number, failed: number | undefined): void {
    const now = Date.now();
    this.#pending.set(pending);
    if (failed !== undefined) this.#failed.set(failed);
    this.#lastReconcile.set(now / 1000);
    this.#health = { ...this.#health, lastReconcile: now };
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }
}
