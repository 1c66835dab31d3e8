/**
 * --wait: after adding events, follow each until it has run, failed or
 * outlasted the timeout, and turn the outcomes into one exit status.
 */
import { DirectoryError, ResultCode } from '../agent/directory.js';
import type { AddResult, EventQueue, WaitOutcome } from '../agent/queue.js';
import { visible } from './format.js';
import { ExitCode } from '../agent/process.js';

/** How long --wait waits without --timeout. @default 10 minutes */
export const DEFAULT_WAIT_MS = 10 * 60_000;

export interface Followed {
  readonly hash: string;
  /**
   * `unknown`: the wait was cut short (the directory connection was lost);
   * the event was added and may still run.
   */
  readonly outcome: WaitOutcome['outcome'] | 'unknown';
  /** Why it failed (eventLastError), for `failed`; why the wait ended, for `unknown`. */
  readonly reason: string | null;
  /** pending or running, for `timeout`. */
  readonly state: string | null;
}

/** Waits for every added event at once, with one shared deadline. */
export function follow(
  queue: EventQueue,
  added: readonly AddResult[],
  timeoutMs: number,
): Promise<Followed[]> {
  return Promise.all(added.map((each) => followOne(queue, each, timeoutMs)));
}

async function followOne(
  queue: EventQueue,
  added: AddResult,
  timeoutMs: number,
): Promise<Followed> {
  let outcome: WaitOutcome;
  try {
    outcome = await waitFor(queue, added, timeoutMs);
  } catch (error) {
    if (!(error instanceof DirectoryError)) throw error;
    return {
      hash: added.hash,
      outcome: 'unknown',
      reason: error.message,
      state: null,
    };
  }
  const base = { hash: added.hash, outcome: outcome.outcome };
  switch (outcome.outcome) {
    case 'ran':
      return { ...base, reason: null, state: null };
    case 'failed':
      return { ...base, reason: outcome.event.lastError ?? null, state: null };
    case 'timeout':
      return { ...base, reason: null, state: outcome.area };
    default:
      return outcome satisfies never;
  }
}

/**
 * Follows the entry by the entryUUID read after the add. Without one the
 * event had left the pending and running areas within moments of the add:
 * a failed entry with its hash means it failed, none that it ran.
 */
async function waitFor(
  queue: EventQueue,
  added: AddResult,
  timeoutMs: number,
): Promise<WaitOutcome> {
  try {
    return await queue.wait(added.id ?? added.hash, timeoutMs);
  } catch (error) {
    if (!(error instanceof DirectoryError)) throw error;
    const gone =
      added.id === undefined && error.resultCode === ResultCode.noSuchObject;
    if (!gone) throw stoppedWaiting(added.hash, error);
    return { outcome: 'ran', id: added.hash };
  }
}

/** The wait failed (the connection was lost, say); the event is queued. */
function stoppedWaiting(hash: string, error: DirectoryError) {
  return new DirectoryError(
    `Stopped waiting for event ${hash}: ${error.message} The event stays ` +
      'queued and may still run; see --display, and --failed if it fails.',
    error.resultCode,
    { cause: error },
  );
}

/**
 * 5 if the wait for any event was cut short, else 6 if any event failed,
 * else 7 if any is still queued, else 0.
 */
export function exitCodeOf(followed: readonly Followed[]): number {
  if (followed.some((each) => each.outcome === 'unknown')) {
    return ExitCode.directory;
  }
  if (followed.some((each) => each.outcome === 'failed')) {
    return ExitCode.eventFailed;
  }
  if (followed.some((each) => each.outcome === 'timeout')) {
    return ExitCode.waitTimedOut;
  }
  return 0;
}

/** One line for a person: how the event ended. */
export function describeOutcome(each: Followed, timeoutMs: number): string {
  switch (each.outcome) {
    case 'ran':
      return `Event ${each.hash} ran`;
    case 'failed':
      return (
        `Event ${each.hash} failed: ${visible(each.reason ?? 'no reason')} ` +
        `(see --failed; --retry ${each.hash} to run it again)`
      );
    case 'timeout':
      return (
        `Event ${each.hash} is still ${each.state} after ` +
        `${timeoutMs / 1000}s; it stays queued`
      );
    case 'unknown':
      return `Error: ${each.reason ?? 'the wait ended'}`;
    default:
      return each.outcome satisfies never;
  }
}
