/**
 * Starting a backlog before it has been read in full.
 *
 * Events run in creation order, so the agent may not run an event before
 * it knows that no earlier one is pending; reading 100,000 entries takes
 * seconds. But the directory can say so sooner: while the first read is
 * under way, the agent asks it for any event earlier than the earliest one
 * received so far, by `compareEvents`'s keys (createTimestamp, then
 * entryCSN). If there is none, that event is the earliest in the queue (an
 * event added later is created later) and runs at once; then the next
 * earliest is asked about, and so on until the read is complete and the
 * scheduler takes over.
 *
 * A pending event that is not yet due (a retry) or cannot run still counts
 * as earlier, so the proof fails and the agent waits for the full read, as
 * it always did. On a server without entryCSN (389 Directory Server) only
 * an event alone in its second of createTimestamp can be proved earliest.
 *
 * LIMITATION: the proof rests on the agent being able to compare
 * createTimestamp and entryCSN of every entry in the queue, which the
 * documented ACLs grant; an entry whose createTimestamp the agent may not
 * read would run after events it precedes.
 */
import { DirectoryError, type Directory } from './directory.js';
import { formatGeneralizedTime, type QueuedEvent } from './entry.js';
import type { Logger } from './log.js';
import { EVENT_FILTER } from './queue.js';
import type { Scheduler } from './scheduler.js';

export class EarlyStart {
  #busy = false;
  /** The event last found not to be the earliest; not asked about again. */
  #refused: string | undefined;
  /** How many events ran before the first read was complete. */
  #ran = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly directory: () => Promise<Directory>,
    private readonly queueBase: string,
    private readonly log: Logger,
  ) {}

  get ran(): number {
    return this.#ran;
  }

  /** Called as events arrive during the first read. */
  consider(): void {
    if (this.#busy || this.scheduler.started) return;
    const first = this.scheduler.earliest();
    if (first === undefined || first.id === this.#refused) return;
    this.#busy = true;
    void this.runProven()
      .catch((error: unknown) =>
        this.log.debug('Cannot tell the earliest event; waiting for the read', {
          error,
        }),
      )
      .finally(() => (this.#busy = false));
  }

  private async runProven(): Promise<void> {
    while (!this.scheduler.started) {
      const first = this.scheduler.earliest();
      if (first === undefined || first.id === this.#refused) return;
      if (!(await this.isEarliest(first))) {
        this.#refused = first.id;
        return;
      }
      if (this.#ran === 0) {
        this.log.info('Earliest event proved; running before the read ends', {
          hash: first.hash,
        });
      }
      this.#ran++;
      await this.scheduler.runAhead(first);
      // The queue has changed: an event refused before may be earliest now.
      this.#refused = undefined;
    }
  }

  /** Whether the queue holds no event that runs before `event`. */
  private async isEarliest(event: QueuedEvent): Promise<boolean> {
    const query = earlierQuery(event);
    if (query === undefined) return false;
    const directory = await this.directory();
    const found: string[] = [];
    const options = {
      scope: 'one' as const,
      filter: query.filter,
      attributes: ['1.1'],
      sizeLimit: query.sizeLimit,
    };
    try {
      await directory.search(this.queueBase, options, (entry) =>
        found.push(entry.dn.toLowerCase()),
      );
    } catch (error) {
      // The size limit: more entries than the answer may hold.
      if (error instanceof DirectoryError) return false;
      throw error;
    }
    return found.every((dn) => dn === event.dn.toLowerCase());
  }
}

/**
 * A search for events that run before `event`, or undefined if the event's
 * keys cannot be expressed: entries it returns, other than `event` itself,
 * are earlier.
 */
export function earlierQuery(
  event: QueuedEvent,
): { filter: string; sizeLimit: number } | undefined {
  const created = event.created?.getTime();
  // createTimestamp has whole seconds on both servers; another resolution
  // would make "earlier second" below inexact.
  if (created === undefined || created % 1000 !== 0) return undefined;
  const second = formatGeneralizedTime(new Date(created));
  if (event.csn === undefined || /[()*\\]/.test(event.csn)) {
    const filter = `(&${EVENT_FILTER}(createTimestamp<=${second}))`;
    return { filter, sizeLimit: 2 };
  }
  const before = formatGeneralizedTime(new Date(created - 1000));
  const csn = event.csn;
  const sameSecondEarlier =
    `(&(createTimestamp=${second})(entryCSN<=${csn})` + `(!(entryCSN=${csn})))`;
  const filter =
    `(&${EVENT_FILTER}(|(createTimestamp<=${before})` +
    `${sameSecondEarlier}))`;
  return { filter, sizeLimit: 1 };
}
