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
import { setTimeout as sleep } from 'node:timers/promises';
import { areaBase, firstRdn, inArea, type Area } from './areas.js';
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
  parseGeneralizedTime,
  readEntry,
  single,
  type DirectoryEntry,
  type MalformedEvent,
  type QueuedEvent,
} from './entry.js';
import { EVENT_HASH, type EventRequest } from './event.js';
import {
  defaultCreator,
  eventDN,
  prepareEvent,
  writeEvent,
} from './event-writer.js';
import { addMany, type BatchOptions, type BatchResult } from './queue-batch.js';

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
  /**
   * The entry's entryUUID (nsUniqueId on 389), read after the add, for
   * wait(); undefined if the event had already left the pending and
   * running areas by then.
   */
  readonly id?: string;
}

/**
 * How a wait() ended. `ran`: the entry was deleted, which the agent does
 * after a successful run. `failed`: it reached ou=Failed, `event` holding
 * the reason (`lastError`). `timeout`: still pending or running; `event`
 * is the entry as last seen.
 */
export type WaitOutcome =
  | { readonly outcome: 'ran'; readonly id: string }
  | { readonly outcome: 'failed'; readonly id: string; event: QueuedEvent }
  | {
      readonly outcome: 'timeout';
      readonly id: string;
      readonly area: Area;
      readonly event: QueuedEvent | undefined;
    };

/** How often wait() looks for the event. @default 200 ms */
export const WAIT_INTERVAL_MS = 200;

/** An entryUUID (RFC 4530); other identities are 389's nsUniqueId. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An entry of class prometheusEvent that is not a valid event (`reason`
 * says why), with what the agent recorded on it: in the failed area,
 * `lastError` is why it was moved there, and `modified` when.
 */
export interface MalformedEntry extends MalformedEvent {
  /** `eventLastError`, if any. */
  readonly lastError: string | undefined;
  /** `createTimestamp`. */
  readonly created: Date | undefined;
  /** `modifyTimestamp`; a move into the failed area updates it. */
  readonly modified: Date | undefined;
}

/** The readable events of one area, and the entries that are not. */
export interface AreaListing {
  readonly events: QueuedEvent[];
  /** Entries of class prometheusEvent that are not valid events. */
  readonly malformed: MalformedEntry[];
}

