/**
 * Reading events from directory entries.
 *
 * Entries reach the agent from two sources (the watch and the reconcile
 * search); both are turned into a `DirectoryEntry` and then read here, so an
 * event means the same thing whichever way it arrived.
 */
import {
  ArgumentError,
  eventHash,
  limitViolation,
  parseArguments,
  type EventRequest,
} from './event.js';

/** An entry as returned by a search, attribute names in lower case. */
export interface DirectoryEntry {
  readonly dn: string;
  readonly attributes: ReadonlyMap<string, readonly Buffer[]>;
}

/** An event as it stands in the queue. */
export interface QueuedEvent extends EventRequest {
  readonly dn: string;
  readonly hash: string;
  /** The entry's identity across renames: entryUUID, nsUniqueId or DN. */
  readonly id: string;
  /** `createTimestamp`; one-second resolution on both servers. */
  readonly created: Date | undefined;
  /** `entryCSN` (OpenLDAP), which orders adds within one second. */
  readonly csn: string | undefined;
  /** `eventCreator` if the writer set it, else `creatorsName`. */
  readonly creator: string | undefined;
  /** Runs of this event that have started (`eventAttempts`). */
  readonly attempts: number;
  /** Not to run before this time (`eventNotBefore`), after a failure. */
  readonly notBefore: Date | undefined;
  /** Why the last run failed (`eventLastError`). */
  readonly lastError: string | undefined;
  /** The agent holding the claim, while the event is running. */
  readonly claimedBy: string | undefined;
  /** When that claim lapses (`eventClaimExpires`). */
  readonly claimExpires: Date | undefined;
  /** `modifyTimestamp`; a move between areas updates it. */
  readonly modified: Date | undefined;
}

/** An entry of class prometheusEvent that cannot be read as an event. */
export interface MalformedEvent {
  readonly dn: string;
  readonly id: string;
  readonly reason: string;
}

export type EntryReading =
  | { readonly kind: 'event'; readonly event: QueuedEvent }
  | { readonly kind: 'malformed'; readonly malformed: MalformedEvent };

/** The attributes every search for events asks for. */
export const EVENT_ATTRIBUTES = [
  'objectClass',
  'eventHash',
  'eventConduit',
  'eventArgument',
  'eventCreator',
  'eventAttempts',
  'eventNotBefore',
  'eventLastError',
  'eventClaimedBy',
  'eventClaimExpires',
  'createTimestamp',
  'modifyTimestamp',
  'creatorsName',
  'entryCSN',
  'entryUUID',
  'nsUniqueId',
];

const utf8 = new TextDecoder('utf-8', { fatal: true });

class MalformedEntryError extends Error {}

export function readEntry(entry: DirectoryEntry): EntryReading {
  const id = entryId(entry);
  try {
    return { kind: 'event', event: readEvent(entry, id) };
  } catch (error) {
    if (!(error instanceof MalformedEntryError)) throw error;
    return {
      kind: 'malformed',
      malformed: { dn: entry.dn, id, reason: error.message },
    };
  }
}

function readEvent(entry: DirectoryEntry, id: string): QueuedEvent {
  const request: EventRequest = {
    conduit: readConduit(entry),
    arguments: readArguments(entry),
  };
  // The limits the CLI and the API apply before writing: an entry written
  // by another client over them never reaches a conduit.
  const overLimit = limitViolation(request);
  if (overLimit !== undefined) throw new MalformedEntryError(overLimit);
  const hash = eventHash(request);
  const stored = single(entry, 'eventhash');
  // A wrong eventHash would let this entry stand in for (and block the
  // deduplicated add of) a different event, so it is not trusted.
  if (stored !== undefined && stored.toLowerCase() !== hash) {
    throw new MalformedEntryError(
      `eventHash ${stored} does not match its conduit and arguments, ` +
        `which hash to ${hash}`,
    );
  }
  // Every property written out, in one literal: a spread followed by
  // more properties leaves V8 a slower, larger object, and a backlog keeps
  // 100,000 of these.
  return {
    conduit: shared(request.conduit),
    arguments: request.arguments,
    dn: entry.dn,
    hash,
    id,
    created: sharedTime(single(entry, 'createtimestamp')),
    csn: single(entry, 'entrycsn'),
    creator: sharedText(
      single(entry, 'eventcreator') ?? single(entry, 'creatorsname'),
    ),
    attempts: Number(single(entry, 'eventattempts') ?? 0) || 0,
    notBefore: parseGeneralizedTime(single(entry, 'eventnotbefore')),
    lastError: single(entry, 'eventlasterror'),
    claimedBy: single(entry, 'eventclaimedby'),
    claimExpires: parseGeneralizedTime(single(entry, 'eventclaimexpires')),
    modified: sharedTime(single(entry, 'modifytimestamp')),
  };
}

