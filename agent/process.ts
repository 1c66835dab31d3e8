/**
 * What both commands share about being a process: the version, and how a
 * fatal error reaches the person who ran them.
 */
import { CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

export const VERSION = manifest.version;

/** Exit statuses, stable for scripts. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  config: 3,
  refused: 4,
  directory: 5,
  /** --wait: an event ended in the failed area. */
  eventFailed: 6,
  /** --wait: an event was still pending or running at the timeout. */
  waitTimedOut: 7,
} as const;

/**
 * Prints an error's message (never a stack) and sets the exit status.
 * Commander has printed its own usage errors (and help) already.
 */
export function reportFatal(error: unknown): void {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    return;
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Error: ${message}\n`);
  process.exitCode = exitCodeFor(code);
}

function exitCodeFor(code: unknown): number {
  switch (code) {
    case 'EQ_CONFIG':
      return ExitCode.config;
    case 'EQ_REFUSED':
    case 'EQ_BAD_ARGUMENT':
      return ExitCode.refused;
    case 'EQ_LDAP':
      return ExitCode.directory;
    default:
      return ExitCode.failure;
  }
}
