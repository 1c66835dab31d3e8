/**
 * The event queue as programs see it: add, list and delete events, and
 * look after failed ones (list, retry, purge).
 *
 * This is the module account tools import; the CLI is a thin layer over it.
 *
 * @example
 *   const queue = await EventQueue.open(loadConfig(configFile(undefined)));
 *   const { hash, added } = await queue.add({
 *     conduit: 'Prometheus::Conduits::RoleExpander',
 *     arguments: { username: 'juser' },
 *   });
 *   await queue.close();
 */
import os from 'node:os';
import { areaBase, inArea, type Area } from './areas.js';
import { checkEvent } from './conduits.js';
import { readPassword, type Config } from './config.js';
import {
  Directory,
  DirectoryError,
  ResultCode,
  type Modification,
} from './directory.js';
import {
  EVENT_ATTRIBUTES,
  compareEvents,
  readEntry,
  type MalformedEvent,
  type QueuedEvent,
} from './entry.js';
import {
  eventHash,
  formatArguments,
  sortArguments,
  type EventRequest,
} from './event.js';

export const EVENT_FILTER = '(objectClass=prometheusEvent)';

/**
 * Reconcile and display page through the queue this many entries at once:
 * below common server size limits (OpenLDAP's default is 500, and 389
 * applies its limit to each page).
 */
export const PAGE_SIZE = 250;

export interface AddResult {
  readonly hash: string;
  readonly dn: string;
  /** False when an identical event was already queued: nothing written. */
  readonly added: boolean;
}

/** The readable events of one area, and the entries that are not. */
export interface AreaListing {
  readonly events: QueuedEvent[];
  /** Entries of class prometheusEvent that are not valid events. */
  readonly malformed: MalformedEvent[];
}

export interface QueueListing extends AreaListing {
  /** Pending events in the order they will run. */
  readonly events: QueuedEvent[];
  /** Events claimed by an agent (in ou=Running), in creation order. */
  readonly running: QueuedEvent[];
  /** Pending and running entries that are not valid events. */
  readonly malformed: MalformedEvent[];
}

export interface RetryResult {
  /** The failed entry's DN before the retry. */
  readonly dn: string;
  /** Its DN in the queue: moved there, or already held by its twin. */
  readonly pendingDN: string;
  /**
   * `requeued`: moved back to the queue with no attempts recorded;
   * `covered`: an identical pending event will run, so the failed entry
   * was deleted instead.
   */
  readonly outcome: 'requeued' | 'covered';
}

/**
 * What the agent records about runs and claims. A retried event starts
 * afresh without them.
 */
const RUN_ATTRIBUTES = [
  'eventAttempts',
  'eventLastError',
  'eventNotBefore',
  'eventClaimedBy',
  'eventClaimExpires',
];

export class EventQueue {
  constructor(
    readonly directory: Directory,
    readonly config: Config,
  ) {}

  static async open(config: Config): Promise<EventQueue> {
    const password = readPassword(config);
    return new EventQueue(
      await Directory.connect(config.ldap, password),
      config,
    );
  }

  get base(): string {
    return this.config.ldap.queueBase;
  }

  /** The DN of the entry that the agent and CLI write for a request. */
  dnOf(hash: string): string {
    return `eventHash=${hash},${this.base}`;
  }

