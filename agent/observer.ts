/**
 * What the agent tells whoever watches it from outside (the metrics and
 * the health endpoint): one call per finished turn, watch change and
 * reconcile. The agent works the same with no observer at all.
 */
import type { ChosenMode } from './watch/select.js';

/** How a turn ended, as counted in `eventqueue_events_total`. */
export type EventOutcome = 'ran' | 'failed' | 'retried' | 'refused' | 'covered';

export interface RunTiming {
  /** From the event's creation to its run's start; unknown if undefined. */
  readonly startDelaySeconds: number | undefined;
  readonly durationSeconds: number;
}

export interface AgentObserver {
  /** A turn of an event of `conduit` ended; `run` if a conduit ran. */
  event(conduit: string, outcome: EventOutcome, run?: RunTiming): void;
  /** The watch mode was chosen. */
  watchMode(mode: ChosenMode): void;
  /** The watch connected (`up`) or was lost (`lost`). */
  watchState(state: 'up' | 'lost'): void;
  /** A complete reconcile found this many events pending and failed. */
  reconciled(pending: number, failed: number | undefined): void;
}

export const NO_OBSERVER: AgentObserver = {
  event: () => undefined,
  watchMode: () => undefined,
  watchState: () => undefined,
  reconciled: () => undefined,
};
