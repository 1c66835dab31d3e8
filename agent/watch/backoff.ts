/**
 * Exponential backoff with full jitter, so that many agents that lost the
 * same server do not all reconnect in the same second.
 */
export interface BackoffOptions {
  /** First ceiling. @default 500 */
  readonly initialMs?: number;
  /** Largest ceiling. @default 60000 */
  readonly maxMs?: number;
}

export class Backoff {
  #attempt = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** The next delay: uniform between 0 and the current ceiling. */
  next(): number {
    const initial = this.options.initialMs ?? 500;
    const max = this.options.maxMs ?? 60_000;
    const ceiling = Math.min(max, initial * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return Math.round(Math.random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
