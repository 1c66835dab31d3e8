/**
 * Throughput: events per second through the agent with a no-op conduit,
 * beside the floor, the unavoidable work of one event done back to back in
 * this process on the same server in the same run:
 *
 *   claim   a move of the entry to another container, then a modify
 *           recording the claim (the agent's three attributes)
 *   delete  of the entry
 *   run     spawning the no-op conduit with agent/runner.ts's ConduitRun,
 *           as the agent does, until it has exited
 *
 * on one connection of the agent's own work-connection class (ldapjs).
 * The agent's figure runs from its first conduit's start to the queue
 * being empty, so start-up is not counted here (the backlog rows count it).
 */
import { ConduitRun } from '../agent/runner.js';
import type { Modification } from '../agent/directory.js';
import { formatGeneralizedTime } from '../agent/entry.js';
import { BENCH_CONDUIT } from './agent-process.js';
import {
  connectAsRoot,
  floorAreas,
  startWithBacklog,
  type BacklogServer,
} from './backlog-queue.js';
import { drainQueue, NOOP_SCRIPT } from './drain.js';

export interface Throughput {
  readonly events: number;
  /** Events the floor was measured over. */
  readonly floorEvents: number;
  /** Events per second, first conduit start to empty queue. */
  readonly agent: number;
  /** Events per second of the floor. */
  readonly floor: number;
  /** The floor's parts, mean ms per event. */
  readonly claimMs: number;
  readonly deleteMs: number;
  readonly spawnMs: number;
}

export const FLOOR_EVENTS = 1000;

export async function measureThroughput(events: number): Promise<Throughput> {
  const floorEvents = Math.min(events, FLOOR_EVENTS);
  const backlog = await startWithBacklog(
    'Throughput',
    events,
    BENCH_CONDUIT,
    floorEvents,
  );
  try {
    const floor = await measureFloor(backlog, floorEvents);
    const drain = await drainQueue(backlog, events);
    return {
      events,
      floorEvents,
      agent: (events / drain.runningMs) * 1000,
      floor: (floorEvents / floor.totalMs) * 1000,
      claimMs: floor.claimMs / floorEvents,
      deleteMs: floor.deleteMs / floorEvents,
      spawnMs: floor.spawnMs / floorEvents,
    };
  } finally {
    await backlog.slapd.stop();
  }
}

/** One event's unavoidable work, `count` times over, back to back. */
export async function measureFloor(backlog: BacklogServer, count: number) {
  const directory = await connectAsRoot(backlog);
  const { from, to } = floorAreas(backlog);
  const totals = { claimMs: 0, deleteMs: 0, spawnMs: 0, totalMs: 0 };
  try {
    const began = performance.now();
    for (let seq = 0; seq < count; seq++) {
      const t0 = performance.now();
      const moved = `cn=ev-${seq},${to}`;
      await directory.move(`cn=ev-${seq},${from}`, moved);
      await directory.modify(moved, claimChanges(seq));
      const t1 = performance.now();
      await directory.delete(moved);
      const t2 = performance.now();
      const argv = [NOOP_SCRIPT, '/nonexistent', '--seq', `f${seq}`];
      const result = await new ConduitRun(argv, { timeoutMs: 60_000 }).result;
      if (!result.ok) throw new Error('The no-op conduit failed.');
      totals.claimMs += t1 - t0;
      totals.deleteMs += t2 - t1;
      totals.spawnMs += performance.now() - t2;
    }
    totals.totalMs = performance.now() - began;
    return totals;
  } finally {
    await directory.close();
  }
}

function claimChanges(seq: number): Modification[] {
  const expires = formatGeneralizedTime(new Date(Date.now() + 3_600_000));
  return [
    { operation: 'replace', type: 'eventClaimedBy', values: ['bench:1'] },
    { operation: 'replace', type: 'eventClaimExpires', values: [expires] },
    { operation: 'replace', type: 'eventAttempts', values: [String(seq % 5)] },
  ];
}
