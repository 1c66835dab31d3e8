/**
 * One run of one event: the log lines operators read, the conduit process,
 * and the delete after success.
 */
import { conduitArgv } from './conduits.js';
import type { ConduitConfig } from './config.js';
import type { QueuedEvent } from './entry.js';
import { operatorLine, type Logger } from './log.js';
import { ConduitRun, describeFailure, type RunResult } from './runner.js';
import type { Outcome } from './scheduler.js';

export interface RunContext {
  readonly log: Logger;
  /** Told of the run as soon as its process starts, so it can be stopped. */
  readonly onStart: (run: ConduitRun) => void;
  /** Deletes the event's entry; handles and logs its own failures. */
  readonly remove: (dn: string) => Promise<void>;
}

export async function executeEvent(
  event: QueuedEvent,
  conduit: ConduitConfig,
  context: RunContext,
): Promise<Outcome> {
  const { log } = context;
  const argv = conduitArgv(conduit, event);
  const options = argv.slice(conduit.command.length);
  operatorLine(log, `Running event: ${event.hash}`);
  operatorLine(log, `Conduit: ${event.conduit}`);
  if (options.length > 0) {
    operatorLine(log, `Additional options: ${options.join(' ')}`);
  }

  const run = new ConduitRun(argv, { timeoutMs: conduit.timeoutMs });
  context.onStart(run);
  const result = await run.result;
  const fields = {
    hash: event.hash,
    conduit: event.conduit,
    durationMs: Math.round(result.durationMs),
  };
  if (!result.ok) {
    reportFailure(log, event, result, fields);
    return 'failed';
  }

  operatorLine(log, `Deleting event: ${event.hash}`);
  await context.remove(event.dn);
  log.info('Event ran', fields);
  return 'done';
}

function reportFailure(
  log: Logger,
  event: QueuedEvent,
  result: RunResult,
  fields: Record<string, unknown>,
): void {
  const reason = describeFailure(result);
  operatorLine(log, `Event ${event.hash} failed: conduit ${reason}`);
  for (const line of result.stderrTail) operatorLine(log, `stderr: ${line}`);
  log.error('Event failed; it stays in the queue', {
    ...fields,
    reason,
    exitCode: result.exitCode,
    stderr: result.stderrTail.join('\n'),
  });
}
