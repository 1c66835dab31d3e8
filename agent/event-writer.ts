/**
 * Writing one event into the queue, deduplicated by its name.
 *
 * An event's entry is named by its hash (`eventHash=<hash>,<queueBase>`),
 * so the directory itself refuses a second identical pending event with
 * entryAlreadyExists (68). That refusal is the deduplication: it is
 * checked to be the same event, and reported as "already queued".
 * EventQueue.add and EventQueue.addMany both write through here.
 */
import os from 'node:os';
import { checkEvent } from './conduits.js';
import type { ConduitConfig } from './config.js';
import { Directory, DirectoryError, ResultCode } from './directory.js';
import { EVENT_ATTRIBUTES, readEntry } from './entry.js';
import {
  eventHash,
  formatArguments,
  sortArguments,
  type EventRequest,
} from './event.js';

/** A request checked against the conduits, with its name and entry. */
export interface PreparedEvent {
  /** The request with its arguments in canonical order. */
  readonly request: EventRequest;
  readonly hash: string;
  readonly dn: string;
  readonly attributes: Record<string, string | string[]>;
}

/**
 * Checks a request against the configured conduits (throwing
 * RefusedEventError) and computes what to write: nothing is sent.
 */
export function prepareEvent(
  conduits: ReadonlyMap<string, ConduitConfig>,
  base: string,
  request: EventRequest,
  creator: string,
): PreparedEvent {
  checkEvent(conduits, request);
  const canonical: EventRequest = {
    conduit: request.conduit,
    arguments: sortArguments(Object.entries(request.arguments)),
  };
  const hash = eventHash(canonical);
  return {
    request: canonical,
    hash,
    dn: eventDN(base, hash),
    attributes: attributesOf(canonical, hash, creator),
  };
}

/** The DN of the entry the agent and CLI write for an event. */
export function eventDN(base: string, hash: string): string {
  return `eventHash=${hash},${base}`;
}

/**
 * Adds the event's entry. True when it was written; false when an
 * identical event is already pending, so nothing was. Throws
 * DirectoryError when the queue is missing, the name is held by an entry
 * that is not this event, or the directory fails.
 */
export async function writeEvent(
  directory: Directory,
  base: string,
  event: PreparedEvent,
): Promise<boolean> {
  // Two tries: an identical event that finished between our add and our
  // look at it is gone, and this event must then be added after all.
  for (let attempt = 1; ; attempt++) {
    try {
      await directory.add(event.dn, event.attributes);
      return true;
    } catch (error) {
      const existing = await explainAddFailure(directory, base, error, event);
      if (existing === 'queued' || attempt === 2) return false;
    }
  }
}

/** Why an add failed: an identical event is queued, or it just went. */
async function explainAddFailure(
  directory: Directory,
  base: string,
  error: unknown,
  event: PreparedEvent,
): Promise<'queued' | 'gone'> {
  if (!(error instanceof DirectoryError)) throw error;
  if (error.resultCode === ResultCode.entryAlreadyExists) {
    return confirmQueued(directory, event.dn);
  }
  if (error.resultCode === ResultCode.noSuchObject) {
    throw new DirectoryError(
      `The queue ${base} does not exist. Create it (see the README's ` +
        'schema section) or set ldap.queueBase.',
      error.resultCode,
      { cause: error },
    );
  }
  throw error;
}

/**
 * The entry named by the hash exists: make sure it is this event, not an
 * entry written by another client with a wrong eventHash.
 */
async function confirmQueued(
  directory: Directory,
  dn: string,
): Promise<'queued' | 'gone'> {
  const entry = await directory.read(dn, EVENT_ATTRIBUTES);
  if (entry === undefined) return 'gone';
  const reading = readEntry(entry);
  if (reading.kind === 'event') return 'queued';
  throw new DirectoryError(
    `${dn} already exists but is not this event ` +
      `(${reading.malformed.reason}). Nothing was added. Remove or correct ` +
      'that entry (ldapdelete), then add the event again.',
    ResultCode.entryAlreadyExists,
  );
}

function attributesOf(request: EventRequest, hash: string, creator: string) {
  const attributes: Record<string, string | string[]> = {
    objectClass: 'prometheusEvent',
    eventHash: hash,
    eventConduit: request.conduit,
    eventCreator: creator,
  };
  const args = formatArguments(request.arguments);
  if (args.length > 0) attributes.eventArgument = args;
  return attributes;
}

/** user@host of this process, recorded as the event's creator. */
export function defaultCreator(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}