  /**
   * Adds an event after checking it against the configured conduits.
   * An identical pending event means nothing is written.
   */
  async add(request: EventRequest, creator = defaultCreator()) {
    checkEvent(this.config.conduits, request);
    const canonical: EventRequest = {
      conduit: request.conduit,
      arguments: sortArguments(Object.entries(request.arguments)),
    };
    const hash = eventHash(canonical);
    const dn = this.dnOf(hash);
    const attributes = attributesOf(canonical, hash, creator);
    // Two tries: an identical event that finished between our add and our
    // look at it is gone, and this event must then be added after all.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.directory.add(dn, attributes);
        return { hash, dn, added: true } satisfies AddResult;
      } catch (error) {
        const existing = await this.explainAddFailure(error, dn);
        if (existing === 'queued' || attempt === 2) {
          return { hash, dn, added: false } satisfies AddResult;
        }
      }
    }
  }

  /** Why an add failed: an identical event is queued, or it just went. */
  private async explainAddFailure(
    error: unknown,
    dn: string,
  ): Promise<'queued' | 'gone'> {
    if (!(error instanceof DirectoryError)) throw error;
    if (error.resultCode === ResultCode.entryAlreadyExists) {
      return this.confirmQueued(dn);
    }
    if (error.resultCode === ResultCode.noSuchObject) {
      throw new DirectoryError(
        `The queue ${this.base} does not exist. Create it (see the README's ` +
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
  private async confirmQueued(dn: string): Promise<'queued' | 'gone'> {
    const entry = await this.directory.read(dn, EVENT_ATTRIBUTES);
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

  /**
   * Pending events in the order the agent runs them, and the events being
   * run. A missing Running container (the agent creates it at start) is
   * an empty one.
   */
  async list(): Promise<QueueListing> {
    const [pending, running] = await Promise.all([
      this.area('pending'),
      this.area('running'),
    ]);
    return {
      events: pending.events,
      running: running.events,
      malformed: [...running.malformed, ...pending.malformed],
    };
  }

  /** Failed events, the oldest failure (`modified`) first. */
  async failed(): Promise<QueuedEvent[]> {
    return (await this.area('failed')).events;
  }

  /**
   * The entries of one area (one level below its container), sorted: the
   * failed area by failure time, the others in run order. Only the queue
   * itself must exist; a missing Running or Failed container is empty.
   */
  async area(area: Area): Promise<AreaListing> {
    const events: QueuedEvent[] = [];
    const malformed: MalformedEvent[] = [];
    const options = {
      scope: 'one' as const,
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      pageSize: PAGE_SIZE,
    };
    try {
      await this.directory.search(
        areaBase(this.base, area),
        options,
        (entry) => {
          const reading = readEntry(entry);
          if (reading.kind === 'event') events.push(reading.event);
          else malformed.push(reading.malformed);
        },
      );
    } catch (error) {
      const absent =
        area !== 'pending' && hasResultCode(error, ResultCode.noSuchObject);
      if (!absent) throw error;
    }
    const order = area === 'failed' ? compareFailures : compareEvents;
    return { events: events.sort(order), malformed };
  }

  /**
   * Deletes every pending event with this hash; returns them. Running
   * events are left alone: the agent holding the claim removes them.
   */
  async delete(hash: string): Promise<QueuedEvent[]> {
    const { events } = await this.area('pending');
    const matching = events.filter((event) => event.hash === hash);
    for (const event of matching) await this.directory.delete(event.dn);
    return matching;
  }

  /**
   * Puts the failed events with this hash back in the queue, without the
   * attempts, error, retry time or claim the agent recorded. None found
   * gives an empty array.
   */
  async retry(hash: string): Promise<RetryResult[]> {
    const failed = await this.failed();
    const results: RetryResult[] = [];
    for (const event of failed.filter((each) => each.hash === hash)) {
      const result = await this.requeue(event);
      if (result !== undefined) results.push(result);
    }
    return results;
  }

  /**
   * Deletes failed events: all of them, or those that failed (were last
   * modified) more than `olderThanMs` before `now`. Returns those deleted.
   * `modifyTimestamp` has one-second resolution, so an event can seem up
   * to a second older than it is.
   */
  async purgeFailed(
    olderThanMs?: number,
    now = Date.now(),
  ): Promise<QueuedEvent[]> {
    const cutoff = now - (olderThanMs ?? 0);
    const old = (await this.failed()).filter((event) => {
      if (olderThanMs === undefined) return true;
      const failedAt = (event.modified ?? event.created)?.getTime();
      return failedAt !== undefined && failedAt < cutoff;
    });
    const purged: QueuedEvent[] = [];
    for (const event of old) {
      if (await this.deleteIfPresent(event.dn)) purged.push(event);
    }
    return purged;
  }

  /**
   * Moves one failed event back to the queue; undefined if it went. The
   * pending name is looked at first, so that an entry in the way leaves
   * the failed event as it was.
   */
  private async requeue(event: QueuedEvent): Promise<RetryResult | undefined> {
    const pendingDN = inArea(event.dn, this.base, 'pending');
    if (await this.coveredBy(pendingDN, event)) {
      return this.cover(event, pendingDN);
    }
    if (!(await this.clearRunAttributes(event.dn))) return undefined;
    // Two tries: a twin that leaves the queue between our move and our
    // look at it no longer covers this event, which must then move.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.directory.move(event.dn, pendingDN);
        return { dn: event.dn, pendingDN, outcome: 'requeued' };
      } catch (error) {
        if (!hasResultCode(error, ResultCode.entryAlreadyExists)) throw error;
        if (await this.coveredBy(pendingDN, event)) {
          return this.cover(event, pendingDN);
        }
        if (attempt === 2) {
          throw new DirectoryError(
            `Cannot move ${event.dn} to ${pendingDN}: an entry there came ` +
              'and went twice. The event stays failed; retry it again.',
            ResultCode.entryAlreadyExists,
            { cause: error },
          );
        }
      }
    }
  }

  /** An identical pending event will run: the failed entry goes. */
  private async cover(
    event: QueuedEvent,
    pendingDN: string,
  ): Promise<RetryResult> {
    await this.deleteIfPresent(event.dn);
    return { dn: event.dn, pendingDN, outcome: 'covered' };
  }

  /**
   * Deletes the attributes of RUN_ATTRIBUTES the entry holds, in one
   * modify (deleting an absent one would fail with noSuchAttribute).
   * False if the entry is gone.
   */
  private async clearRunAttributes(dn: string): Promise<boolean> {
    const entry = await this.directory.read(dn, RUN_ATTRIBUTES);
    if (entry === undefined) return false;
    const changes: Modification[] = RUN_ATTRIBUTES.filter((type) =>
      entry.attributes.has(type.toLowerCase()),
    ).map((type) => ({ operation: 'delete', type, values: [] }));
    if (changes.length > 0) await this.directory.modify(dn, changes);
    return true;
  }

  /**
   * Whether the pending entry at `dn` is the same event as `failed`; false
   * if it has just gone. Any other entry there is reported, and the failed
   * event stays where it is.
   */
  private async coveredBy(dn: string, failed: QueuedEvent): Promise<boolean> {
    const entry = await this.directory.read(dn, EVENT_ATTRIBUTES);
    if (entry === undefined) return false;
    const reading = readEntry(entry);
    if (reading.kind === 'event' && reading.event.hash === failed.hash) {
      return true;
    }
    const why =
      reading.kind === 'event'
        ? `it is event ${reading.event.hash}`
        : reading.malformed.reason;
    throw new DirectoryError(
      `${dn} already exists but is not this event (${why}). ${failed.dn} ` +
        'stays in the failed area. Remove or rename that entry, then retry.',
      ResultCode.entryAlreadyExists,
    );
  }

  /** Deletes an entry; false if it was already gone. */
  private async deleteIfPresent(dn: string): Promise<boolean> {
    try {
      await this.directory.delete(dn);
      return true;
    } catch (error) {
      if (hasResultCode(error, ResultCode.noSuchObject)) return false;
      throw error;
    }
  }

  close(): Promise<void> {
    return this.directory.close();
  }
}

/** Oldest failure first; a move into the Failed area sets `modified`. */
function compareFailures(a: QueuedEvent, b: QueuedEvent): number {
  const byTime = (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0);
  return byTime !== 0 ? byTime : compareEvents(a, b);
}

function hasResultCode(error: unknown, code: number): boolean {
  return error instanceof DirectoryError && error.resultCode === code;
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
