/**
 * The start times that bench/start-time.sh leaves in a folder, one file per
 * run, named by the run. Waiting for one is how the benchmark learns that a
 * conduit process has started, and when.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromNanoseconds } from './clock.js';

/** How often a waiter looks for its file, should an inotify event be lost. */
const RECHECK_MS = 50;

export class StartTimes {
  readonly #watcher: FSWatcher;
  readonly #arrived = new Set<string>();
  readonly #waiting = new Map<string, () => void>();

  constructor(readonly folder: string) {
    this.#watcher = watch(folder, (_kind, name) => {
      if (name === null || name.endsWith('.tmp')) return;
      this.#arrived.add(name);
      this.#waiting.get(name)?.();
    });
  }

  /** The start time (ms since the epoch) of run `name`, once it exists. */
  async wait(name: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const time = await this.read(name);
      if (time !== undefined) return time;
      if (Date.now() > deadline) {
        throw new Error(
          `The conduit run ${name} did not start within ${timeoutMs} ms ` +
            `(no file in ${this.folder}).`,
        );
      }
      await this.arrival(name);
    }
  }

  close(): void {
    this.#watcher.close();
  }

  private async read(name: string): Promise<number | undefined> {
    const file = path.join(this.folder, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : fromNanoseconds(text);
  }

  /** Resolves when `name` arrives, or after RECHECK_MS at the latest. */
  private async arrival(name: string): Promise<void> {
    if (this.#arrived.has(name)) return;
    const timer = new AbortController();
    const arrived = new Promise<void>((resolve) =>
      this.#waiting.set(name, resolve),
    );
    await Promise.race([
      arrived,
      sleep(RECHECK_MS, undefined, { signal: timer.signal }).catch(() => {}),
    ]);
    timer.abort();
    this.#waiting.delete(name);
  }
}