export interface QueueListing extends AreaListing {
  /** Pending events in the order they will run. */
  readonly events: QueuedEvent[];
  /** Events claimed by an agent (in ou=Running), in creation order. */
  readonly running: QueuedEvent[];
  /** Pending and running entries that are not valid events. */
  readonly malformed: MalformedEntry[];
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
    return eventDN(this.base, hash);
  }

  /**
   * Adds an event after checking it against the configured conduits.
   * An identical pending event means nothing is written.
   */
  async add(
    request: EventRequest,
    creator = defaultCreator(),
  ): Promise<AddResult> {
    const { conduits } = this.config;
    const event = prepareEvent(conduits, this.base, request, creator);
    const added = await writeEvent(this.directory, this.base, event);
    const id = await this.idOf(event.hash);
    return { hash: event.hash, dn: event.dn, added, id };
  }

  /**
   * Adds many events over this connection, several in flight at once; all
   * are checked before the first is written. See addMany in
   * queue-batch.ts for the order they get and what a failure leaves.
   */
  addMany(
    requests: readonly EventRequest[],
    options: BatchOptions = {},
  ): Promise<BatchResult[]> {
    return addMany(this, requests, options);
  }

  /**
   * The identity (entryUUID) of the event with this hash that is pending
   * or running; undefined when neither area holds it.
   */
  async idOf(hash: string): Promise<string | undefined> {
    for (const area of ['pending', 'running'] as const) {
      const dn = inArea(this.dnOf(hash), this.base, area);
      const entry = await this.directory.read(dn, IDENTITY);
      if (entry !== undefined) return identityOf(entry);
    }
    return undefined;
  }

  /**
   * Waits until one event has run (its entry is deleted) or failed (it is
   * in ou=Failed), or until `timeoutMs` has passed. The event is named by
   * its entryUUID, or by its hash: the pending or running event with that
   * hash, else a failed one (which has ended already).
   *
   * An event keeps its entryUUID through the claim flow: pending, then
   * ou=Running, then deleted, back to pending with eventNotBefore for a
   * retry (the wait goes on), or ou=Failed. It is looked for by a subtree
   * search for that entryUUID under the queue base every `intervalMs`:
   * simple, and robust against missed notifications and reconnects.
   *
   * LIMITATION: polling costs one search per interval per waiting client,
   * and an event that runs twice within one interval (a retry after a
   * failure) is seen only once; a persistent search would avoid both.
   */
  async wait(
    target: string,
    timeoutMs: number,
    intervalMs = WAIT_INTERVAL_MS,
  ): Promise<WaitOutcome> {
    const id = await this.resolve(target);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await this.findById(id);
      if (found === undefined) return { outcome: 'ran', id };
      if (found.area === 'failed' && found.event !== undefined) {
        return { outcome: 'failed', id, event: found.event };
      }
      if (Date.now() >= deadline) {
        return { outcome: 'timeout', id, ...found };
      }
      await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
    }
  }

  /** An entryUUID as given; a hash as the entryUUID of its event. */
  private async resolve(target: string): Promise<string> {
    if (!EVENT_HASH.test(target)) return target.toLowerCase();
    const queued = await this.idOf(target);
    if (queued !== undefined) return queued;
    const failedDN = inArea(this.dnOf(target), this.base, 'failed');
    const failed = await this.directory.read(failedDN, IDENTITY);
    const id = failed === undefined ? undefined : identityOf(failed);
    if (id !== undefined) return id;
    throw new DirectoryError(
      `No event with hash ${target} is pending, running or failed; it may ` +
        'have run already. Check the hash with --display.',
      ResultCode.noSuchObject,
    );
  }

  /** The entry with this identity, anywhere under the queue base. */
  private async findById(
    id: string,
  ): Promise<{ area: Area; event: QueuedEvent | undefined } | undefined> {
    const type = UUID.test(id) ? 'entryUUID' : 'nsUniqueId';
    let found: { area: Area; event: QueuedEvent | undefined } | undefined;
    const options = {
      scope: 'sub' as const,
      filter: `(&${EVENT_FILTER}(${type}=${escapeFilter(id)}))`,
      attributes: EVENT_ATTRIBUTES,
    };
    await this.directory.search(this.base, options, (entry) => {
      const reading = readEntry(entry);
      const event = reading.kind === 'event' ? reading.event : undefined;
      found = { area: this.areaOf(entry.dn), event };
    });
    return found;
  }

  /** The area an entry under the queue base is in, from its parent's DN. */
  private areaOf(dn: string): Area {
    const parent = normalDN(dn.slice(firstRdn(dn).length + 1));
    for (const area of ['running', 'failed'] as const) {
      if (parent === normalDN(areaBase(this.base, area))) return area;
    }
    return 'pending';
  }

  /**
   * Pending events in the order the agent runs them, and the events being
   * run. A missing Running container (the agent creates it at start) is
   * an empty one.
   */
  async list(): Promise<QueueListing> {
    // One after the other: OpenLDAP keeps one paged search per connection,
    // and a second one started while the first pages makes the first's
    // next page fail with unwillingToPerform (53).
    const pending = await this.area('pending');
    const running = await this.area('running');
    return {
      events: pending.events,
      running: running.events,
      malformed: [...running.malformed, ...pending.malformed],
    };
  }

  /**
   * Failed events, the oldest failure (`modified`) first. Entries in the
   * failed area that are not valid events are left out: `area('failed')`
   * returns them too.
   */
  async failed(): Promise<QueuedEvent[]> {
    return (await this.area('failed')).events;
  }

  /**
   * The entries of one area (one level below its container), sorted: the
   * failed area by failure time (its malformed entries too), the others in
   * run order. Only the queue itself must exist; a missing Running or
   * Failed container is empty.
   */
  async area(area: Area): Promise<AreaListing> {
    const events: QueuedEvent[] = [];
    const malformed: MalformedEntry[] = [];
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
          else malformed.push(malformedEntry(entry, reading.malformed));
        },
      );
    } catch (error) {
      const absent =
        area !== 'pending' && hasResultCode(error, ResultCode.noSuchObject);
      if (!absent) throw error;
    }
    if (area !== 'failed') {
      return { events: events.sort(compareEvents), malformed };
    }
    return {
      events: events.sort(compareFailures),
      malformed: malformed.sort(compareMalformed),
    };
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
   * Deletes the entries of the failed area, failed events and those that
   * are not valid events alike: all of them, or those that failed (were
   * last modified, else created) more than `olderThanMs` before `now`.
   * Returns those deleted, as `area('failed')` lists them.
   * `modifyTimestamp` has one-second resolution, so an entry can seem up
   * to a second older than it is.
   */
  async purgeFailed(
    olderThanMs?: number,
    now = Date.now(),
  ): Promise<AreaListing> {
    const cutoff = now - (olderThanMs ?? 0);
    const old = (entry: Pick<QueuedEvent, 'created' | 'modified'>) => {
      if (olderThanMs === undefined) return true;
      const failedAt = (entry.modified ?? entry.created)?.getTime();
      return failedAt !== undefined && failedAt < cutoff;
    };
    const { events, malformed } = await this.area('failed');
    const purged: { events: QueuedEvent[]; malformed: MalformedEntry[] } = {
      events: [],
      malformed: [],
    };
    for (const event of events.filter(old)) {
      if (await this.deleteIfPresent(event.dn)) purged.events.push(event);
    }
    for (const entry of malformed.filter(old)) {
      if (await this.deleteIfPresent(entry.dn)) purged.malformed.push(entry);
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

/** Oldest failure first, as compareFailures orders events; then by DN. */
function compareMalformed(a: MalformedEntry, b: MalformedEntry): number {
  const byTime = (a.modified?.getTime() ?? 0) - (b.modified?.getTime() ?? 0);
  if (byTime !== 0) return byTime;
  return a.dn < b.dn ? -1 : a.dn > b.dn ? 1 : 0;
}

/** A malformed entry with what the agent recorded on it, and its times. */
function malformedEntry(
  entry: DirectoryEntry,
  malformed: MalformedEvent,
): MalformedEntry {
  return {
    ...malformed,
    lastError: single(entry, 'eventlasterror'),
    created: parseGeneralizedTime(single(entry, 'createtimestamp')),
    modified: parseGeneralizedTime(single(entry, 'modifytimestamp')),
  };
}

const IDENTITY = ['entryUUID', 'nsUniqueId'];

/** entryUUID, or nsUniqueId on 389; lower case. */
function identityOf(entry: DirectoryEntry): string | undefined {
  const value =
    entry.attributes.get('entryuuid')?.[0] ??
    entry.attributes.get('nsuniqueid')?.[0];
  return value?.toString('utf8').toLowerCase();
}

/** A DN compared loosely: case and spaces around separators ignored. */
function normalDN(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
}

/** Escapes a value for an LDAP filter (RFC 4515). */
function escapeFilter(value: string): string {
  return value.replace(
    /[*()\\\0]/g,
    (char) => `\\${char.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function hasResultCode(error: unknown, code: number): boolean {
  return error instanceof DirectoryError && error.resultCode === code;
}

export { defaultCreator } from './event-writer.js';
