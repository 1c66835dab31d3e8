/**
 * The actions that add events: --add and --trigger (with --wait), and
 * --add-batch.
 */
import type { Config } from '../agent/config.js';
import type { EventRequest } from '../agent/event.js';
import { EventQueue, type AddResult } from '../agent/queue.js';
import { batchJson, batchSummary, type Batch } from './batch.js';
import { describeRequest } from './format.js';
import { write } from './output.js';
import { describeOutcome, exitCodeOf, follow, type Followed } from './wait.js';

export interface AddOptions {
  json: boolean;
  /** How long --wait waits; undefined without --wait. */
  waitMs: number | undefined;
  /** The trigger's name, for --trigger. */
  trigger?: string;
}

/**
 * Adds the events (all checked before the first is written), then with
 * --wait follows them. JSON is one object for --add, and for --trigger an
 * object with the trigger's name and a list of them.
 */
export async function add(
  queue: EventQueue,
  requests: readonly EventRequest[],
  options: AddOptions,
) {
  const results: AddResult[] = [];
  for (const request of requests) {
    const result = await queue.add(request);
    results.push(result);
    if (!options.json) write(`${addedLine(result, request)}\n`);
  }
  const { waitMs } = options;
  const followed =
    waitMs === undefined ? undefined : await follow(queue, results, waitMs);
  if (followed !== undefined) process.exitCode = exitCodeOf(followed);
  if (options.json) return writeAdded(requests, results, followed, options);
  for (const each of followed ?? []) {
    const line = `${describeOutcome(each, waitMs ?? 0)}\n`;
    if (each.outcome === 'ran') write(line);
    else process.stderr.write(line);
  }
}

function addedLine(result: AddResult, request: EventRequest): string {
  const what = describeRequest(request.conduit, request.arguments);
  return result.added
    ? `Queued event ${result.hash}: ${what}`
    : `Already queued as event ${result.hash}: ${what}`;
}

function writeAdded(
  requests: readonly EventRequest[],
  results: readonly AddResult[],
  followed: readonly Followed[] | undefined,
  options: AddOptions,
): void {
  const events = results.map((result, at) => {
    const { conduit, arguments: args } = requests[at] as EventRequest;
    const { hash, dn, added } = result;
    const id = result.id ?? null;
    const outcome = followed?.[at];
    const waited =
      outcome === undefined
        ? {}
        : { outcome: outcome.outcome, reason: outcome.reason };
    return { hash, dn, added, id, conduit, arguments: args, ...waited };
  });
  if (options.trigger === undefined) return write(events[0], true);
  write({ trigger: options.trigger, events }, true);
}

/** The exit status of a process ended by SIGINT, as a shell reports it. */
const INTERRUPTED = 128 + 2;

/**
 * --add-batch, once every line is checked: the events are added with
 * EventQueue.addMany. Ctrl-C part way says how many went in first.
 */
export async function addBatch(config: Config, batch: Batch, json = false) {
  let added = 0;
  const interrupted = () => {
    process.stderr.write(interruptedBatch(added, batch.requests.length));
    process.exit(INTERRUPTED);
  };
  process.once('SIGINT', interrupted);
  try {
    const queue = await EventQueue.open(config);
    try {
      const results = await queue.addMany(batch.requests, {
        onAdded: () => added++,
      });
      write(json ? batchJson(batch, results) : batchSummary(results), json);
    } finally {
      await queue.close();
    }
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}

function interruptedBatch(added: number, total: number): string {
  return (
    `Interrupted: at least ${added} of the batch's ${total} events were ` +
    'added (adds in flight may have been applied too). Adding the same ' +
    'batch again is safe: events still pending are reported as already ' +
    'queued.\n'
  );
}
