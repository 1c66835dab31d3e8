/**
 * Backlog: the agent started on a queue that already holds `count` pending
 * events (100,000 by default), with the no-op conduit. Reports the time
 * from spawning the agent to the first conduit's start, the time to drain
 * the queue, the agent's peak resident memory, and its throughput over the
 * first and the last `window` departures, which should not differ: the
 * cost of an event must not grow with the backlog behind it.
 */
import { BENCH_CONDUIT } from './agent-process.js';
import { startWithBacklog } from './backlog-queue.js';
import { drainQueue } from './drain.js';
import { timeRefresh } from './refresh.js';

export interface Backlog {
  readonly events: number;
  readonly firstStartMs: number;
  readonly drainMs: number;
  readonly peakRssBytes: number;
  readonly window: number;
  /** Events per second over the first and the last `window` claims. */
  readonly firstRate: number;
  readonly lastRate: number;
  /** How long slapadd took to write the backlog, ms (not a figure). */
  readonly loadMs: number;
  /** A bare consumer's full read of the same queue, ms. */
  readonly refreshMs: number;
}

export async function measureBacklog(events: number): Promise<Backlog> {
  const loading = performance.now();
  const backlog = await startWithBacklog('Backlog', events, BENCH_CONDUIT);
  const loadMs = performance.now() - loading;
  try {
    const refresh = await timeRefresh(backlog.server, backlog.queueBase);
    const drain = await drainQueue(backlog, events);
    const window = Math.min(10_000, Math.floor(events / 10));
    const { departures } = drain;
    return {
      events,
      firstStartMs: drain.firstStartMs,
      drainMs: drain.drainMs,
      peakRssBytes: drain.peakRssBytes,
      window,
      firstRate: departures.rate(0, window - 1),
      lastRate: departures.rate(events - window, events - 1),
      loadMs,
      refreshMs: refresh.ms,
    };
  } finally {
    await backlog.slapd.stop();
  }
}
