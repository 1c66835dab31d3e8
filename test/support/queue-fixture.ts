/**
 * A queue of its own for each test, on one throwaway slapd per test file:
 * a container under the suffix, a configuration file, a folder where the
 * recording conduit leaves one file per run, and helpers that run the CLI
 * and the agent as the real commands.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot, Slapd } from '../../scripts/slapd.js';

export const CLI = path.join(projectRoot, 'dist/cli/main.js');
export const AGENT = path.join(projectRoot, 'dist/agent/main.js');
export const RECORDER = path.join(projectRoot, 'test/support/record-run.sh');

export const ROLE_EXPANDER = 'Prometheus::Conduits::RoleExpander';

/** What the agent logs once its syncrepl watch is up. */
export const WATCHING = 'Watching the queue with syncrepl';

export interface QueueOptions {
  /** YAML for the `conduits:` map; defaults to a recording RoleExpander. */
  conduits?: (recorder: string) => string;
  /** Extra lines under `agent:`. */
  agent?: string;
  /** Extra lines under `ldap:`. */
  ldap?: string;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Run {
  /** Start time of the run, ms since the epoch. */
  startedAt: number;
  pid: number;
  argv: string[];
}

/** What a fixture needs of a server: OpenLDAP's Slapd or 389's Dirsrv. */
export type QueueServer = Pick<
  Slapd,
  'url' | 'suffix' | 'rootDN' | 'rootPasswordFile' | 'ldapAdd' | 'ldapSearch'
>;

let queues = 0;

export class QueueFixture {
  private constructor(
    readonly slapd: QueueServer,
    readonly base: string,
    readonly folder: string,
  ) {}

  static async create(
    slapd: QueueServer,
    t: TestContext,
    options: QueueOptions = {},
  ): Promise<QueueFixture> {
    const name = `Queue${++queues}-${process.pid}`;
    const base = `ou=${name},${slapd.suffix}`;
    const folder = await mkdtemp(path.join(tmpdir(), 'pe-test-'));
    await slapd.ldapAdd(
      `dn: ${base}\nobjectClass: organizationalUnit\nou: ${name}\n`,
    );
    const fixture = new QueueFixture(slapd, base, folder);
    await mkdir(path.join(folder, 'runs'));
    await writeFile(fixture.configFile, fixture.config(options));
    t.after(() => rm(folder, { recursive: true, force: true }));
    return fixture;
  }

  get configFile(): string {
    return path.join(this.folder, 'config.yaml');
  }

  get logFile(): string {
    return path.join(this.folder, 'agent.log');
  }

  /** The recording command, with the folder its runs go to. */
  get recorder(): string {
    return `[${RECORDER}, ${this.folder}/runs]`;
  }

  private config(options: QueueOptions): string {
    const conduits =
      options.conduits?.(this.recorder) ??
      `  ${ROLE_EXPANDER}:\n` +
        `    command: ${this.recorder}\n` +
        `    arguments:\n` +
        `      username: '^[a-z][a-z0-9_-]{0,31}$'\n`;
    const extra = options.agent === undefined ? [] : [options.agent];
    const overridden = (line: string) =>
      extra.some((text) => text.includes(`${line.trim().split(':')[0]}:`));
    const agent = [
      '  reconcileInterval: 1h',
      `  stateDirectory: ${this.folder}/state`,
      `  logFile: ${this.logFile}`,
      '  logLevel: debug',
    ].filter((line) => !overridden(line));
    return [
      'ldap:',
      `  url: ${this.slapd.url}`,
      `  bindDN: ${this.slapd.rootDN}`,
      `  passwordFile: ${this.slapd.rootPasswordFile}`,
      `  queueBase: ${this.base}`,
      ...(options.ldap === undefined ? [] : [options.ldap]),
      'agent:',
      ...agent,
      ...extra,
      'conduits:',
      conduits,
    ].join('\n');
  }

  /** Runs the CLI with this queue's configuration. */
  cli(...args: string[]): Promise<CommandResult> {
    return new Promise((resolve) => {
      const all = [CLI, '--config', this.configFile, ...args];
      execFile(process.execPath, all, (error, stdout, stderr) => {
        const code = error === null ? 0 : (error.code as number | null);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /**
   * Starts the agent; the test fails if it is still running at the end.
   * `env` is added to the environment, which has no JOURNAL_STREAM
   * unless `env` sets it.
   */
  startAgent(t: TestContext, env: NodeJS.ProcessEnv = {}): AgentProcess {
    const agent = new AgentProcess(this.configFile, env);
    t.after(() => agent.kill());
    return agent;
  }

  /** The runs the recording conduit saw, in the order they started. */
  async runs(): Promise<Run[]> {
    const folder = path.join(this.folder, 'runs');
    const names = await readdir(folder).catch(() => []);
    const done = names.filter((name) => !name.endsWith('.tmp')).sort();
    return Promise.all(
      done.map(async (name) => {
        const [nanoseconds, pid] = name.split('.');
        const text = await readFile(path.join(folder, name), 'utf8');
        return {
          startedAt: Number(BigInt(nanoseconds ?? 0) / 1_000_000n),
          pid: Number(pid),
          argv: text.split('\0').slice(0, -1),
        };
      }),
    );
  }

  /** Waits until at least `count` runs are recorded. */
  async waitForRuns(count: number, timeoutMs = 10_000): Promise<Run[]> {
    return waitFor(async () => {
      const runs = await this.runs();
      return runs.length >= count ? runs : undefined;
    }, timeoutMs);
  }

  /** Adds a RoleExpander event for `username` with the CLI; must succeed. */
  async addUser(username: string): Promise<void> {
    const args = ['--add', ROLE_EXPANDER, '--args', `username=${username}`];
    const result = await this.cli(...args);
    if (result.code !== 0) {
      throw new Error(`--add exited ${result.code}: ${result.stderr}`);
    }
  }

  /** Waits until no event is left in the queue. */
  async waitUntilEmpty(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () => ((await this.entries()) === '' ? true : undefined),
      timeoutMs,
    );
  }

  /** The log file's text, or '' before the agent wrote it. */
  log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Entries under the queue base, as ldapsearch prints them. */
  entries(): Promise<string> {
    return this.slapd.ldapSearch(this.base, '(objectClass=prometheusEvent)');
  }
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout = '';

  constructor(configFile: string, env: NodeJS.ProcessEnv = {}) {
    const { JOURNAL_STREAM: _journal, ...inherited } = process.env;
    this.child = spawn(process.execPath, [AGENT, '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...inherited, ...env },
    });
    this.child.stdout?.on('data', (chunk) => (this.stdout += chunk));
    this.child.stderr?.on('data', (chunk) => (this.stdout += chunk));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => resolve(code)),
    );
  }

  /** Waits until the agent's output contains `text`. */
  waitForOutput(text: string, timeoutMs = 10_000): Promise<void> {
    return waitFor(
      async () => (this.stdout.includes(text) ? true : undefined),
      timeoutMs,
    ).then(() => undefined);
  }

  /** How many times the agent's output contains `text`. */
  count(text: string): number {
    return this.stdout.split(text).length - 1;
  }

  /**
   * Sends SIGTERM and resolves with the exit code; fails if the agent had
   * to force its exit past connections or timers it left open.
   */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    if (this.stdout.includes('still open 2 s after the agent stopped')) {
      throw new Error(`The agent left handles open:\n${this.stdout}`);
    }
    return code;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Polls `probe` every 20 ms until it returns a value. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`Condition not met within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}
