/**
 * A batch line in JSON: `{"conduit": "NAME", "arguments": {"name":
 * "value"}}`, for values the words form cannot carry. It is read strictly:
 * a misspelt key must not turn an event for one user into an event with
 * no arguments, which a conduit may take as "everyone".
 */
import {
  ArgumentError,
  excerpt,
  sortArguments,
  type EventRequest,
} from '../agent/event.js';

const KEYS = new Set(['conduit', 'arguments']);

const EXPECTED =
  'expected {"conduit": "NAME", "arguments": {"name": "value"}} with ' +
  'strings only';

/** The event of one JSON line; ArgumentError saying why not. */
export function parseJsonLine(text: string): EventRequest {
  const value = parseJson(text);
  if (!isObject(value)) {
    throw new ArgumentError(`${EXPECTED}, got ${excerpt(text)}.`);
  }
  const unknown = Object.keys(value).filter((key) => !KEYS.has(key));
  if (unknown.length > 0) {
    throw new ArgumentError(
      `unknown key ${unknown.map(excerpt).join(', ')}; ${EXPECTED}.`,
    );
  }
  const { conduit, arguments: args = {} } = value;
  if (typeof conduit !== 'string') {
    throw new ArgumentError(`${EXPECTED}; "conduit" is not a string.`);
  }
  if (!isObject(args)) {
    throw new ArgumentError(`${EXPECTED}; "arguments" is not an object.`);
  }
  const pairs = Object.entries(args);
  const bad = pairs.find(([, each]) => typeof each !== 'string');
  if (bad !== undefined) {
    throw new ArgumentError(
      `${EXPECTED}; the value of argument ${excerpt(bad[0])} is not a ` +
        'string.',
    );
  }
  // Names and the number of arguments are checked with the limits.
  return { conduit, arguments: sortArguments(pairs as [string, string][]) };
}

/** The line's value, refused if it is not JSON or repeats a key. */
function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ArgumentError(
      `the line starts with "{" but is not JSON (${(error as Error).message}).`,
    );
  }
  // JSON.parse keeps the last of two equal keys without a word.
  const repeated = repeatedKey(text);
  if (repeated !== undefined) {
    throw new ArgumentError(
      `the key ${excerpt(repeated)} is given twice in one object; give ` +
        'each key, and each argument, once.',
    );
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first key that one object of `text`, valid JSON, holds twice, or
 * undefined. Keys are compared as decoded, so "v" and "\u0076" are equal.
 *
 * The scan keeps one set of keys per open object (null for an array) and
 * knows a string is a key when it follows `{` or, inside an object, `,`.
 */
export function repeatedKey(text: string): string | undefined {
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let at = 0; at < text.length; at++) {
    switch (text[at]) {
      case '{':
        open.push(new Set());
        keyNext = true;
        break;
      case '[':
        open.push(null);
        keyNext = false;
        break;
      case '}':
      case ']':
        open.pop();
        keyNext = false;
        break;
      case ',':
        keyNext = open.at(-1) instanceof Set;
        break;
      case '"': {
        const end = stringEnd(text, at);
        if (keyNext) {
          const key = JSON.parse(text.slice(at, end + 1)) as string;
          const keys = open.at(-1) as Set<string>;
          if (keys.has(key)) return key;
          keys.add(key);
          keyNext = false;
        }
        at = end;
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

/** The index of the quote that ends the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  for (let at = start + 1; at < text.length; at++) {
    if (text[at] === '\\') at++;
    else if (text[at] === '"') return at;
  }
  return text.length - 1;
}
