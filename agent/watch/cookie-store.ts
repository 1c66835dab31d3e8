/**
 * The syncrepl cookie on disk, so that a restarted agent resumes the watch
 * where it left off instead of refreshing the whole queue.
 *
 * One file per server and queue, written atomically (write, then rename).
 * Saves are coalesced: while one write is under way only the newest cookie
 * waits, so a burst of changes costs at most two writes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';

export class CookieStore {
  readonly file: string;
  #next: Buffer | null | undefined;
  #writing: Promise<void> | undefined;
  #warned = false;

  constructor(
    directory: string,
    /** What the cookie belongs to: the server URL and the queue base. */
    scope: string,
    private readonly log: Logger,
  ) {
    const key = createHash('sha256').update(scope).digest('hex').slice(0, 16);
    this.file = path.join(directory, `syncrepl-${key}.cookie`);
  }

  /** The saved cookie, or undefined when there is none or it is unreadable. */
  async load(): Promise<Buffer | undefined> {
    try {
      const cookie = await readFile(this.file);
      return cookie.length > 0 ? cookie : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.warn('Cannot read the saved cookie; refreshing in full', error);
      }
      return undefined;
    }
  }

  /** Saves a cookie; `null` removes the saved one. */
  save(cookie: Buffer | null): void {
    this.#next = cookie;
    this.#writing ??= this.drain();
  }

  /** Resolves when every save so far is on disk. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  private async drain(): Promise<void> {
    while (this.#next !== undefined) {
      const cookie = this.#next;
      this.#next = undefined;
      await this.write(cookie).catch((error: unknown) =>
        this.warn('Cannot save the cookie; a restart will refresh', error),
      );
    }
    this.#writing = undefined;
  }

  private async write(cookie: Buffer | null): Promise<void> {
    if (cookie === null) {
      await rm(this.file, { force: true });
      return;
    }
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, cookie, { mode: 0o600 });
    await rename(temporary, this.file);
  }

  private warn(message: string, error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    this.log.warn(message, { file: this.file, error });
  }
}
