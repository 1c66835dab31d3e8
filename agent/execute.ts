/**
 * One turn of one event: claim it, run its conduit, and settle it.
 *
 *   refused (unknown conduit, argument not allowed) → failed area at once
 *   claim lost to another agent                      → left alone
 *   identical event running elsewhere                → retried in a second
 *   run succeeded                                    → deleted
 *   run failed, attempts left                        → back in the queue,
 *                                                      not before a backoff
 *   run failed, last attempt                         → failed area
 *   run ended by this agent's shutdown               → back in the queue
 */
import type { Claims } from './claims.js';
import { conduitArgv, refusal } from './conduits.js';
import type { Config, ConduitConfig } from './config.js';
import type { QueuedEvent } from './entry.js';
import { operatorLine, type Logger } from './log.js';
import type { AgentObserver, RunTiming } from './observer.js';
import { ConduitRun, describeFailure, type RunResult } from './runner.js';
import type { Execution, Outcome } from './scheduler.js';

export interface ExecutorContext {
  /** Read at each turn, so that a reload applies from the next one. */
  readonly config: () => Config;
  readonly log: Logger;
  readonly observer: AgentObserver;
  readonly claims: Claims;
  /** Deletes an entry; handles and logs its own failures. */
  readonly remove: (dn: string) => Promise<void>;
  /** Told of the run while its process lives, so it can be stopped. */
  readonly onRun: (run: ConduitRun | undefined) => void;
  readonly stopping: () => boolean;
}

/** An identical event running elsewhere is looked at again after this. */
const BUSY_RETRY_MS = 1000;
/** After a directory failure in a turn, the event waits this long. */
const ERROR_RETRY_MS = 5000;

export class Executor {
  constructor(private readonly context: ExecutorContext) {}

  /**
   * One turn. A directory failure (a lost connection, a refused rename)
   * is logged and the event waits before its next turn.
   */
  async execute(
    event: QueuedEvent,
    covered: readonly QueuedEvent[],
  ): Promise<Execution> {
    try {
      return await this.turn(event, covered);
    } catch (error) {
      this.context.log.warn('Cannot claim or settle the event; will retry', {
        hash: event.hash,
        dn: event.dn,
        error,
        retryInMs: ERROR_RETRY_MS,
      });
      return {
        outcome: {
          kind: 'retry',
          at: Date.now() + ERROR_RETRY_MS,
          attempts: event.attempts,
        },
        coveredRemoved: false,
      };
    }
  }

  private async turn(
    event: QueuedEvent,
    covered: readonly QueuedEvent[],
  ): Promise<Execution> {
    const config = this.context.config();
    const reason = refusal(config.conduits, event);
    const conduit = config.conduits.get(event.conduit);
    if (reason !== undefined || conduit === undefined) {
      await this.refuse(event, reason ?? 'refused');
      return { outcome: LEFT, coveredRemoved: false };
    }
    const claim = await this.context.claims.claim(
      event,
      leaseOf(config, conduit),
    );
    switch (claim.kind) {
      case 'gone':
        return { outcome: LEFT, coveredRemoved: false };
      case 'busy':
        return {
          outcome: {
            kind: 'retry',
            at: Date.now() + BUSY_RETRY_MS,
            attempts: event.attempts,
          },
          coveredRemoved: false,
        };
      case 'claimed': {
        const coveredRemoved = await this.removeCovered(event, covered);
        const outcome = await this.run(event, conduit, claim.dn);
        return { outcome, coveredRemoved };
      }
    }
  }

  private async run(
    event: QueuedEvent,
    conduit: ConduitConfig,
    dn: string,
  ): Promise<Outcome> {
    const startedAt = Date.now();
    const result = await this.spawn(event, conduit);
    const timing: RunTiming = {
      startDelaySeconds:
        event.created === undefined
          ? undefined
          : (startedAt - event.created.getTime()) / 1000,
      durationSeconds: result.durationMs / 1000,
    };
    const fields = {
      hash: event.hash,
      conduit: event.conduit,
      attempt: event.attempts + 1,
      durationMs: Math.round(result.durationMs),
    };
    if (result.ok) {
      const { log } = this.context;
      if (log.isInfoEnabled()) {
        operatorLine(log, `Deleting event: ${event.hash}`);
      }
      await this.context.remove(dn);
      if (log.isInfoEnabled()) log.info('Event ran', fields);
      this.context.observer.event(event.conduit, 'ran', timing);
      return DONE;
    }
    const outcome = await this.settleFailure(
      event,
      conduit,
      dn,
      result,
      fields,
    );
    // A run ended by this agent's shutdown is not the conduit's failure.
    if (outcome !== undefined) {
      this.context.observer.event(event.conduit, outcome.counted, timing);
    }
    return outcome?.outcome ?? LEFT;
  }

