/**
 * What every watch mode does between connections: run one session after
 * another until stopped, waiting out a backoff with jitter after each
 * failure, and report a loss once at warn (later failed attempts of the
 * same outage at debug) so that an outage is one line, not hundreds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { Backoff } from './backoff.js';
import type { WatchListener } from './watch.js';

export class Reconnector {
  readonly #backoff = new Backoff();
  readonly #stopped = new AbortController();
  #lossReported = false;

  constructor(
    private readonly log: Logger,
    private readonly listener?: WatchListener,
  ) {}

  get stopped(): boolean {
    return this.#stopped.signal.aborted;
  }

  /**
   * Runs `session` until stopped; after each failure calls `onWait` and
   * waits before the next try.
   */
  async run(session: () => Promise<void>, onWait: () => void): Promise<void> {
    while (!this.stopped) {
      try {
        await session();
      } catch (error) {
        if (this.stopped) break;
        this.listener?.watchState?.('lost');
        onWait();
        await this.wait(error);
      }
    }
  }

  /** The watch is up again: the next loss is news, and starts a new backoff. */
  connected(): void {
    this.#backoff.reset();
    this.#lossReported = false;
    this.listener?.watchState?.('up');
  }

  /** Ends the loop; a wait under way ends at once. */
  stop(): void {
    this.#stopped.abort();
  }

  private async wait(error: unknown): Promise<void> {
    const delay = this.#backoff.next();
    const fields = {
      error: error instanceof Error ? error.message : String(error),
      retryInMs: delay,
    };
    if (this.#lossReported) {
      this.log.debug('Reconnecting the watch failed; trying again', fields);
    } else {
      this.#lossReported = true;
      this.log.warn('Watch lost; reconnecting', fields);
    }
    await sleep(delay, undefined, { signal: this.#stopped.signal }).catch(
      () => undefined,
    );
  }
}
