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
import { SizeLimitedError } from './connect.js';

export class Reconnector {
  readonly #backoff = new Backoff();
  readonly #stopped = new AbortController();
  #lossReported = false;
  #wake: (() => void) | undefined;

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
        if (error instanceof SizeLimitedError) await this.pause(error);
        else await this.wait(error);
      }
    }
  }

  /** The watch is up again: the next loss is news, and starts a new backoff. */
  connected(): void {
    this.#backoff.reset();
    this.#lossReported = false;
    this.listener?.watchState?.('up');
  }

  /**
   * A complete reconcile found the queue within the server's size limit: a
   * watch paused by the limit may search again.
   */
  resume(): void {
    this.#wake?.();
  }

  /**
   * Waits for resume() after a search ended by the size limit. Searching
   * again at once would fail the same way; OpenLDAP 2.5 has also been seen
   * to crash (syncprov) when a refresh over its limit is repeated while the
   * queue's entries are being moved and deleted.
   */
  private async pause(error: SizeLimitedError): Promise<void> {
    this.log.warn('Watch paused until the queue fits the size limit', {
      error: error.message,
    });
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#stopped.signal.addEventListener('abort', () => resolve());
    });
    this.#wake = undefined;
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
