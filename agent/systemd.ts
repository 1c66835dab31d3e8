/**
 * The service manager's notification protocol (sd_notify): READY=1 once
 * the agent is watching, WATCHDOG=1 while it is healthy, STOPPING=1 on the
 * way out. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
 *
 * $NOTIFY_SOCKET is a Unix datagram socket, which Node.js cannot write to
 * without a native module, so each message is handed to `systemd-notify`
 * (part of systemd itself, so present wherever the socket is). The unit
 * therefore says NotifyAccess=all: the sender is a child, not the main PID.
 *
 * LIMITATION: a message from a child that has already exited may not be
 * attributed to the service by systemd before v254 (Debian 12 has 252),
 * and is then dropped. Each watchdog ping therefore repeats READY=1, so a
 * lost READY=1 costs one half watchdog period (30 s) of "activating",
 * not a failed start. Each message also costs a process spawn (about
 * 5 ms), once per half watchdog period.
 */
import { execFile } from 'node:child_process';

/** Where notification failures are reported (the agent's logger). */
export interface NotifyLog {
  warn(message: string, meta?: Record<string, unknown>): void;
}

export interface NotifierOptions {
  /** The environment to read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The program that sends one message; default `systemd-notify`. */
  command?: string;
  /** Told once when a message cannot be sent; default: stderr. */
  log?: NotifyLog;
}

export class Notifier {
  readonly #env: NodeJS.ProcessEnv;
  readonly #command: string;
  #log: NotifyLog | undefined;
  #ready = false;
  #stopping = false;
  #warned = false;

  constructor(options: NotifierOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#command = options.command ?? 'systemd-notify';
    this.#log = options.log;
  }

  /** True when a service manager listens ($NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return (this.#env.NOTIFY_SOCKET ?? '') !== '';
  }

  /** Sets where a failure to notify is reported. */
  useLog(log: NotifyLog): void {
    this.#log = log;
  }

  /** The agent is watching: the unit counts as started. */
  ready(status?: string): Promise<void> {
    this.#ready = true;
    const status_ = status === undefined ? [] : [`STATUS=${status}`];
    return this.send(['READY=1', ...status_]);
  }

  /** The agent is stopping; sent before the shutdown grace begins. */
  stopping(): Promise<void> {
    this.#stopping = true;
    return this.send(['STOPPING=1']);
  }

  /**
   * Pings the watchdog every half of $WATCHDOG_USEC while `healthy()`
   * holds; a skipped ping lets systemd restart a stuck agent. Does nothing
   * without $WATCHDOG_USEC, or when $WATCHDOG_PID names another process.
   * Returns the function that stops the pings.
   */
  startWatchdog(healthy: () => boolean = () => true): () => void {
    const periodMs = this.watchdogPeriodMs();
    if (periodMs === undefined) return () => undefined;
    const timer = setInterval(() => {
      if (!healthy()) return;
      void this.send(this.pingMessage());
    }, periodMs / 2);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The watchdog period in milliseconds, when this process has one. */
  watchdogPeriodMs(): number | undefined {
    const usec = Number(this.#env.WATCHDOG_USEC ?? '');
    if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
    const pid = this.#env.WATCHDOG_PID;
    if (pid !== undefined && pid !== '' && Number(pid) !== process.pid) {
      return undefined;
    }
    return Math.max(1, Math.floor(usec / 1000));
  }

  private pingMessage(): string[] {
    // See LIMITATION above: READY=1 again, until the agent is stopping.
    const ready = this.#ready && !this.#stopping ? ['READY=1'] : [];
    return ['WATCHDOG=1', ...ready];
  }

  /** Sends one message; never rejects. */
  private send(assignments: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      const options = { env: this.#env, timeout: 5000 };
      execFile(this.#command, assignments, options, (error) => {
        if (error !== null) this.warnOnce(error, assignments);
        resolve();
      });
    });
  }

  private warnOnce(error: Error, assignments: string[]): void {
    if (this.#warned) return;
    this.#warned = true;
    const text =
      `Cannot notify systemd with ${this.#command}: ${error.message}. ` +
      'Readiness and watchdog pings may be lost; check that systemd-notify ' +
      'is installed and the unit has NotifyAccess=all';
    if (this.#log === undefined) {
      process.stderr.write(`Warning: ${text}\n`);
      return;
    }
    this.#log.warn(text, { message: assignments.join(' ') });
  }
}

/** The process's own notifier, used by the functions below. */
export const systemd = new Notifier();

/** READY=1 (and STATUS=): the agent is watching the queue. */
export function notifyReady(status?: string): Promise<void> {
  return systemd.ready(status);
}

/** STOPPING=1: the agent has begun to stop. */
export function notifyStopping(): Promise<void> {
  return systemd.stopping();
}

/** WATCHDOG=1 every half of $WATCHDOG_USEC while `healthy()`; see above. */
export function startWatchdog(healthy?: () => boolean): () => void {
  return systemd.startWatchdog(healthy);
}
