/**
 * Reconcile: the agent's paged reconcile of a queue holding `count`
 * pending events (100,000 by default), its time and memory, beside a bare
 * paged search of the same queue. Measured in a process of its own
 * (bench/reconcile-child.ts) so that its peak resident memory is the
 * reconcile's and nothing else's.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../scripts/slapd.js';
import { BENCH_CONDUIT } from './agent-process.js';
import { startWithBacklog } from './backlog-queue.js';
import type { ReconcileSample } from './reconcile-child.js';

const run = promisify(execFile);
const CHILD = path.join(projectRoot, 'dist/bench/reconcile-child.js');

export async function measureReconcile(
  events: number,
): Promise<ReconcileSample> {
  const backlog = await startWithBacklog('Reconcile', events, BENCH_CONDUIT);
  const folder = await mkdtemp(path.join(tmpdir(), 'pe-bench-reconcile-'));
  try {
    const { slapd } = backlog;
    const config = path.join(folder, 'config.yaml');
    await writeFile(
      config,
      [
        'ldap:',
        `  url: ${slapd.url}`,
        `  bindDN: ${slapd.rootDN}`,
        `  passwordFile: ${slapd.rootPasswordFile}`,
        `  queueBase: ${backlog.queueBase}`,
        'agent:',
        `  stateDirectory: ${folder}`,
        'conduits:',
        `  ${BENCH_CONDUIT}:`,
        '    command: [/bin/true]',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const { stdout } = await run(process.execPath, [CHILD, config], {
      maxBuffer: 1024 * 1024,
    });
    return JSON.parse(
      stdout.trim().split('\n').at(-1) ?? '',
    ) as ReconcileSample;
  } finally {
    await rm(folder, { recursive: true, force: true });
    await backlog.slapd.stop();
  }
}
