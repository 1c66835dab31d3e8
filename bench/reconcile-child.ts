/**
 * The reconcile benchmark's measuring process: `node
 * dist/bench/reconcile-child.js CONFIG`. It runs the agent's own
 * Reconciler, Scheduler and entry reading against the queue in CONFIG,
 * in a process of its own so that its peak memory is the reconcile's:
 *
 *   cold    the first reconcile: every event read and offered, as at an
 *           agent's start
 *   warm    the next one, every event already known: the agent's steady
 *           state, once per reconcileInterval
 *   bare    a paged search of the queue with the same page size and
 *           attributes on the same connection class, doing nothing with
 *           the entries: the floor
 *
 * Offering is Agent's: an entry whose entryCSN the scheduler already has
 * is skipped, any other is read and offered. The scheduler is not started,
 * so no event runs. The heap is set up as the agent's (agent/memory.ts).
 * Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { Claims } from '../agent/claims.js';
import { loadConfig, readPassword } from '../agent/config.js';
import { Directory } from '../agent/directory.js';
import {
  EVENT_ATTRIBUTES,
  entryChangeMark,
  entryId,
  readEntry,
  type DirectoryEntry,
} from '../agent/entry.js';
import { createLogger } from '../agent/log.js';
import { favourSmallHeap } from '../agent/memory.js';
import { NO_OBSERVER } from '../agent/observer.js';
import { EVENT_FILTER, PAGE_SIZE } from '../agent/queue.js';
import { Reconciler } from '../agent/reconciler.js';
import { Scheduler } from '../agent/scheduler.js';

export interface ReconcileSample {
  readonly events: number;
  readonly bareMs: number;
  readonly coldMs: number;
  readonly warmMs: number;
  /** Resident memory before the first search, and its peak, in bytes. */
  readonly baseRssBytes: number;
  readonly peakRssBytes: number;
}

async function main(): Promise<void> {
  favourSmallHeap();
  const config = loadConfig(process.argv[2] ?? '');
  const directory = await Directory.connect(config.ldap, readPassword(config));
  const scheduler = new Scheduler(
    () => Promise.reject(new Error('no event runs here')),
    () => false,
  );
  const offer = (entry: DirectoryEntry): string => {
    const id = entryId(entry);
    if (scheduler.unchanged(id, entryChangeMark(entry))) return id;
    const reading = readEntry(entry);
    if (reading.kind === 'event') scheduler.offer(reading.event);
    return id;
  };
  const reconciler = new Reconciler({
    config: () => config,
    log: createLogger({ level: 'warn', stdout: false }),
    observer: NO_OBSERVER,
    claims: new Claims(async () => directory, config.ldap.queueBase, 'b:1'),
    scheduler,
    directory: async () => directory,
    offer,
    offered: () => 0,
    synchronized: () => undefined,
    complete: () => undefined,
    stopping: () => false,
  });
  const baseRssBytes = residentBytes('VmRSS');
  const coldMs = await timed(() => reconciler.run());
  const warmMs = await timed(() => reconciler.run());
  // Last, so that it meets a server and a JIT as warm as the reconciles'.
  const bareMs = await timed(() =>
    bareSearch(directory, config.ldap.queueBase),
  );
  const sample: ReconcileSample = {
    events: scheduler.pendingCount,
    bareMs,
    coldMs,
    warmMs,
    baseRssBytes,
    peakRssBytes: residentBytes('VmHWM'),
  };
  console.log(JSON.stringify(sample));
  await directory.close();
}

async function bareSearch(directory: Directory, base: string): Promise<void> {
  const options = {
    scope: 'one' as const,
    filter: EVENT_FILTER,
    attributes: EVENT_ATTRIBUTES,
    pageSize: PAGE_SIZE,
  };
  await directory.search(base, options, () => undefined);
}

async function timed(step: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await step();
  return performance.now() - start;
}

function residentBytes(field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return Number(match?.[1] ?? NaN) * 1024;
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exitCode = 1;
});
