/**
 * How the CLI prints events and conduits: aligned columns for people,
 * JSON for programs.
 */
import type { Area } from '../agent/areas.js';
import type { ConduitConfig } from '../agent/config.js';
import type { QueuedEvent } from '../agent/entry.js';
import type { MalformedEntry } from '../agent/queue.js';

/** The JSON shape of an event in `--display --json`. */
export function eventJson(event: QueuedEvent, state: Area = 'pending') {
  return {
    hash: event.hash,
    conduit: event.conduit,
    arguments: { ...event.arguments },
    created: iso(event.created),
    creator: event.creator ?? null,
    dn: event.dn,
    state,
    attempts: event.attempts,
    notBefore: iso(event.notBefore),
    lastError: event.lastError ?? null,
    claimedBy: event.claimedBy ?? null,
    claimExpires: iso(event.claimExpires),
  };
}

/** The JSON shape of an event in `--failed --json`. */
export function failedJson(event: QueuedEvent) {
  return {
    ...eventJson(event, 'failed'),
    failed: iso(event.modified),
    reason: event.lastError ?? null,
  };
}

/**
 * The JSON shape, in `--failed --json`, of an entry in the failed area
 * that is not a valid event: no hash, its DN, `reason` (what the agent
 * recorded, else why it cannot be read) and `malformed` (why it cannot be
 * read).
 */
export function malformedFailedJson(entry: MalformedEntry) {
  return {
    hash: null,
    dn: entry.dn,
    state: 'failed',
    failed: iso(entry.modified),
    reason: entry.lastError ?? entry.reason,
    lastError: entry.lastError ?? null,
    malformed: entry.reason,
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

/** Running events first, then pending ones in the order they will run. */
export function eventsTable(
  running: readonly QueuedEvent[],
  pending: readonly QueuedEvent[],
  now = new Date(),
): string {
  if (running.length + pending.length === 0) return 'The queue is empty.\n';
  const row = (event: QueuedEvent, state: string) => [
    event.hash,
    event.created?.toISOString() ?? '-',
    visible(event.creator ?? '-'),
    visible(event.conduit),
    argumentsCell(event),
    String(event.attempts),
    state,
  ];
  return table(
    ['HASH', 'CREATED', 'CREATOR', 'CONDUIT', 'ARGUMENTS', 'ATTEMPTS', 'STATE'],
    [
      ...running.map((event) => row(event, runningState(event))),
      ...pending.map((event) => row(event, pendingState(event, now))),
    ],
  );
}

/**
 * Failed events: when, after how many attempts, and why; then the failed
 * entries that are not valid events, by DN.
 */
export function failedTable(
  events: readonly QueuedEvent[],
  malformed: readonly MalformedEntry[] = [],
): string {
  if (events.length + malformed.length === 0) return 'No event has failed.\n';
  const parts: string[] = [];
  if (events.length > 0) {
    parts.push(
      table(
        ['HASH', 'FAILED', 'ATTEMPTS', 'CONDUIT', 'ARGUMENTS', 'REASON'],
        events.map((event) => [
          event.hash,
          event.modified?.toISOString() ?? '-',
          String(event.attempts),
          visible(event.conduit),
          argumentsCell(event),
          visible(event.lastError ?? '-'),
        ]),
      ),
    );
  }
  if (malformed.length > 0) {
    parts.push(
      'Failed entries that are not valid events (--retry cannot requeue ' +
        'them; remove them with --purge-failed, or fix and add them ' +
        'again):\n' +
        table(
          ['DN', 'FAILED', 'REASON'],
          malformed.map((entry) => [
            visible(entry.dn),
            entry.modified?.toISOString() ?? '-',
            visible(entry.lastError ?? entry.reason),
          ]),
        ),
    );
  }
  return parts.join('\n');
}

/** "running", with the claim's holder and expiry when recorded. */
function runningState(event: QueuedEvent): string {
  const holder =
    event.claimedBy === undefined ? '' : ` by ${visible(event.claimedBy)}`;
  const until =
    event.claimExpires === undefined
      ? ''
      : ` until ${event.claimExpires.toISOString()}`;
  return `running${holder}${until}`;
}

/** "retry after <time>" while a failed run's delay lasts, else "pending". */
function pendingState(event: QueuedEvent, now: Date): string {
  const waiting =
    event.notBefore !== undefined && event.notBefore.getTime() > now.getTime();
  return waiting ? `retry after ${event.notBefore?.toISOString()}` : 'pending';
}

function argumentsCell(event: QueuedEvent): string {
  return Object.entries(event.arguments)
    .map(([name, value]) => `${name}=${visible(value)}`)
    .join(' ');
}

function iso(time: Date | undefined): string | null {
  return time?.toISOString() ?? null;
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
