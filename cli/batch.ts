/**
 * --add-batch FILE: events read from a file or standard input, one a line,
 * all checked before the first is written.
 *
 * A line is either the words of the command line, `CONDUIT name=value
 * ...`, separated by spaces or tabs (the value is everything after the
 * first `=`, so it may hold `=`, commas and any other character but a
 * space); or, for values with spaces, a JSON object `{"conduit": "...",
 * "arguments": {"name": "value"}}`, read strictly (see json-line.ts).
 * Empty lines and lines starting with `#` are skipped.
 */
import { readFile } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { refusal, RefusedEventError } from '../agent/conduits.js';
import type { ConduitConfig } from '../agent/config.js';
import {
  ArgumentError,
  parseArguments,
  type EventRequest,
} from '../agent/event.js';
import type { BatchResult } from '../agent/queue-batch.js';
import { parseJsonLine } from './json-line.js';

/** The events of a batch, each with the line it came from (from 1). */
export interface Batch {
  readonly requests: EventRequest[];
  readonly lines: number[];
}

/** Refused lines listed in the error at most; the rest are counted. */
const LISTED_PROBLEMS = 20;

/** The bytes of FILE, or of standard input for `-`. */
export function readBatch(file: string): Promise<Buffer> {
  return file === '-' ? buffer(process.stdin) : readFile(file);
}

/**
 * The events of a batch, each checked against the conduits. Any line
 * that is not a valid event, or that the configuration refuses, refuses
 * the whole batch: RefusedEventError naming each such line.
 */
export function parseBatch(
  bytes: Buffer,
  conduits: ReadonlyMap<string, ConduitConfig>,
): Batch {
  const batch: Batch = { requests: [], lines: [] };
  const problems: string[] = [];
  splitLines(bytes).forEach((line, at) => {
    try {
      const request = parseLine(line);
      if (request === undefined) return;
      const reason = refusal(conduits, request);
      if (reason !== undefined) throw new ArgumentError(reason);
      batch.requests.push(request);
      batch.lines.push(at + 1);
    } catch (error) {
      if (!(error instanceof ArgumentError)) throw error;
      problems.push(`line ${at + 1}: ${error.message}`);
    }
  });
  if (problems.length > 0) throw refused(problems);
  return batch;
}

function refused(problems: readonly string[]): RefusedEventError {
  const listed = problems.slice(0, LISTED_PROBLEMS);
  const more = problems.length - listed.length;
  return new RefusedEventError(
    `The batch is refused and nothing was added: ${problems.length} ` +
      `${problems.length === 1 ? 'line is' : 'lines are'} not valid. ` +
      'Correct them and give the whole batch again.\n  ' +
      [...listed, ...(more > 0 ? [`and ${more} more`] : [])].join('\n  '),
  );
}

/** The lines as text; undefined for a line that is not UTF-8. */
function splitLines(bytes: Buffer): (string | undefined)[] {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const lines: (string | undefined)[] = [];
  for (let start = 0; start < bytes.length;) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline;
    const line = bytes.subarray(start, end);
    try {
      lines.push(utf8.decode(line).replace(/\r$/, ''));
    } catch {
      lines.push(undefined);
    }
    start = end + 1;
  }
  return lines;
}

/** One line's event; undefined for an empty line or a comment. */
function parseLine(line: string | undefined): EventRequest | undefined {
  if (line === undefined) {
    throw new ArgumentError('the line is not valid UTF-8.');
  }
  const text = line.replace(/^[ \t]+|[ \t]+$/g, '');
  if (text === '' || text.startsWith('#')) return undefined;
  if (text.startsWith('{')) return parseJsonLine(text);
  const [conduit, ...pairs] = text.split(/[ \t]+/);
  return { conduit: conduit as string, arguments: parseArguments(pairs) };
}

/** The text summary: how many were added and how many already queued. */
export function batchSummary(results: readonly BatchResult[]): string {
  const added = results.filter((result) => result.added).length;
  const repeated = results.filter(
    (result) => result.duplicateOf !== undefined,
  ).length;
  const queued = results.length - added;
  const noun = added === 1 ? 'event' : 'events';
  const within =
    repeated === 0 ? '' : ` (${repeated} repeated within the batch)`;
  return `Added ${added} ${noun}; ${queued} already queued${within}\n`;
}

/** --json: one object per event, in the order of the lines. */
export function batchJson(batch: Batch, results: readonly BatchResult[]) {
  return results.map((result, at) => {
    const { conduit, arguments: args } = batch.requests[at] as EventRequest;
    const { hash, dn, added } = result;
    return { line: batch.lines[at], hash, dn, added, conduit, arguments: args };
  });
}
