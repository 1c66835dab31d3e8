#!/usr/bin/env node
/**
 * prometheus-eventqueue: add events (one, a trigger's, or a batch) and
 * wait for them; display and delete events; list, retry and purge failed
 * ones; run the agent in the foreground with --monitor.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ConfigError,
  configFile,
  parseDuration,
  type Config,
} from '../agent/config.js';
import { runAgent } from '../agent/daemon.js';
import {
  ArgumentError,
  checkLimits,
  EVENT_HASH,
  excerpt,
  parseArguments,
  type EventRequest,
} from '../agent/event.js';
import { ExitCode, reportFatal, VERSION } from '../agent/process.js';
import { EventQueue } from '../agent/queue.js';
import {
  display,
  listConduits,
  listFailed,
  purge,
  remove,
  retry,
} from './actions.js';
import { add, addBatch } from './add.js';
import { parseBatch, readBatch } from './batch.js';
import { cliConfig, type ConnectionOptions } from './connection.js';
import { endQuietlyOnClosedPipe } from './output.js';
import { fullRuns, triggerRequests } from './trigger.js';
import { DEFAULT_WAIT_MS } from './wait.js';

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
  .addOption(
    once('--add <conduit>', 'queue an event that runs this conduit', {
      advice: 'to add several events, use --add-batch',
    }),
  )
  .addOption(
    once(
      '--add-batch <file>',
      'queue the events of FILE (- for standard input), one a line: ' +
        'CONDUIT name=value ..., or a JSON object; all are checked before ' +
        'any is written',
    ),
  )
  .addOption(
    once(
      '--trigger <name>',
      'queue one event for each conduit of this configured trigger',
    ),
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
  .addOption(once('--delete <hash>', 'remove the pending event with this hash'))
  .option('--failed', 'list failed events, the oldest failure first')
  .addOption(
    once(
      '--retry <hash>',
      'put the failed event with this hash back in the queue',
    ),
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
    const file = options.addBatch as string;
    const bytes = await readBatch(file).catch((error: Error) =>
      usage(`--add-batch: cannot read ${file}: ${error.message}`),
    );
    return addBatch(config, parseBatch(bytes, config.conduits), options.json);
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
  if (options.monitor && options.json) {
    usage('--json does not apply to --monitor (the agent logs instead).');
  }
  return chosen[0] as Action;
}

/**
 * An option that takes a value and may be given once: commander would
 * keep the last of several silently.
 */
function once(
  flags: string,
  description: string,
  { advice = 'give it once' } = {},
): Option {
  const option = new Option(flags, description);
  return option.argParser((value: string, previous: unknown) => {
    if (previous !== undefined) {
      throw new InvalidArgumentError(
        `${option.long} is given more than once; ${advice}.`,
      );
    }
    return value;
  });
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
 * The --args pairs, refused if any holds U+FFFD. Node decodes the command
 * line as UTF-8 and replaces bytes that are not UTF-8 with U+FFFD, so the
 * value given cannot be recovered; queueing the replacement would run
 * the conduit for a value nobody asked for.
 */
function checkArgv(pairs: readonly string[]): readonly string[] {
  for (const pair of pairs) {
    if (!pair.includes('\uFFFD')) continue;
    throw new ArgumentError(
      `--args ${excerpt(pair)} holds U+FFFD, the replacement character: ` +
        'the value was probably not valid UTF-8, and what it was cannot ' +
        'be recovered from the command line. Give the value in UTF-8; a ' +
        'value that really holds U+FFFD goes in an --add-batch line.',
    );
  }
  return pairs;
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
  const args = parseArguments(checkArgv(options.args ?? []));
  if (action === 'trigger') {
    const requests = triggerRequests(config, options.trigger as string, args);
    for (const note of fullRuns(config, requests, args)) {
      process.stderr.write(`${note}\n`);
    }
    return requests;
  }
  if (action !== 'add') return [];
  const request = { conduit: options.add as string, arguments: args };
  checkLimits(request);
  return [request];
}

/**
 * Set once the action has ended, well or not. Node exits when nothing is
 * left to wait for; if that happens before, some operation was left
 * waiting for an answer that cannot come (the directory connection was
 * lost), and the process must not exit 0 as if all went well.
 */
let ended = false;

process.on('beforeExit', () => {
  if (ended) return;
  ended = true;
  process.stderr.write(
    'Error: the connection to the directory was lost before the action ' +
      'finished; anything written before that stays. Check the server and ' +
      'run the command again (adding an event already queued is safe).\n',
  );
  process.exitCode = ExitCode.directory;
});

endQuietlyOnClosedPipe();
program
  .parseAsync()
  .catch(reportFatal)
  .finally(() => (ended = true));
