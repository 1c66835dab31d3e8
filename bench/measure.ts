/**
 * One watch mode, measured: the agent process, a bare consumer beside it
 * holding the same search, and events added one at a time. For each event:
 *
 *   add, and note when it completed (bench/adder.ts)
 *   wait for the bare consumer to receive it        -> floor (a)
 *   wait for the conduit to write its start time    -> agent latency
 *   wait for the agent's delete to be seen, so the next add never queues
 *     behind this run; count the agent's other writes to the entry seen
 *     before the conduit started, each costed at this add's round trip
 *                                                   -> floor (b)
 *   spawn the same conduit from here, with the agent idle -> floor (c)
 *
 * The first events warm up the agent (its first run also shows it is
 * watching) and the JIT; they are not counted.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Adder } from './adder.js';
import { AgentProcess, START_SCRIPT } from './agent-process.js';
import { WallClock } from './clock.js';
import { BareConsumer, type WatchKind } from './consumer.js';
import { createQueue, type BenchServer } from './servers.js';
import { measureSpawn } from './spawn.js';
import { StartTimes } from './start-times.js';

export interface ModePlan {
  readonly mode: WatchKind;
  readonly server: BenchServer;
  readonly events: number;
  readonly warmup: number;
  readonly reconcileIntervalMs: number;
}

/** Per counted event, in ms, except `writes`, a count. */
export interface ModeSamples {
  readonly agent: number[];
  readonly watch: number[];
  /** Agent writes seen before the run, times this event's add round trip. */
  readonly writeTime: number[];
  readonly writes: number[];
  readonly spawn: number[];
}

interface Rig {
  readonly base: string;
  readonly clock: WallClock;
  readonly adder: Adder;
  readonly consumer: BareConsumer;
  readonly starts: StartTimes;
  readonly agent: AgentProcess;
}

export async function measureMode(plan: ModePlan): Promise<ModeSamples> {
  const folder = await mkdtemp(path.join(tmpdir(), 'pe-bench-'));
  const cleanup: (() => Promise<unknown>)[] = [
    () => rm(folder, { recursive: true, force: true }),
  ];
  try {
    const rig = await assemble(plan, folder, cleanup);
    const samples: ModeSamples = {
      agent: [],
      watch: [],
      writeTime: [],
      writes: [],
      spawn: [],
    };
    for (let seq = 0; seq < plan.warmup + plan.events; seq++) {
      const counted = seq >= plan.warmup;
      await measureEvent(rig, plan, seq, counted ? samples : undefined);
    }
    return samples;
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
}

async function assemble(
  plan: ModePlan,
  folder: string,
  cleanup: (() => Promise<unknown>)[],
): Promise<Rig> {
  const { server, mode } = plan;
  const startsFolder = path.join(folder, 'starts');
  await mkdir(startsFolder);
  const base = await createQueue(server, `Bench-${mode}-${process.pid}`);
  const clock = new WallClock();
  const interval = plan.reconcileIntervalMs;

  const adder = await Adder.open(server, clock);
  cleanup.push(() => adder.close());
  const open = (kind: WatchKind) =>
    BareConsumer.open(kind, server, base, clock, interval);
  const consumer = await open(mode);
  cleanup.push(() => consumer.close());
  const starts = new StartTimes(startsFolder);
  cleanup.push(async () => starts.close());

  const agent = await AgentProcess.start({
    server,
    queueBase: base,
    watch: mode,
    reconcileInterval: `${interval}ms`,
    folder,
    startsFolder,
  });
  cleanup.push(() => agent.stop());
  return { base, clock, adder, consumer, starts, agent };
}

async function measureEvent(
  rig: Rig,
  plan: ModePlan,
  seq: number,
  samples: ModeSamples | undefined,
): Promise<void> {
  const dn = `cn=bench-${seq},${rig.base}`;
  // The first event also waits for the agent to start and read the queue.
  const timeoutMs = plan.reconcileIntervalMs + (seq === 0 ? 30_000 : 10_000);
  // Each add would otherwise follow the last run, in step with the agent's
  // reconcile timer; a random pause spreads adds over the whole interval.
  if (plan.mode === 'poll')
    await sleep(Math.random() * plan.reconcileIntervalMs);
  rig.clock.calibrate();
  const added = await rig.adder.addEvent(dn, seq);

  const [seen, started] = await explained(rig, seq, () =>
    Promise.all([
      labelled('the bare consumer', rig.consumer.seen(dn, added, timeoutMs)),
      labelled('the agent', rig.starts.wait(String(seq), timeoutMs)),
      labelled('the delete', rig.adder.gone(rig.base, seq, timeoutMs)),
    ]),
  );
  const spawn = await measureSpawn(
    START_SCRIPT,
    rig.starts,
    rig.clock,
    `spawn-${seq}`,
  );
  if (samples === undefined) return;
  samples.agent.push(started - added);
  samples.watch.push(seen - added);
  samples.spawn.push(spawn);
  const claim = await rig.adder.claimWrites(rig.base, seq);
  samples.writes.push(2);
  samples.writeTime.push(claim);
}

/** Says which wait failed. */
function labelled<T>(what: string, waiting: Promise<T>): Promise<T> {
  return waiting.catch((error: unknown) => {
    throw new Error(`Waiting for ${what}: ${(error as Error).message}`);
  });
}

/** Adds the event number and, if it died, the agent's last words. */
async function explained<T>(rig: Rig, seq: number, wait: () => Promise<T>) {
  try {
    return await wait();
  } catch (error) {
    const agent = rig.agent.running
      ? 'The agent is running.'
      : `The agent exited. Its last output:\n${rig.agent.output}`;
    throw new Error(`Event ${seq}: ${(error as Error).message} ${agent}`, {
      cause: error,
    });
  }
}
