/**
 * Floor (c): starting the conduit process itself. Spawns bench/start-time.sh
 * from this process with the options agent/runner.ts uses (own process
 * group, the conduit environment, no shell, piped output) and measures from
 * just before spawn() to the time the script wrote.
 */
import { spawn } from 'node:child_process';
import { CONDUIT_ENVIRONMENT } from '../agent/runner.js';
import type { WallClock } from './clock.js';
import type { StartTimes } from './start-times.js';

export async function measureSpawn(
  script: string,
  starts: StartTimes,
  clock: WallClock,
  name: string,
): Promise<number> {
  clock.calibrate();
  const before = clock.now();
  const child = spawn(script, [starts.folder, '--seq', name], {
    detached: true,
    env: CONDUIT_ENVIRONMENT,
    shell: false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.stdout.resume();
  child.stderr.resume();
  const started = await starts.wait(name, 10_000);
  await exited;
  return started - before;
}
