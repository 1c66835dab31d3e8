/**
 * An event: a request to run one conduit, optionally narrowed by arguments.
 *
 * Its identity is the event hash, computed from the conduit name and the
 * arguments in canonical form, so that the same request made twice has the
 * same hash and the same entry name: `eventHash=<hash>,<queueBase>`.
 */
import { createHash } from 'node:crypto';

/**
 * Limits on what one event may carry. The CLI and the API refuse an event
 * over any of them before writing anything (exit status 4); the agent moves
 * an entry over them, written by another client, to the failed area with
 * the reason. Both apply {@link limitViolation}, so the two paths cannot
 * disagree. The limits bound what one entry can cost the agent, its log
 * and a conduit's argv, whoever wrote it.
 *
 * Control characters (C0, U+0000 to U+001F, and DEL, U+007F) are refused
 * outright in values and conduit names, tab and newline included: they
 * would forge lines in the log file and in a conduit's own output, and NUL
 * cannot be passed in an argv at all. So are the C1 controls (U+0080 to
 * U+009F, among them an 8-bit terminal escape) and the bidirectional
 * controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069),
 * which make a log line or a `--display` table read otherwise than it is.
 */
export const EVENT_LIMITS = {
  /** Arguments of one event. */
  arguments: 32,
  /** Characters of an argument name (all ASCII, see ARGUMENT_NAME). */
  nameLength: 64,
  /** Bytes of UTF-8 in one argument value. */
  valueBytes: 4096,
  /** Bytes of UTF-8 in the conduit name. */
  conduitBytes: 256,
} as const;

/** Argument names: a letter, then letters, digits, `_` or `-`. */
export const ARGUMENT_NAME = new RegExp(
  `^[A-Za-z][A-Za-z0-9_-]{0,${EVENT_LIMITS.nameLength - 1}}$`,
);

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
 * so values may themselves contain `=`. More pairs than the limit are
 * refused before any is looked at.
 */
export function parseArguments(pairs: readonly string[]): EventArguments {
  if (pairs.length > EVENT_LIMITS.arguments) {
    throw new ArgumentError(tooManyArguments(pairs.length));
  }
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
      `Argument ${excerpt(pair)} has no "="; write it as name=value.`,
    );
  }
  const name = pair.slice(0, at);
  if (!ARGUMENT_NAME.test(name)) {
    throw new ArgumentError(
      `Argument name ${excerpt(name)} in ${excerpt(pair)} is not valid; ` +
        `expected a letter followed by up to ${EVENT_LIMITS.nameLength - 1} ` +
        'letters, digits, "_" or "-".',
    );
  }
  return [name, pair.slice(at + 1)];
}

/**
 * Why the request is over one of the EVENT_LIMITS, or undefined if it is
 * within them all. The reason is a sentence naming the part and the limit.
 */
export function limitViolation(request: EventRequest): string | undefined {
  const conduit = textViolation('The conduit name', request.conduit);
  if (conduit !== undefined) return conduit;
  const conduitBytes = Buffer.byteLength(request.conduit, 'utf8');
  if (conduitBytes > EVENT_LIMITS.conduitBytes) {
    return (
      `The conduit name is ${conduitBytes} bytes of UTF-8; at most ` +
      `${EVENT_LIMITS.conduitBytes} are allowed.`
    );
  }
  const args = Object.entries(request.arguments);
  if (args.length > EVENT_LIMITS.arguments) {
    return tooManyArguments(args.length);
  }
  for (const [name, value] of args) {
    const reason = argumentViolation(name, value);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/** Throws ArgumentError if the request is over one of the EVENT_LIMITS. */
export function checkLimits(request: EventRequest): void {
  const reason = limitViolation(request);
  if (reason !== undefined) throw new ArgumentError(reason);
}

function argumentViolation(name: string, value: string): string | undefined {
  if (!ARGUMENT_NAME.test(name)) {
    return (
      `Argument name ${excerpt(name)} is not valid; expected a letter ` +
      `followed by up to ${EVENT_LIMITS.nameLength - 1} letters, digits, ` +
      '"_" or "-".'
    );
  }
  const text = textViolation(`The value of argument "${name}"`, value);
  if (text !== undefined) return text;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > EVENT_LIMITS.valueBytes) {
    return (
      `The value of argument "${name}" is ${bytes} bytes of UTF-8; at most ` +
      `${EVENT_LIMITS.valueBytes} are allowed.`
    );
  }
  return undefined;
}

/** Bidirectional controls: they reorder how the text around them shows. */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** A control character or a lone surrogate (not encodable as UTF-8). */
function textViolation(what: string, text: string): string | undefined {
  for (let at = 0; at < text.length; at++) {
    const unit = text.charCodeAt(at);
    const control = unit < 0x20 || (unit >= 0x7f && unit <= 0x9f);
    if (control || BIDI_CONTROLS.test(text[at] as string)) {
      const code = unit.toString(16).toUpperCase().padStart(4, '0');
      const kind = control ? 'control' : 'bidirectional control';
      return (
        `${what} contains the ${kind} character U+${code} at position ` +
        `${at}; control characters (U+0000 to U+001F, U+007F to U+009F) ` +
        'and bidirectional controls are not allowed.'
      );
    }
  }
  if (/\p{Surrogate}/u.test(text)) {
    return `${what} is not valid Unicode (it has a lone surrogate).`;
  }
  return undefined;
}

function tooManyArguments(count: number): string {
  return (
    `The event has ${count} arguments; at most ${EVENT_LIMITS.arguments} ` +
    'are allowed.'
  );
}

/**
 * A string quoted for a message, cut to its first 64 characters: a reason
 * quoting a value of a megabyte would be a megabyte in the log.
 */
export function excerpt(text: string): string {
  if (text.length <= 64) return JSON.stringify(text);
  const bytes = Buffer.byteLength(text, 'utf8');
  return `${JSON.stringify(text.slice(0, 64))}... (${bytes} bytes)`;
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
