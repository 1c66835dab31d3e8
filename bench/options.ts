/**
 * The benchmark's command line:
 *
 *   npm run bench -- [--events N] [--modes syncrepl,psearch,poll]
 */
import type { WatchKind } from './consumer.js';

export const MODES: readonly WatchKind[] = ['syncrepl', 'psearch', 'poll'];

/** Poll mode waits up to a reconcile interval per event: fewer events. */
export const POLL_EVENTS = 50;
export const POLL_INTERVAL_MS = 1000;
/** The interval the watch modes run with: the agent's default. */
export const WATCH_RECONCILE_MS = 60_000;

export interface Options {
  /** Events counted per watch mode. @default 1000 */
  readonly events: number;
  readonly modes: readonly WatchKind[];
}

export class UsageError extends Error {}

export function parseOptions(args: readonly string[]): Options {
  let events = 1000;
  let modes: readonly WatchKind[] = MODES;
  for (let index = 0; index < args.length; index += 2) {
    const [name, value] = [args[index], args[index + 1]];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    switch (name) {
      case '--events':
        events = parseCount(value);
        break;
      case '--modes':
        modes = parseModes(value);
        break;
      default:
        throw new UsageError(`unknown option ${name}`);
    }
  }
  return { events, modes };
}

/** How many events a mode counts, and how many warm it up first. */
export function eventsFor(mode: WatchKind, options: Options) {
  if (mode === 'poll') {
    return { events: Math.min(options.events, POLL_EVENTS), warmup: 2 };
  }
  return { events: options.events, warmup: 20 };
}

function parseCount(text: string): number {
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) {
    throw new UsageError(`--events: expected a whole number >= 1, got ${text}`);
  }
  return count;
}

function parseModes(text: string): WatchKind[] {
  const modes = text.split(',').map((mode) => mode.trim());
  const unknown = modes.filter((mode) => !MODES.includes(mode as WatchKind));
  if (unknown.length > 0 || modes.length === 0) {
    throw new UsageError(
      `--modes: expected a comma-separated list of ${MODES.join(', ')}, ` +
        `got ${text}`,
    );
  }
  return modes as WatchKind[];
}
