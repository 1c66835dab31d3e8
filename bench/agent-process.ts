/**
 * The agent under test, as the real process: `node dist/agent/main.js
 * --config FILE`, configured with one conduit, bench/start-time.sh, at the
 * default log level (info), with a log file as a deployment would have:
 * the operator lines of every event are written.
 * BENCH_AGENT_NODE_ARGS in the environment adds options for node, such as
 * `--cpu-prof --cpu-prof-dir=/tmp/profiles` to profile the agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stopOnExit } from '../scripts/loopback.js';
import { projectRoot } from '../scripts/slapd.js';
import type { WatchKind } from './consumer.js';
import type { BenchServer } from './servers.js';

export const BENCH_CONDUIT = 'Bench::Conduits::StartTime';
export const START_SCRIPT = path.join(projectRoot, 'bench/start-time.sh');
const AGENT = path.join(projectRoot, 'dist/agent/main.js');

export interface AgentSetup {
  readonly server: BenchServer;
  readonly queueBase: string;
  readonly watch: WatchKind;
  readonly reconcileInterval: string;
  /** Holds the configuration, log, state, and the conduit's start times. */
  readonly folder: string;
  readonly startsFolder: string;
  /** The conduit's command. @default [bench/start-time.sh, startsFolder] */
  readonly command?: readonly string[];
  /** @default 'info', the agent's default */
  readonly logLevel?: string;
}

export class AgentProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #output = '';

  private constructor(configFile: string) {
    const node = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ');
    const args = [...node.filter(Boolean), AGENT, '--config', configFile];
    this.#child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stopOnExit(this.#child);
    const keep = (chunk: Buffer) =>
      (this.#output = (this.#output + chunk.toString()).slice(-4000));
    this.#child.stdout?.on('data', keep);
    this.#child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) =>
      this.#child.once('exit', (code) => resolve(code)),
    );
  }

  static async start(setup: AgentSetup): Promise<AgentProcess> {
    const configFile = path.join(setup.folder, 'config.yaml');
    await writeFile(configFile, configText(setup));
    return new AgentProcess(configFile);
  }

  /** What the agent printed last, for error messages. */
  get output(): string {
    return this.#output.trim();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * The agent's peak resident memory so far, in bytes: VmHWM from
   * /proc/PID/status, the high-water mark the kernel keeps.
   */
  async peakRss(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kilobytes = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    if (kilobytes === undefined) throw new Error('No VmHWM in status');
    return Number(kilobytes) * 1024;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

function configText(setup: AgentSetup): string {
  const { server } = setup;
  return [
    'ldap:',
    `  url: ${server.url}`,
    `  bindDN: ${server.rootDN}`,
    `  passwordFile: ${server.rootPasswordFile}`,
    `  queueBase: ${setup.queueBase}`,
    'agent:',
    `  watch: ${setup.watch}`,
    `  reconcileInterval: ${setup.reconcileInterval}`,
    `  stateDirectory: ${path.join(setup.folder, 'state')}`,
    `  logFile: ${path.join(setup.folder, 'agent.log')}`,
    `  logLevel: ${setup.logLevel ?? 'info'}`,
    'conduits:',
    `  ${BENCH_CONDUIT}:`,
    `    command: [${(setup.command ?? [START_SCRIPT, setup.startsFolder]).join(', ')}]`,
    '    arguments:',
    "      seq: '[0-9]+'",
    '',
  ].join('\n');
}
