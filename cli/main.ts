#!/usr/bin/env node
/**
 * prometheus-eventqueue: add events (one, a trigger's, or a batch) and
 * wait for them; display and delete events; list, retry and purge failed
 * ones; run the agent in the foreground with --monitor.
 */
import { Command, Option } from 'commander';
import {
  ConfigError,
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
import { EventQueue, type AddResult } from '../agent/queue.js';
import { batchJson, batchSummary, parseBatch, readBatch } from './batch.js';
import { cliConfig, type ConnectionOptions } from './connection.js';
import {
  conduitJson,
  conduitsTable,
  describeRequest,
  eventJson,
  eventsTable,
  failedJson,
  failedTable,
} from './format.js';
import { triggerRequests } from './trigger.js';
import {
  DEFAULT_WAIT_MS,
  describeOutcome,
  exitCodeOf,
  follow,
  type Followed,
} from './wait.js';

interface Options {
  config?: string;
  uri?: string;
  bindDn?: string;
  passwordFile?: string;
  startTls?: boolean;
  base?: string;
  listconduits?: boolean;
  add?: string;
  addBatch?: string;
  trigger?: string;
  args?: string[];
  wait?: boolean;
  timeout?: string;
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
  addBatch: '--add-batch',
  trigger: '--trigger',
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
  .option('-H, --uri <uri>', 'LDAP URI (overrides ldap.url)')
  .option('-D, --bind-dn <dn>', 'DN to bind as (overrides ldap.bindDN)')
  .option(
    '-y, --password-file <file>',
    'file holding the bind password (overrides ldap.passwordFile)',
  )
  .option('-Z, --start-tls', 'use StartTLS (sets ldap.startTLS)')
  .option('-b, --base <dn>', 'queue base (overrides ldap.queueBase)')
  .option('--listconduits', 'list the configured conduits and their arguments')
  .option('--add <conduit>', 'queue an event that runs this conduit')
  .option(
    '--add-batch <file>',
    'queue the events of FILE (- for standard input), one a line: ' +
      'CONDUIT name=value ..., or a JSON object; all are checked before ' +
      'any is written',
  )
  .option(
    '--trigger <name>',
    'queue one event for each conduit of this configured trigger',
  )
  .addOption(
    new Option(
      '--args <name=value...>',
      'arguments for --add or --trigger; repeat, or give several after one ' +
        '--args',
    ),
  )
  .option(
    '--wait',
    'with --add or --trigger: wait until the events have run; exit 6 if ' +
      'one failed, 7 on timeout',
  )
  .option(
    '--timeout <duration>',
    'with --wait: give up waiting after this long (default 10m)',
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
      '  prometheus-eventqueue --trigger user-changed --args username=juser ' +
      '--wait --timeout 2m\n' +
      '  prometheus-eventqueue --add-batch - < events.txt\n' +
      '  prometheus-eventqueue -H ldap://ldap.example -Z -D cn=admin ' +
      '-y ~/.ldappw --display\n' +
      '  prometheus-eventqueue --display --json\n' +
      '  prometheus-eventqueue --purge-failed --older-than 30d\n',
  )
  .exitOverride()
  .action(main);

async function main(options: Options): Promise<void> {
  const action = chooseAction(options);
  const olderThanMs = olderThanOf(options);
  const waitMs = waitOf(options);
  const hash = hashOf(options.delete ?? options.retry);
  const file = configFile(options.config);
  if (action === 'monitor') {
    process.exitCode = await runAgent(file);
    return;
  }
  const config = configOf(file, options, action);
  if (action === 'listconduits') return listConduits(config, options.json);
  if (action === 'addBatch') {
    return addBatch(config, options.addBatch as string, options.json);
  }
  // An event the configuration refuses is refused before connecting.
  const requests = requestsOf(config, options, action);
  const json = options.json ?? false;
  const queue = await EventQueue.open(config);
  try {
    switch (action) {
      case 'add':
        return await add(queue, requests, { json, waitMs });
      case 'trigger':
        return await add(queue, requests, {
          json,
          waitMs,
          trigger: options.trigger,
        });
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
  const adds = options.add !== undefined || options.trigger !== undefined;
  if (options.args !== undefined && !adds) {
    usage('--args goes with --add or --trigger.');
  }
  if (options.wait !== undefined && !adds) {
    usage('--wait goes with --add or --trigger.');
  }
  if (options.timeout !== undefined && options.wait === undefined) {
    usage('--timeout goes with --wait.');
  }
  const given = Object.values(connectionOf(options));
  if (options.monitor && given.some((value) => value !== undefined)) {
    usage('-H, -D, -y, -Z and -b do not apply to --monitor.');
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

/** How long --wait waits (DEFAULT_WAIT_MS without --timeout), or undefined. */
function waitOf(options: Options): number | undefined {
  if (options.wait !== true) return undefined;
  if (options.timeout === undefined) return DEFAULT_WAIT_MS;
  const ms = parseDuration(options.timeout);
  if (ms === undefined || ms <= 0) {
    usage(
      `--timeout "${options.timeout}" is not a duration; expected a whole ` +
        'number with ms, s, m, h or d, such as 10m.',
    );
  }
  return ms;
}

/**
 * The configuration file, optional when options, the environment or
 * ldap.conf say where the directory is; but conduits come only from it.
 */
function configOf(file: string, options: Options, action: Action): Config {
  const explicit =
    options.config !== undefined ||
    process.env.PROMETHEUS_EVENTQUEUE_CONFIG !== undefined;
  const connection = connectionOf(options);
  const { config, fromFile } = cliConfig(file, explicit, connection);
  const needsConduits = ['add', 'addBatch', 'trigger', 'listconduits'];
  if (needsConduits.includes(action) && !fromFile) {
    throw new ConfigError(file, [
      `cannot read the file (ENOENT); ${ACTIONS[action]} needs the conduit ` +
        'list from a configuration file (give one with --config)',
    ]);
  }
  return config;
}

/** -H, -D, -y, -Z and -b, as their configuration keys name them. */
function connectionOf(options: Options): ConnectionOptions {
  return {
    uri: options.uri,
    bindDN: options.bindDn,
    passwordFile: options.passwordFile,
    startTLS: options.startTls,
    base: options.base,
  };
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

/**
 * The events --add or --trigger asks for, within the EVENT_LIMITS (exit
 * status 4 if not) and, for a trigger, allowed by its conduits; none for
 * other actions.
 */
function requestsOf(
  config: Config,
  options: Options,
  action: Action,
): EventRequest[] {
  const args = parseArguments(options.args ?? []);
  if (action === 'trigger') {
    return triggerRequests(config, options.trigger as string, args);
  }
  if (action !== 'add') return [];
  const request = { conduit: options.add as string, arguments: args };
  checkLimits(request);
  return [request];
}

/**
 * --add-batch: every line is read and checked before connecting, then the
 * events are added with EventQueue.addMany.
 */
async function addBatch(config: Config, file: string, json = false) {
  const bytes = await readBatch(file).catch((error: Error) =>
    usage(`--add-batch: cannot read ${file}: ${error.message}`),
  );
  const batch = parseBatch(bytes, config.conduits);
  const queue = await EventQueue.open(config);
  try {
    const results = await queue.addMany(batch.requests);
    write(json ? batchJson(batch, results) : batchSummary(results), json);
  } finally {
    await queue.close();
  }
}

function listConduits(config: Config, json = false): void {
  const conduits = [...config.conduits.values()];
  write(json ? conduits.map(conduitJson) : conduitsTable(conduits), json);
}

interface AddOptions {
  json: boolean;
  /** How long --wait waits; undefined without --wait. */
  waitMs: number | undefined;
  /** The trigger's name, for --trigger. */
  trigger?: string;
}

/**
 * Adds the events (all checked before the first is written), then with
 * --wait follows them. JSON is one object for --add, and for --trigger an
 * object with the trigger's name and a list of them.
 */
async function add(
  queue: EventQueue,
  requests: readonly EventRequest[],
  options: AddOptions,
) {
  const results: AddResult[] = [];
  for (const request of requests) {
    const result = await queue.add(request);
    results.push(result);
    if (!options.json) write(`${addedLine(result, request)}\n`);
  }
  const { waitMs } = options;
  const followed =
    waitMs === undefined ? undefined : await follow(queue, results, waitMs);
  if (followed !== undefined) process.exitCode = exitCodeOf(followed);
  if (options.json) return writeAdded(requests, results, followed, options);
  for (const each of followed ?? []) {
    const line = `${describeOutcome(each, waitMs ?? 0)}\n`;
    if (each.outcome === 'ran') write(line);
    else process.stderr.write(line);
  }
}

function addedLine(result: AddResult, request: EventRequest): string {
  const what = describeRequest(request.conduit, request.arguments);
  return result.added
    ? `Queued event ${result.hash}: ${what}`
    : `Already queued as event ${result.hash}: ${what}`;
}

function writeAdded(
  requests: readonly EventRequest[],
  results: readonly AddResult[],
  followed: readonly Followed[] | undefined,
  options: AddOptions,
): void {
  const events = results.map((result, at) => {
    const { conduit, arguments: args } = requests[at] as EventRequest;
    const { hash, dn, added } = result;
    const id = result.id ?? null;
    const outcome = followed?.[at];
    const waited =
      outcome === undefined
        ? {}
        : { outcome: outcome.outcome, reason: outcome.reason };
    return { hash, dn, added, id, conduit, arguments: args, ...waited };
  });
  if (options.trigger === undefined) return write(events[0], true);
  write({ trigger: options.trigger, events }, true);
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
