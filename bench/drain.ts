/**
 * One agent process draining a queue that already holds `count` events,
 * with the no-op conduit (bench/noop.sh), watched from outside:
 *
 *   start     just before spawn() of `node dist/agent/main.js`
 *   first     the first conduit's own start time (`date +%s%N`)
 *   departures each claim, as a syncrepl consumer saw the entry leave
 *   drained   the running area found empty after the last departure
 *   peak RSS  the agent's VmHWM, read just before it is stopped
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../scripts/slapd.js';
import { AgentProcess } from './agent-process.js';
import { WallClock } from './clock.js';
import { Departures } from './departures.js';
import type { BacklogServer } from './backlog-queue.js';
import { StartTimes } from './start-times.js';

export const NOOP_SCRIPT = path.join(projectRoot, 'bench/noop.sh');

export interface Drain {
  readonly count: number;
  /** From spawning the agent to the first conduit's start, ms. */
  readonly firstStartMs: number;
  /** From spawning the agent to the queue being empty, ms. */
  readonly drainMs: number;
  /** From the first conduit's start to the queue being empty, ms. */
  readonly runningMs: number;
  readonly peakRssBytes: number;
  readonly departures: Departures;
}

export async function drainQueue(
  backlog: BacklogServer,
  count: number,
  reconcileInterval = '60s',
): Promise<Drain> {
  const folder = await mkdtemp(path.join(tmpdir(), 'pe-bench-drain-'));
  const startsFolder = path.join(folder, 'starts');
  await mkdir(startsFolder);
  const starts = new StartTimes(startsFolder);
  const departures = await Departures.open(backlog.server, backlog.queueBase);
  const clock = new WallClock();
  let agent: AgentProcess | undefined;
  try {
    clock.calibrate();
    const startedAt = clock.now();
    const spawned = performance.now();
    agent = await AgentProcess.start({
      server: backlog.server,
      queueBase: backlog.queueBase,
      watch: 'syncrepl',
      reconcileInterval,
      folder,
      startsFolder,
      command: [NOOP_SCRIPT, startsFolder],
    });
    const first = await starts.wait('0', 120_000);
    await departures.reached(count, 30 * 60_000 + count * 50);
    await runningEmpty(backlog);
    const drainMs = performance.now() - spawned;
    const peakRssBytes = await agent.peakRss();
    return {
      count,
      firstStartMs: first - startedAt,
      drainMs,
      runningMs: drainMs - (first - startedAt),
      peakRssBytes,
      departures,
    };
  } catch (error) {
    const output = agent?.output ?? '';
    throw new Error(`${(error as Error).message} Agent output: ${output}`, {
      cause: error,
    });
  } finally {
    await agent?.stop();
    await departures.close();
    starts.close();
    await rm(folder, { recursive: true, force: true });
  }
}

/** Waits until ou=Running holds no event: the last run was deleted. */
async function runningEmpty(backlog: BacklogServer): Promise<void> {
  const running = `ou=Running,${backlog.queueBase}`;
  for (let tries = 0; tries < 6000; tries++) {
    const found = await backlog.slapd
      .ldapSearch(running, '(objectClass=prometheusEvent)', '1.1')
      .catch(() => '');
    if (!found.includes('dn:')) return;
    await sleep(10);
  }
  throw new Error('Events were left in ou=Running.');
}
