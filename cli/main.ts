#!/usr/bin/env node
/**
 * prometheus-eventqueue: add, display and delete events; list, retry and
 * purge failed ones; run the agent in the foreground with --monitor.
 */
import { Command, Option } from 'commander';
import {
  loadConfig,
  configFile,
  parseDuration,
  type Config,
} from '../agent/config.js';
import { runAgent } from '../agent/daemon.js';
import type { MalformedEvent } from '../agent/entry.js';
import {
  checkLimits,
  EVENT_HASH,
  parseArguments,
  type EventRequest,
} from '../agent/event.js';
import { ExitCode, reportFatal, VERSION } from '../agent/process.js';
import { EventQueue } from '../agent/queue.js';
import {
  conduitJson,
  conduitsTable,
  describeRequest,
  eventJson,
  eventsTable,
  failedJson,
  failedTable,
} from './format.js';

interface Options {
  config?: string;
  listconduits?: boolean;
  add?: string;
  args?: string[];
  display?: boolean;
  delete?: string;
  failed?: boolean;
  retry?: string;
  purgeFailed?: boolean;
  olderThan?: string;
  monitor?: boolean;
  json?: boolean;
}

/** Each action and its flag; exactly one is given per invocation. */
const ACTIONS = {
  listconduits: '--listconduits',
  add: '--add',
  display: '--display',
  delete: '--delete',
  failed: '--failed',
  retry: '--retry',
  purgeFailed: '--purge-failed',
  monitor: '--monitor',
} as const;

type Action = keyof typeof ACTIONS;

const program = new Command('prometheus-eventqueue')
  .description(
    'Add, display and delete Prometheus conduit events in LDAP; list, ' +
      'retry and purge failed events.',
  )
  .version(VERSION)
  .option(
    '-c, --config <file>',
    'configuration file (default: $PROMETHEUS_EVENTQUEUE_CONFIG, then ' +
      '/etc/prometheus-eventqueue/config.yaml)',
  )
  .option('--listconduits', 'list the configured conduits and their arguments')
  .option('--add <conduit>', 'queue an event that runs this conduit')
  .addOption(
    new Option(
      '--args <name=value...>',
      'arguments for --add; repeat, or give several after one --args',
    ),
  )
  .option(
    '--display',
    'show running events, then pending ones in the order they will run',
  )
  .option('--delete <hash>', 'remove the pending event with this hash')
  .option('--failed', 'list failed events, the oldest failure first')
  .option(
    '--retry <hash>',
    'put the failed event with this hash back in the queue',
  )
  .option('--purge-failed', 'delete failed events (see --older-than)')
  .option(
    '--older-than <age>',
    'with --purge-failed: only events that failed longer ago than this, ' +
      'e.g. 7d',
  )
  .option('--monitor', 'run the agent in the foreground')
  .option('--json', 'print JSON (with every action but --monitor)')
  .addHelpText(
    'after',
    '\nExamples:\n' +
      '  prometheus-eventqueue --add Prometheus::Conduits::RoleExpander ' +
      '--args username=juser\n' +
      '  prometheus-eventqueue --display --json\n' +
      '  prometheus-eventqueue --purge-failed --older-than 30d\n',
  )
  .exitOverride()
  .action(main);

async function main(options: Options): Promise<void> {
  const action = chooseAction(options);
  const olderThanMs = olderThanOf(options);
  const hash = hashOf(options.delete ?? options.retry);
  const file = configFile(options.config);
  if (action === 'monitor') {
    process.exitCode = await runAgent(file);
    return;
  }
  const config = loadConfig(file);
  if (action === 'listconduits') return listConduits(config, options.json);
  // An event the configuration refuses is refused before connecting.
  const request = action === 'add' ? requestOf(options) : undefined;
  const json = options.json ?? false;
  const queue = await EventQueue.open(config);
  try {
    switch (action) {
      case 'add':
        return await add(queue, request as Request, json);
      case 'display':
        return await display(queue, json);
      case 'delete':
        return await remove(queue, hash, json);
      case 'failed':
        return await listFailed(queue, json);
      case 'retry':
        return await retry(queue, hash, json);
      case 'purgeFailed':
        return await purge(queue, olderThanMs, json);
      default:
        return action satisfies never;
    }
  } finally {
    await queue.close();
  }
}

