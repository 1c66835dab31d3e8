/**
 * The event queue as programs see it: add, list and delete events.
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
import { checkEvent } from './conduits.js';
import { readPassword, type Config } from './config.js';
import { Directory, DirectoryError, ResultCode } from './directory.js';
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

export interface QueueListing {
  /** Pending events in the order they will run. */
  readonly events: QueuedEvent[];
  /** Entries of class prometheusEvent that are not valid events. */
  readonly malformed: MalformedEvent[];
}

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

  /** All pending events, in the order the agent runs them. */
  async list(): Promise<QueueListing> {
    const events: QueuedEvent[] = [];
    const malformed: MalformedEvent[] = [];
    await this.directory.search(
      this.base,
      {
        scope: 'one',
        filter: EVENT_FILTER,
        attributes: EVENT_ATTRIBUTES,
        pageSize: PAGE_SIZE,
      },
      (entry) => {
        const reading = readEntry(entry);
        if (reading.kind === 'event') events.push(reading.event);
        else malformed.push(reading.malformed);
      },
    );
    return { events: events.sort(compareEvents), malformed };
  }

  /** Deletes every pending event with this hash; returns how many. */
  async delete(hash: string): Promise<QueuedEvent[]> {
    const { events } = await this.list();
    const matching = events.filter((event) => event.hash === hash);
    for (const event of matching) await this.directory.delete(event.dn);
    return matching;
  }

  close(): Promise<void> {
    return this.directory.close();
  }
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
