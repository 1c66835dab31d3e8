/**
 * The benchmark's command line:
 *
 *   npm run bench -- [--only FIGURES] [--events N] [--modes MODES]
 *                    [--throughput N] [--backlog N] [--bulk N]
 *
 * FIGURES is a comma-separated list of latency, throughput, backlog,
 * bulk-add and reconcile (default: all); MODES of syncrepl, psearch and
 * poll (default: all), for latency.
 */
import type { WatchKind } from './consumer.js';

export const MODES: readonly WatchKind[] = ['syncrepl', 'psearch', 'poll'];
export const FIGURES = [
  'latency',
  'throughput',
  'backlog',
  'bulk-add',
  'reconcile',
] as const;
export type Figure = (typeof FIGURES)[number];

/** Poll mode waits up to a reconcile interval per event: fewer events. */
export const POLL_EVENTS = 50;
export const POLL_INTERVAL_MS = 1000;
/** The interval the watch modes run with: the agent's default. */
export const WATCH_RECONCILE_MS = 60_000;

export interface Options {
  readonly only: readonly Figure[];
  /** Events counted per watch mode for latency. @default 1000 */
  readonly events: number;
  readonly modes: readonly WatchKind[];
  /** Events drained for throughput. @default 10000 */
  readonly throughput: number;
  /** Pending events for the backlog and reconcile figures. @default 100000 */
  readonly backlog: number;
  /** Events in one bulk add. @default 10000 */
  readonly bulk: number;
}

export class UsageError extends Error {}

const DEFAULTS: Options = {
  only: FIGURES,
  events: 1000,
  modes: MODES,
  throughput: 10_000,
  backlog: 100_000,
  bulk: 10_000,
};

export function parseOptions(args: readonly string[]): Options {
  const options: { -readonly [K in keyof Options]: Options[K] } = {
    ...DEFAULTS,
  };
  for (let index = 0; index < args.length; index += 2) {
    const [name, value] = [args[index], args[index + 1]];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    switch (name) {
      case '--only':
        options.only = parseList(name, value, FIGURES);
        break;
      case '--modes':
        options.modes = parseList(name, value, MODES);
        break;
      case '--events':
      case '--throughput':
      case '--backlog':
      case '--bulk':
        options[name.slice(2) as 'events'] = parseCount(name, value);
        break;
      default:
        throw new UsageError(`unknown option ${name}`);
    }
  }
  return options;
}

/** How many events a mode counts, and how many warm it up first. */
export function eventsFor(mode: WatchKind, options: Options) {
  if (mode === 'poll') {
    return { events: Math.min(options.events, POLL_EVENTS), warmup: 2 };
  }
  return { events: options.events, warmup: 20 };
}

function parseCount(name: string, text: string): number {
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1) {
    throw new UsageError(`${name}: expected a whole number >= 1, got ${text}`);
  }
  return count;
}

function parseList<T extends string>(
  name: string,
  text: string,
  allowed: readonly T[],
): T[] {
  const items = text.split(',').map((item) => item.trim());
  const unknown = items.filter((item) => !allowed.includes(item as T));
  if (unknown.length > 0 || items.length === 0) {
    throw new UsageError(
      `${name}: expected a comma-separated list of ${allowed.join(', ')}, ` +
        `got ${text}`,
    );
  }
  return items as T[];
}