/** The one action asked for; a usage error for none, several, or strays. */
function chooseAction(options: Options): Action {
  const actions = Object.keys(ACTIONS) as Action[];
  const chosen = actions.filter((action) => options[action] !== undefined);
  if (chosen.length !== 1) {
    const flags = Object.values(ACTIONS);
    const got = chosen.map((action) => ACTIONS[action]).join(', ');
    usage(
      `Give exactly one of ${flags.slice(0, -1).join(', ')} or ` +
        `${flags.at(-1)}${chosen.length > 1 ? ` (got ${got})` : ''}.`,
    );
  }
  if (options.args !== undefined && options.add === undefined) {
    usage('--args goes with --add.');
  }
  if (options.olderThan !== undefined && options.purgeFailed === undefined) {
    usage('--older-than goes with --purge-failed.');
  }
  return chosen[0] as Action;
}

function usage(message: string): never {
  return program.error(message, { exitCode: ExitCode.usage });
}

/** --older-than as milliseconds, or undefined for "all". */
function olderThanOf(options: Options): number | undefined {
  if (options.olderThan === undefined) return undefined;
  const ms = parseDuration(options.olderThan);
  if (ms === undefined) {
    usage(
      `--older-than "${options.olderThan}" is not an age; expected a whole ` +
        'number with ms, s, m, h or d, such as 7d.',
    );
  }
  return ms;
}

/** The hash given to --delete or --retry, checked; '' for other actions. */
function hashOf(hash: string | undefined): string {
  if (hash === undefined) return '';
  if (!EVENT_HASH.test(hash)) {
    usage(
      `"${hash}" is not an event hash; expected 32 lowercase hex digits ` +
        '(see --display and --failed).',
    );
  }
  return hash;
}

type Request = ReturnType<typeof requestOf>;

/** The event asked for, within the EVENT_LIMITS (exit status 4 if not). */
function requestOf(options: Options) {
  const request = {
    conduit: options.add as string,
    arguments: parseArguments(options.args ?? []),
  } satisfies EventRequest;
  checkLimits(request);
  return request;
}

function listConduits(config: Config, json = false): void {
  const conduits = [...config.conduits.values()];
  write(json ? conduits.map(conduitJson) : conduitsTable(conduits), json);
}

async function add(queue: EventQueue, request: Request, json = false) {
  const result = await queue.add(request);
  if (json) {
    const { conduit, arguments: args } = request;
    return write({ ...result, conduit, arguments: args }, true);
  }
  const what = describeRequest(request.conduit, request.arguments);
  write(
    result.added
      ? `Queued event ${result.hash}: ${what}\n`
      : `Already queued as event ${result.hash}: ${what}\n`,
  );
}

async function display(queue: EventQueue, json = false) {
  const { events, running, malformed } = await queue.list();
  warnMalformed(malformed);
  if (!json) return write(eventsTable(running, events));
  const shown = [
    ...running.map((event) => eventJson(event, 'running')),
    ...events.map((event) => eventJson(event, 'pending')),
  ];
  write(shown, true);
}

async function listFailed(queue: EventQueue, json = false) {
  const { events, malformed } = await queue.area('failed');
  warnMalformed(malformed);
  write(json ? events.map(failedJson) : failedTable(events), json);
}

function warnMalformed(malformed: readonly MalformedEvent[]): void {
  for (const entry of malformed) {
    process.stderr.write(
      `Warning: ${entry.dn} is not a valid event: ${entry.reason}\n`,
    );
  }
}

async function remove(queue: EventQueue, hash: string, json = false) {
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

async function retry(queue: EventQueue, hash: string, json = false) {
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

async function purge(
  queue: EventQueue,
  olderThanMs: number | undefined,
  json = false,
) {
  const purged = await queue.purgeFailed(olderThanMs);
  if (json) return write({ purged: purged.length }, true);
  const noun = purged.length === 1 ? 'event' : 'events';
  write(`Purged ${purged.length} failed ${noun}\n`);
}

function write(value: unknown, json = false): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : String(value),
  );
}

program.parseAsync().catch(reportFatal);