  private async spawn(event: QueuedEvent, conduit: ConduitConfig) {
    const { log } = this.context;
    const config = this.context.config();
    const argv = conduitArgv(conduit, event);
    // A log record costs even below the level (winston builds and queues
    // it), and a backlog makes several per event.
    if (log.isInfoEnabled()) {
      const options = argv.slice(conduit.command.length);
      operatorLine(log, `Running event: ${event.hash}`);
      operatorLine(log, `Conduit: ${event.conduit}`);
      if (options.length > 0) {
        operatorLine(log, `Additional options: ${options.join(' ')}`);
      }
    }
    const run = new ConduitRun(argv, {
      timeoutMs: conduit.timeoutMs,
      killGraceMs: config.agent.killGraceMs,
    });
    this.context.onRun(run);
    try {
      return await run.result;
    } finally {
      this.context.onRun(undefined);
    }
  }

  private async settleFailure(
    event: QueuedEvent,
    conduit: ConduitConfig,
    dn: string,
    result: RunResult,
    fields: Record<string, unknown>,
  ): Promise<{ outcome: Outcome; counted: 'failed' | 'retried' } | undefined> {
    const { log, claims } = this.context;
    const reason = failureReason(result);
    operatorLine(log, `Event ${event.hash} failed: conduit ${reason}`);
    for (const line of result.stderrTail) operatorLine(log, `stderr: ${line}`);
    const details = { ...fields, reason, exitCode: result.exitCode };

    if (this.context.stopping()) {
      await claims.release(dn, { lastError: `${reason} (agent stopping)` });
      log.warn('Run ended by shutdown; event back in the queue', details);
      return undefined;
    }
    const attempt = event.attempts + 1;
    if (attempt >= conduit.attempts) {
      await claims.fail(
        dn,
        `attempt ${attempt} of ${conduit.attempts}: ${reason}`,
      );
      log.error('Event failed for good; moved to the failed area', {
        ...details,
        stderr: result.stderrTail.join('\n'),
      });
      return { outcome: LEFT, counted: 'failed' };
    }
    const at = Date.now() + retryDelay(this.context.config(), attempt);
    const requeued = await claims.release(dn, {
      lastError: reason,
      notBefore: at,
    });
    // Not yet a person's concern: attempts are left (error is for those).
    log.warn('Event failed; it will run again', {
      ...details,
      retryAt: new Date(at).toISOString(),
      stderr: result.stderrTail.join('\n'),
    });
    const outcome: Outcome = requeued
      ? { kind: 'retry', at, attempts: attempt }
      : LEFT;
    return { outcome, counted: 'retried' };
  }

  private async refuse(event: QueuedEvent, reason: string): Promise<void> {
    await this.context.claims.fail(event.dn, reason);
    this.context.log.error('Event refused; moved to the failed area', {
      hash: event.hash,
      dn: event.dn,
      reason,
    });
    this.context.observer.event(event.conduit, 'refused');
  }

  /** Deletes the pending events a run without arguments covers. */
  private async removeCovered(
    event: QueuedEvent,
    covered: readonly QueuedEvent[],
  ): Promise<boolean> {
    for (const each of covered) {
      await this.context.remove(each.dn);
      this.context.log.info('Event covered by a run without arguments', {
        hash: each.hash,
        conduit: each.conduit,
        arguments: each.arguments,
        coveredBy: event.hash,
      });
      this.context.observer.event(each.conduit, 'covered');
    }
    return true;
  }
}

/**
 * How long a claim lasts: the conduit's timeout, the grace before SIGKILL,
 * and a margin; a conduit cannot outlive it while its agent lives.
 */
export function leaseOf(config: Config, conduit: ConduitConfig): number {
  const { killGraceMs, leaseMarginMs } = config.agent;
  return conduit.timeoutMs + killGraceMs + leaseMarginMs;
}

/**
 * The delay after failed attempt `attempt`: `agent.retryDelay` doubling
 * with each attempt up to 32 times it, with jitter between half and all of
 * it, so that events failing together do not all return together.
 */
export function retryDelay(config: Config, attempt: number): number {
  const base = config.agent.retryDelayMs * 2 ** Math.min(attempt - 1, 5);
  return Math.round(base * (0.5 + Math.random() / 2));
}

function failureReason(result: RunResult): string {
  const last = result.stderrTail.at(-1);
  const reason = describeFailure(result);
  return last === undefined || last === '' ? reason : `${reason}: ${last}`;
}

const DONE: Outcome = { kind: 'done' };
const LEFT: Outcome = { kind: 'left' };
