/**
 * An event: a request to run one conduit, optionally narrowed by arguments.
 *
 * Its identity is the event hash, computed from the conduit name and the
 * arguments in canonical form, so that the same request made twice has the
 * same hash and the same entry name: `eventHash=<hash>,<queueBase>`.
 */
import { createHash } from 'node:crypto';

/** Argument names: a letter, then letters, digits, `_` or `-`. */
export const ARGUMENT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Arguments of an event, by name; at most one value per name. */
export type EventArguments = Readonly<Record<string, string>>;

export interface EventRequest {
  readonly conduit: string;
  readonly arguments: EventArguments;
}

export class ArgumentError extends Error {
  readonly code = 'EQ_BAD_ARGUMENT';
}

/**
 * Parses `name=value` pairs. The value is everything after the first `=`,
 * so values may themselves contain `=`.
 */
export function parseArguments(pairs: readonly string[]): EventArguments {
  const result = new Map<string, string>();
  for (const pair of pairs) {
    const [name, value] = splitArgument(pair);
    if (result.has(name)) {
      throw new ArgumentError(
        `Argument "${name}" is given twice; give each argument once.`,
      );
    }
    result.set(name, value);
  }
  return sortArguments(result);
}

function splitArgument(pair: string): [string, string] {
  const at = pair.indexOf('=');
  if (at < 0) {
    throw new ArgumentError(
      `Argument "${pair}" has no "="; write it as name=value.`,
    );
  }
  const name = pair.slice(0, at);
  if (!ARGUMENT_NAME.test(name)) {
    throw new ArgumentError(
      `Argument name "${name}" in "${pair}" is not valid; expected a letter ` +
        'followed by letters, digits, "_" or "-".',
    );
  }
  return [name, pair.slice(at + 1)];
}

/** The arguments as an object whose keys are in UTF-8 byte order. */
export function sortArguments(
  entries: Iterable<readonly [string, string]>,
): EventArguments {
  const sorted = [...entries].sort(([a], [b]) =>
    Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  return Object.freeze(Object.fromEntries(sorted));
}

/** Arguments as the `name=value` strings stored in `eventArgument`. */
export function formatArguments(args: EventArguments): string[] {
  return Object.entries(args).map(([name, value]) => `${name}=${value}`);
}

/**
 * The event hash: the first 128 bits of SHA-256 over the canonical form,
 * as 32 lowercase hexadecimal digits.
 *
 * The canonical form is the JSON array `[conduit, [[name, value], ...]]`
 * with arguments in UTF-8 byte order of their names. JSON quoting keeps it
 * unambiguous whatever the names and values contain.
 */
export function eventHash(request: EventRequest): string {
  const args = Object.entries(sortArguments(Object.entries(request.arguments)));
  const canonical = JSON.stringify([request.conduit, args]);
  return createHash('sha256')
    .update(canonical, 'utf8')
    .digest('hex')
    .slice(0, 32);
}

export const EVENT_HASH = /^[0-9a-f]{32}$/;
