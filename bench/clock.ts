/**
 * Wall-clock time in milliseconds since the epoch, with microsecond
 * resolution, comparable with the conduit's `date +%s%N`.
 *
 * Date.now() has only millisecond resolution, and performance.now() runs on
 * the monotonic clock, which NTP may slew away from the wall clock. So the
 * clock is re-anchored before each measurement: calibrate() waits for
 * Date.now() to tick over to the next millisecond and takes that instant's
 * performance.now() as the same moment. Waiting costs up to 1 ms, spent
 * before an add, never inside a measured interval.
 */
export class WallClock {
  #offset = Date.now() - performance.now();

  calibrate(): void {
    const start = Date.now();
    let now = start;
    while (now === start) now = Date.now();
    this.#offset = now - performance.now();
  }

  /** Now, in ms since the epoch. */
  now(): number {
    return this.#offset + performance.now();
  }
}

/** `date +%s%N` output (nanoseconds since the epoch) as ms since the epoch. */
export function fromNanoseconds(text: string): number {
  const microseconds = BigInt(text.trim()) / 1000n;
  return Number(microseconds) / 1000;
}
