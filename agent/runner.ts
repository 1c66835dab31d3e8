/**
 * Running a conduit: one child process per run, in its own process group,
 * with a minimal environment, no shell, and a timeout.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/** How many of a conduit's last output lines a result keeps. */
export const TAIL_LINES = 20;
const MAX_LINE = 2000;

/** The whole environment a conduit gets. */
export const CONDUIT_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};

export interface RunResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly durationMs: number;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all. */
  readonly startError: string | undefined;
  readonly stdoutTail: readonly string[];
  readonly stderrTail: readonly string[];
}

export interface RunOptions {
  readonly timeoutMs: number;
  /** Time between SIGTERM and SIGKILL to the process group. @default 5000 */
  readonly killGraceMs?: number;
}

/** One run of a program; `stop()` ends it early with SIGTERM, then SIGKILL. */
export class ConduitRun {
  readonly result: Promise<RunResult>;
  readonly #stdout = new Tail();
  readonly #stderr = new Tail();
  #pid: number | undefined;
  #timedOut = false;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly argv: readonly string[],
    private readonly options: RunOptions,
  ) {
    this.result = this.start();
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** Ends the run: SIGTERM to its process group, SIGKILL after the grace. */
  stop(): void {
    this.signalGroup('SIGTERM');
    if (this.#killTimer !== undefined) return;
    this.#killTimer = setTimeout(
      () => this.signalGroup('SIGKILL'),
      this.options.killGraceMs ?? 5000,
    );
  }

  /** Ends the run at once: SIGKILL to its process group. */
  kill(): void {
    this.signalGroup('SIGKILL');
  }

  private start(): Promise<RunResult> {
    const started = performance.now();
    const [program, ...args] = this.argv as [string, ...string[]];
    const child = spawn(program, args, {
      detached: true,
      env: CONDUIT_ENVIRONMENT,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#pid = child.pid;
    this.#stdout.follow(child.stdout);
    this.#stderr.follow(child.stderr);
    const timeout = setTimeout(() => {
      this.#timedOut = true;
      this.stop();
    }, this.options.timeoutMs);

    return new Promise((resolve) => {
      let startError: string | undefined;
      child.once('error', (error) => (startError = error.message));
      child.once('close', (exitCode, signal) => {
        clearTimeout(timeout);
        clearTimeout(this.#killTimer);
        this.#pid = undefined;
        resolve({
          ok: exitCode === 0 && startError === undefined && !this.#timedOut,
          // Node reports a failed start as a negative errno; that is not
          // the program's exit status.
          exitCode: startError === undefined ? exitCode : null,
          signal,
          durationMs: performance.now() - started,
          timedOut: this.#timedOut,
          startError,
          stdoutTail: this.#stdout.lines(),
          stderrTail: this.#stderr.lines(),
        });
      });
    });
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.#pid === undefined) return;
    try {
      process.kill(-this.#pid, signal);
    } catch {
      // The group has already gone.
    }
  }
}

/** Describes a failed run in one sentence, for logs and the entry. */
export function describeFailure(result: RunResult): string {
  if (result.startError !== undefined) {
    return `could not start: ${result.startError}`;
  }
  if (result.timedOut) return 'timed out and was stopped';
  if (result.signal !== null) return `killed by ${result.signal}`;
  return `exited with status ${result.exitCode}`;
}

/** Keeps the last TAIL_LINES lines of a stream. */
class Tail {
  #lines: string[] = [];
  #partial = '';

  follow(stream: Readable | null): void {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => this.add(chunk));
  }

  lines(): string[] {
    const last = this.#partial === '' ? [] : [this.#partial];
    return [...this.#lines, ...last].slice(-TAIL_LINES);
  }

  private add(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = (parts.pop() ?? '').slice(-MAX_LINE);
    for (const line of parts) this.#lines.push(line.slice(0, MAX_LINE));
    if (this.#lines.length > TAIL_LINES) {
      this.#lines = this.#lines.slice(-TAIL_LINES);
    }
  }
}