/**
 * Values that many events repeat (a conduit's name, the writer's DN, a
 * timestamp to the second) are kept once and shared, a few hundred bytes
 * less per event in a backlog. The table is emptied when it fills, so
 * distinct values cannot grow it without bound. Shared Dates are never
 * modified: nothing in the agent or the CLI calls a setter on an event's.
 */
const SHARED_LIMIT = 1024;
const sharedTexts = new Map<string, string>();
const sharedTimes = new Map<string, Date | undefined>();

function shared(text: string): string {
  const known = sharedTexts.get(text);
  if (known !== undefined) return known;
  if (sharedTexts.size >= SHARED_LIMIT) sharedTexts.clear();
  sharedTexts.set(text, text);
  return text;
}

function sharedText(text: string | undefined): string | undefined {
  return text === undefined ? undefined : shared(text);
}

function sharedTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  if (sharedTimes.has(text)) return sharedTimes.get(text);
  if (sharedTimes.size >= SHARED_LIMIT) sharedTimes.clear();
  const time = parseGeneralizedTime(text);
  sharedTimes.set(text, time);
  return time;
}

function readConduit(entry: DirectoryEntry): string {
  const values = strings(entry, 'eventconduit');
  if (values.length !== 1 || values[0] === '') {
    throw new MalformedEntryError(
      `expected one non-empty eventConduit, found ${values.length}`,
    );
  }
  return values[0] as string;
}

/** The arguments, read by the same parser as the CLI's `--args`. */
function readArguments(entry: DirectoryEntry) {
  try {
    return parseArguments(strings(entry, 'eventargument'));
  } catch (error) {
    if (!(error instanceof ArgumentError)) throw error;
    throw new MalformedEntryError(error.message);
  }
}

function strings(entry: DirectoryEntry, type: string): string[] {
  return (entry.attributes.get(type) ?? []).map((value) => {
    try {
      return utf8.decode(value);
    } catch {
      throw new MalformedEntryError(`${type} has a value that is not UTF-8`);
    }
  });
}

/** The first value of an attribute (its type in lower case), as text. */
export function single(
  entry: DirectoryEntry,
  type: string,
): string | undefined {
  return entry.attributes.get(type)?.[0]?.toString('utf8');
}

/** The identity readEntry would give the entry, without reading it. */
export function entryId(entry: DirectoryEntry): string {
  return (
    single(entry, 'entryuuid') ??
    single(entry, 'nsuniqueid') ??
    entry.dn
  ).toLowerCase();
}

/**
 * The entry's entryCSN (OpenLDAP), which every change to it replaces:
 * an entry read again with the same CSN has not changed. Undefined on
 * servers without it.
 */
export function entryChangeMark(entry: DirectoryEntry): string | undefined {
  return single(entry, 'entrycsn');
}

/** Formats a time as LDAP GeneralizedTime in UTC, to the second. */
export function formatGeneralizedTime(time: Date): string {
  return time
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Parses LDAP GeneralizedTime in UTC, as servers write createTimestamp. */
export function parseGeneralizedTime(value?: string): Date | undefined {
  const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:[.,](\d+))?Z$/.exec(
    value ?? '',
  );
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match
    .slice(1, 7)
    .map(Number) as [number, number, number, number, number, number];
  const ms = Math.round(Number(`0.${match[7] ?? 0}`) * 1000);
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
}

/**
 * The order events run in: creation time, then entryCSN (which OpenLDAP
 * gives to the microsecond, with a change counter), then DN.
 */
export function compareEvents(a: QueuedEvent, b: QueuedEvent): number {
  const byTime = (a.created?.getTime() ?? 0) - (b.created?.getTime() ?? 0);
  if (byTime !== 0) return byTime;
  const byCsn = compareStrings(a.csn ?? '', b.csn ?? '');
  return byCsn !== 0 ? byCsn : compareStrings(a.dn, b.dn);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
