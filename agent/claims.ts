/**
 * Claims: how several agents on one queue run each event once.
 *
 * An agent claims an event by moving its entry from the queue into
 * `ou=Running` with a modify-DN. The server applies a move atomically, so of
 * several agents moving the same entry exactly one succeeds; the others get
 * noSuchObject and leave the event alone. The move was chosen over an
 * atomic modify or the Assertion control because it also
 *
 *  - frees the event's name in the queue at once, so an identical event
 *    added while this one runs is kept and runs after it, instead of being
 *    deduplicated away with the change that prompted it;
 *  - takes the entry out of the watched level, so every other agent's watch
 *    reports it gone within milliseconds;
 *  - works on every LDAPv3 server, where the Assertion control's failure
 *    (result 122) is a result code that ldapjs 3.0.7 cannot even decode.
 *
 * The claim is then recorded on the entry: who holds it (`eventClaimedBy`),
 * until when (`eventClaimExpires`: the conduit's timeout, plus the kill
 * grace, plus a margin), and the attempt (`eventAttempts`). A claim whose
 * holder died lapses; the reconcile of any agent moves the event back.
 */
import { areaBase, inArea } from './areas.js';
import type { Directory, Modification } from './directory.js';
import { DirectoryError, ResultCode } from './directory.js';
import {
  EVENT_ATTRIBUTES,
  formatGeneralizedTime,
  readEntry,
  type QueuedEvent,
} from './entry.js';
import { EVENT_FILTER } from './queue.js';

export type ClaimResult =
  | { readonly kind: 'claimed'; readonly dn: string }
  /** Another agent claimed or removed it first. */
  | { readonly kind: 'gone' }
  /** An identical event is running; this one waits for it. */
  | { readonly kind: 'busy' };

export class Claims {
  constructor(
    private readonly directory: () => Promise<Directory>,
    private readonly queueBase: string,
    /** Who this agent is, as recorded in `eventClaimedBy`. */
    readonly holder: string,
  ) {}

  async claim(event: QueuedEvent, leaseMs: number): Promise<ClaimResult> {
    const directory = await this.directory();
    const dn = inArea(event.dn, this.queueBase, 'running');
    try {
      await directory.move(event.dn, dn);
    } catch (error) {
      if (hasCode(error, ResultCode.noSuchObject)) return { kind: 'gone' };
      if (hasCode(error, ResultCode.entryAlreadyExists)) {
        return { kind: 'busy' };
      }
      throw error;
    }
    await directory.modify(dn, [
      replace('eventClaimedBy', this.holder),
      replace('eventClaimExpires', time(Date.now() + leaseMs)),
      replace('eventAttempts', String(event.attempts + 1)),
    ]);
    return { kind: 'claimed', dn };
  }

  /**
   * Puts a claimed event back in the queue, not to run before `notBefore`.
   * Returns false when an identical event was queued meanwhile: that one
   * covers this, which is then deleted.
   */
  async release(
    dn: string,
    change: { lastError?: string; notBefore?: number },
  ): Promise<boolean> {
    const directory = await this.directory();
    const changes = [
      remove('eventClaimedBy'),
      remove('eventClaimExpires'),
      ...(change.lastError === undefined
        ? []
        : [replace('eventLastError', change.lastError)]),
      ...(change.notBefore === undefined
        ? []
        : [replace('eventNotBefore', time(change.notBefore))]),
    ];
    await directory.modify(dn, changes);
    return this.moveOrDrop(directory, dn, 'pending');
  }

  /** Moves an event, claimed or pending, to the failed area with a reason. */
  async fail(dn: string, reason: string): Promise<void> {
    const directory = await this.directory();
    const failedDN = inArea(dn, this.queueBase, 'failed');
    try {
      await directory.move(dn, failedDN);
    } catch (error) {
      if (hasCode(error, ResultCode.noSuchObject)) return;
      if (!hasCode(error, ResultCode.entryAlreadyExists)) throw error;
      // The failed area keeps the latest failure of an event.
      await directory.delete(failedDN);
      await directory.move(dn, failedDN);
    }
    await directory.modify(failedDN, [
      remove('eventClaimedBy'),
      remove('eventClaimExpires'),
      remove('eventNotBefore'),
      replace('eventLastError', reason.slice(0, 4000)),
    ]);
  }

  /** Claimed events whose claim has lapsed, as of `now`. */
  async lapsed(
    now: number,
    leaseOf: (event: QueuedEvent) => number,
  ): Promise<QueuedEvent[]> {
    const directory = await this.directory();
    const found: QueuedEvent[] = [];
    const base = areaBase(this.queueBase, 'running');
    const options = {
      scope: 'one' as const,
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      pageSize: 250,
    };
    try {
      await directory.search(base, options, (entry) => {
        const reading = readEntry(entry);
        if (reading.kind !== 'event') return;
        if (expiry(reading.event, leaseOf) < now) found.push(reading.event);
      });
    } catch (error) {
      if (!hasCode(error, ResultCode.noSuchObject)) throw error;
    }
    return found;
  }

  private async moveOrDrop(
    directory: Directory,
    dn: string,
    area: 'pending',
  ): Promise<boolean> {
    try {
      await directory.move(dn, inArea(dn, this.queueBase, area));
      return true;
    } catch (error) {
      if (hasCode(error, ResultCode.noSuchObject)) return true;
      if (!hasCode(error, ResultCode.entryAlreadyExists)) throw error;
      await directory.delete(dn);
      return false;
    }
  }
}

/**
 * When a claim lapses: its recorded expiry, or, if the agent died between
 * the move and recording the claim, the move's time plus a lease.
 */
function expiry(
  event: QueuedEvent,
  leaseOf: (event: QueuedEvent) => number,
): number {
  if (event.claimExpires !== undefined) return event.claimExpires.getTime();
  return (event.modified?.getTime() ?? 0) + leaseOf(event);
}

function replace(type: string, value: string): Modification {
  return { operation: 'replace', type, values: [value] };
}

/** A replace without values removes the attribute, or does nothing if it
 * is absent (RFC 4511 section 4.6), where a delete would fail. */
function remove(type: string): Modification {
  return { operation: 'replace', type, values: [] };
}

function time(ms: number): string {
  return formatGeneralizedTime(new Date(ms));
}

function hasCode(error: unknown, code: number): boolean {
  return error instanceof DirectoryError && error.resultCode === code;
}
