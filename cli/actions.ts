/**
 * The actions that read or change the queue as it is: --listconduits,
 * --display, --delete, --failed, --retry and --purge-failed.
 */
import type { Config } from '../agent/config.js';
import type { MalformedEvent } from '../agent/entry.js';
import { ExitCode } from '../agent/process.js';
import type { EventQueue } from '../agent/queue.js';
import {
  conduitJson,
  conduitsTable,
  eventJson,
  eventsTable,
  failedJson,
  failedTable,
  malformedFailedJson,
} from './format.js';
import { write } from './output.js';

export function listConduits(config: Config, json = false): void {
  const conduits = [...config.conduits.values()];
  write(json ? conduits.map(conduitJson) : conduitsTable(conduits), json);
}

export async function display(queue: EventQueue, json = false) {
  const { events, running, malformed } = await queue.list();
  warnMalformed(malformed);
  if (!json) return write(eventsTable(running, events));
  const shown = [
    ...running.map((event) => eventJson(event, 'running')),
    ...events.map((event) => eventJson(event, 'pending')),
  ];
  write(shown, true);
}

/**
 * The failed area: failed events, then the entries there that are not
 * valid events (listed, not warned about: they are failures too).
 */
export async function listFailed(queue: EventQueue, json = false) {
  const { events, malformed } = await queue.area('failed');
  if (!json) return write(failedTable(events, malformed));
  write(
    [...events.map(failedJson), ...malformed.map(malformedFailedJson)],
    true,
  );
}

function warnMalformed(malformed: readonly MalformedEvent[]): void {
  for (const entry of malformed) {
    process.stderr.write(
      `Warning: ${entry.dn} is not a valid event: ${entry.reason}\n`,
    );
  }
}

export async function remove(queue: EventQueue, hash: string, json = false) {
  const deleted = await queue.delete(hash);
  const running =
    deleted.length === 0 &&
    (await queue.list()).running.some((event) => event.hash === hash);
  if (json) write({ hash, deleted: deleted.length, running }, true);
  if (deleted.length > 0) {
    if (!json) write(`Deleted event ${hash}\n`);
    return;
  }
  process.stderr.write(
    running
      ? `Event ${hash} is running; it cannot be deleted.\n`
      : `No pending event has hash ${hash}.\n`,
  );
  process.exitCode = ExitCode.failure;
}

export async function retry(queue: EventQueue, hash: string, json = false) {
  const results = await queue.retry(hash);
  const count = (outcome: string) =>
    results.filter((result) => result.outcome === outcome).length;
  if (json) {
    write(
      { hash, requeued: count('requeued'), covered: count('covered') },
      true,
    );
  }
  if (results.length === 0) {
    process.stderr.write(`No failed event has hash ${hash} (see --failed).\n`);
    process.exitCode = ExitCode.failure;
    return;
  }
  if (json) return;
  for (const result of results) {
    write(
      result.outcome === 'requeued'
        ? `Requeued event ${hash} as ${result.pendingDN}\n`
        : `Event ${hash} is already pending as ${result.pendingDN}, which ` +
            'covers it; removed the failed entry\n',
    );
  }
}

export async function purge(
  queue: EventQueue,
  olderThanMs: number | undefined,
  json = false,
) {
  const { events, malformed } = await queue.purgeFailed(olderThanMs);
  if (json) {
    const purged = events.length + malformed.length;
    return write({ purged, malformed: malformed.length }, true);
  }
  const noun = events.length === 1 ? 'event' : 'events';
  const others =
    malformed.length === 0
      ? ''
      : ` and ${malformed.length} malformed ` +
        (malformed.length === 1 ? 'entry' : 'entries');
  write(`Purged ${events.length} failed ${noun}${others}\n`);
}
