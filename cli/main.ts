#!/usr/bin/env node
/**
 * prometheus-eventqueue: add, display and delete events; run the agent in
 * the foreground with --monitor.
 */
import { Command, Option } from 'commander';
import { loadConfig, configFile, type Config } from '../agent/config.js';
import { runAgent } from '../agent/daemon.js';
import { EVENT_HASH, parseArguments } from '../agent/event.js';
import { ExitCode, reportFatal, VERSION } from '../agent/process.js';
import { EventQueue } from '../agent/queue.js';
import {
  conduitJson,
  conduitsTable,
  describeRequest,
  eventJson,
  eventsTable,
} from './format.js';

interface Options {
  config?: string;
  listconduits?: boolean;
  add?: string;
  args?: string[];
  display?: boolean;
  delete?: string;
  monitor?: boolean;
  json?: boolean;
}

const ACTIONS = [
  'listconduits',
  'add',
  'display',
  'delete',
  'monitor',
] as const;

const program = new Command('prometheus-eventqueue')
  .description('Add, display and delete Prometheus conduit events in LDAP.')
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
  .option('--display', 'show pending events in the order they will run')
  .option('--delete <hash>', 'remove the pending event with this hash')
  .option('--monitor', 'run the agent in the foreground')
  .option(
    '--json',
    'print JSON (with --add, --display, --delete, --listconduits)',
  )
  .addHelpText(
    'after',
    '\nExamples:\n' +
      '  prometheus-eventqueue --add Prometheus::Conduits::RoleExpander ' +
      '--args username=juser\n' +
      '  prometheus-eventqueue --display --json\n',
  )
  .exitOverride()
  .action(main);

async function main(options: Options): Promise<void> {
  const chosen = ACTIONS.filter((action) => options[action] !== undefined);
  if (chosen.length !== 1) {
    program.error(
      'Give exactly one of --listconduits, --add, --display, --delete ' +
        `or --monitor${chosen.length > 1 ? ` (got ${chosen.join(', ')})` : ''}.`,
      { exitCode: ExitCode.usage },
    );
  }
  if (options.args !== undefined && options.add === undefined) {
    program.error('--args goes with --add.', { exitCode: ExitCode.usage });
  }
  const file = configFile(options.config);
  if (options.monitor) {
    process.exitCode = await runAgent(file);
    return;
  }
  const config = loadConfig(file);
  if (options.listconduits) return listConduits(config, options.json);
  const request = options.add === undefined ? undefined : requestOf(options);
  const queue = await EventQueue.open(config);
  try {
    if (request !== undefined) await add(queue, request, options.json);
    else if (options.display) await display(queue, options.json);
    else await remove(queue, options.delete as string, options.json);
  } finally {
    await queue.close();
  }
}

function requestOf(options: Options) {
  return {
    conduit: options.add as string,
    arguments: parseArguments(options.args ?? []),
  };
}

function listConduits(config: Config, json = false): void {
  const conduits = [...config.conduits.values()];
  write(json ? conduits.map(conduitJson) : conduitsTable(conduits), json);
}

async function add(
  queue: EventQueue,
  request: ReturnType<typeof requestOf>,
  json = false,
) {
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
  const { events, malformed } = await queue.list();
  for (const entry of malformed) {
    process.stderr.write(
      `Warning: ${entry.dn} is not a valid event: ${entry.reason}\n`,
    );
  }
  write(json ? events.map(eventJson) : eventsTable(events), json);
}

async function remove(queue: EventQueue, hash: string, json = false) {
  if (!EVENT_HASH.test(hash)) {
    program.error(
      `"${hash}" is not an event hash; expected 32 lowercase hex digits ` +
        '(see --display).',
      { exitCode: ExitCode.usage },
    );
  }
  const deleted = await queue.delete(hash);
  if (json) write({ hash, deleted: deleted.length }, true);
  if (deleted.length === 0) {
    process.stderr.write(`No pending event has hash ${hash}.\n`);
    process.exitCode = ExitCode.failure;
    return;
  }
  if (!json) write(`Deleted event ${hash}\n`);
}

function write(value: unknown, json = false): void {
  process.stdout.write(
    json ? `${JSON.stringify(value, null, 2)}\n` : String(value),
  );
}

program.parseAsync().catch(reportFatal);
