/**
 * Adding many events at once: EventQueue.addMany and the CLI's
 * --add-batch.
 *
 * Every request is checked before the first is written, so a refused one
 * leaves the queue as it was. The adds then go over the queue's one
 * connection with up to `inFlight` of them outstanding, instead of one
 * round trip each; each is written by writeEvent, as EventQueue.add does,
 * so deduplication means the same: an identical pending event is "already
 * queued", and nothing is written for it.
 */
import PQueue from 'p-queue';
import { refusal, RefusedEventError } from './conduits.js';
import type { Config } from './config.js';
import { DirectoryError, type Directory } from './directory.js';
import type { EventRequest } from './event.js';
import {
  defaultCreator,
  prepareEvent,
  writeEvent,
  type PreparedEvent,
} from './event-writer.js';

/**
 * Adds outstanding at once by default: see BatchOptions.inFlight. Below
 * OpenLDAP's conn_max_pending (100, for an anonymous connection), over
 * which, once its threads are busy, it closes the connection.
 */
export const DEFAULT_IN_FLIGHT = 64;

export interface BatchOptions {
  /**
   * How many adds may be outstanding on the connection at once. The
   * server may apply adds in flight together in any order (OpenLDAP runs
   * them on several threads), and so give them entryCSNs, hence run
   * order, that differ from the order of the requests; 1 keeps that order
   * strictly, at one round trip per event.
   * @default 64
   */
  inFlight?: number;
  /** Recorded as each event's eventCreator. @default user@host */
  creator?: string;
  /**
   * Called once for each event written, as its add is confirmed: a
   * caller interrupted part way can say how many went in.
   */
  onAdded?: () => void;
}

export interface BatchResult {
  readonly hash: string;
  readonly dn: string;
  /**
   * False when an identical event was already pending, or came earlier in
   * the same batch: nothing was written for this one.
   */
  readonly added: boolean;
  /** The index of an earlier identical request in the batch, if any. */
  readonly duplicateOf?: number;
}

/** Why one request of a batch is refused; `index` counts from 0. */
export interface BatchRefusal {
  readonly index: number;
  readonly reason: string;
}

/** Some requests of a batch are refused; nothing was written. */
export class RefusedBatchError extends RefusedEventError {
  constructor(readonly refusals: readonly BatchRefusal[]) {
    const [first] = refusals;
    super(
      `${refusals.length} of the events are refused, so none was added; ` +
        `the first, at index ${first?.index}: ${first?.reason}`,
    );
  }
}

/** What addMany needs of an EventQueue. */
export interface BatchTarget {
  readonly directory: Directory;
  readonly config: Config;
  readonly base: string;
}

/**
 * Adds the events, returning one result per request in request order.
 * Throws RefusedBatchError, before writing anything, if the configuration
 * refuses any of them. A directory failure part way leaves the events
 * added so far in the queue; adding the same batch again is safe, since
 * those still pending are then reported as already queued.
 */
export async function addMany(
  target: BatchTarget,
  requests: readonly EventRequest[],
  options: BatchOptions = {},
): Promise<BatchResult[]> {
  const inFlight = checkInFlight(options.inFlight ?? DEFAULT_IN_FLIGHT);
  const prepared = prepareAll(target, requests, options.creator);
  const firstOf = new Map<string, number>();
  const results: BatchResult[] = prepared.map((event, index) => {
    const duplicateOf = firstOf.get(event.hash);
    if (duplicateOf === undefined) firstOf.set(event.hash, index);
    const { hash, dn } = event;
    return { hash, dn, added: false, duplicateOf };
  });
  const written = await writeAll(target, prepared, [...firstOf.values()], {
    inFlight,
    onAdded: options.onAdded,
  });
  return results.map((result, index) =>
    written.has(index) ? { ...result, added: true } : result,
  );
}

function checkInFlight(inFlight: number): number {
  if (Number.isInteger(inFlight) && inFlight >= 1) return inFlight;
  throw new RangeError(
    `Expected inFlight to be a whole number of at least 1, got ${inFlight}.`,
  );
}

/** Every request checked and prepared; RefusedBatchError if any fails. */
function prepareAll(
  target: BatchTarget,
  requests: readonly EventRequest[],
  creator = defaultCreator(),
): PreparedEvent[] {
  const { conduits } = target.config;
  const refusals: BatchRefusal[] = [];
  requests.forEach((request, index) => {
    const reason = refusal(conduits, request);
    if (reason !== undefined) refusals.push({ index, reason });
  });
  if (refusals.length > 0) throw new RefusedBatchError(refusals);
  return requests.map((request) =>
    prepareEvent(conduits, target.base, request, creator),
  );
}

/**
 * Writes the events at `indexes`, in that order, up to `inFlight` at
 * once; returns the indexes of those written. On the first failure no
 * further add is sent, and the outstanding ones are let finish first.
 */
async function writeAll(
  target: BatchTarget,
  events: readonly PreparedEvent[],
  indexes: readonly number[],
  { inFlight, onAdded }: Pick<BatchOptions, 'onAdded'> & { inFlight: number },
): Promise<Set<number>> {
  const { directory, base } = target;
  const written = new Set<number>();
  const pipeline = new PQueue({ concurrency: inFlight });
  const write = async (index: number) => {
    const event = events[index] as PreparedEvent;
    if (!(await writeEvent(directory, base, event))) return;
    written.add(index);
    onAdded?.();
  };
  try {
    await Promise.all(indexes.map((index) => pipeline.add(() => write(index))));
  } catch (error) {
    pipeline.clear();
    await pipeline.onIdle();
    throw partialFailure(error, written.size, indexes.length);
  }
  return written;
}

/**
 * A directory failure, saying how much of the batch went in before it:
 * at least the adds confirmed, since those in flight when the connection
 * was lost may have been applied without their answer arriving.
 */
function partialFailure(error: unknown, added: number, total: number) {
  if (!(error instanceof DirectoryError)) return error;
  return new DirectoryError(
    `${error.message} At least ${added} of the batch's ${total} distinct ` +
      'events were added before this; adding the batch again is safe ' +
      '(events still pending are reported as already queued).',
    error.resultCode,
    { cause: error },
  );
}
