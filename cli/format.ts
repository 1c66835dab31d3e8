/**
 * How the CLI prints events and conduits: aligned columns for people,
 * JSON for programs.
 */
import type { ConduitConfig } from '../agent/config.js';
import type { QueuedEvent } from '../agent/entry.js';
import { formatArguments } from '../agent/event.js';

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
      event.creator ?? '-',
      event.conduit,
      formatArguments(event.arguments).join(' '),
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

/** Describes an event in one line: the conduit and its arguments. */
export function describeRequest(
  conduit: string,
  args: Readonly<Record<string, string>>,
): string {
  return [conduit, ...formatArguments(args)].join(' ');
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
