/**
 * How the CLI prints events and conduits: aligned columns for people,
 * JSON for programs.
 */
import type { ConduitConfig } from '../agent/config.js';
import type { QueuedEvent } from '../agent/entry.js';

/** The JSON shape of an event in `--display --json`. */
export function eventJson(event: QueuedEvent) {
  return {
    hash: event.hash,
    conduit: event.conduit,
    arguments: { ...event.arguments },
    created: event.created?.toISOString() ?? null,
    creator: event.creator ?? null,
    dn: event.dn,
  };
}

export function conduitJson(conduit: ConduitConfig) {
  return {
    name: conduit.name,
    command: conduit.command,
    arguments: Object.fromEntries(
      [...conduit.arguments].map(([name, pattern]) => [name, pattern.source]),
    ),
    timeoutSeconds: conduit.timeoutMs / 1000,
  };
}

export function eventsTable(events: readonly QueuedEvent[]): string {
  if (events.length === 0) return 'The queue is empty.\n';
  return table(
    ['HASH', 'CREATED', 'CREATOR', 'CONDUIT', 'ARGUMENTS'],
    events.map((event) => [
      event.hash,
      event.created?.toISOString() ?? '-',
      visible(event.creator ?? '-'),
      visible(event.conduit),
      Object.entries(event.arguments)
        .map(([name, value]) => `${name}=${visible(value)}`)
        .join(' '),
    ]),
  );
}

export function conduitsTable(conduits: readonly ConduitConfig[]): string {
  if (conduits.length === 0) return 'No conduits are configured.\n';
  return table(
    ['CONDUIT', 'ARGUMENTS', 'TIMEOUT'],
    conduits.map((conduit) => [
      conduit.name,
      [...conduit.arguments]
        .map(([name, pattern]) => `${name}=/${pattern.source}/`)
        .join(' '),
      `${conduit.timeoutMs / 1000}s`,
    ]),
  );
}

/**
 * A value as a table cell: quoted and escaped as JSON when it is empty,
 * has spaces at either end, or holds control characters (which could
 * otherwise move the cursor, colour the terminal or fake a row).
 */
export function visible(value: string): string {
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u001f\u007f-\u009f]|^\s|\s$|^$|^"/u;
  return unsafe.test(value) ? JSON.stringify(value) : value;
}

/** Describes an event in one line: the conduit and its arguments. */
export function describeRequest(
  conduit: string,
  args: Readonly<Record<string, string>>,
): string {
  const pairs = Object.entries(args).map(
    ([name, value]) => `${name}=${visible(value)}`,
  );
  return [visible(conduit), ...pairs].join(' ');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [header, ...rows].map(render).join('\n') + '\n';
}
