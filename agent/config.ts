/**
 * The configuration file, read and checked before anything connects.
 *
 * Every complaint names the key, the value found and what was expected, and
 * all complaints are reported at once so that one edit can fix them all.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import {
  distinguishedName,
  duration,
  listen,
  pattern,
  text,
  type ArgumentPattern,
  type Listen,
} from './config-values.js';
import { crossChecks, resolveConduit, valueAt } from './config-checks.js';
import { ARGUMENT_NAME } from './event.js';

export { resolveConduit } from './config-checks.js';
export {
  ArgumentPattern,
  isLoopback,
  parseDuration,
  parseListen,
  type Listen,
} from './config-values.js';

export const DEFAULT_CONFIG_FILE = '/etc/prometheus-eventqueue/config.yaml';
export const DEFAULT_STATE_DIRECTORY = '/var/lib/prometheus-eventqueue';
export const DEFAULT_QUEUE_BASE =
  'ou=EventQueue,o=Prometheus,dc=inf,dc=ed,dc=ac,dc=uk';

export interface ConduitConfig {
  readonly name: string;
  /** Program and leading arguments; never run through a shell. */
  readonly command: readonly string[];
  /** Accepted argument names, each with the pattern a value must match. */
  readonly arguments: ReadonlyMap<string, ArgumentPattern>;
  readonly timeoutMs: number;
  /** Runs before the event moves to the failed area. */
  readonly attempts: number;
  /** Whether a run without arguments covers pending runs with them. */
  readonly coalesce: boolean;
}

export interface LdapConfig {
  readonly url: string;
  readonly bindDN: string | undefined;
  readonly passwordFile: string | undefined;
  readonly queueBase: string;
  readonly connectTimeoutMs: number;
  /** How long the work connection waits for any one response. */
  readonly operationTimeoutMs: number;
  /** Upgrade an ldap:// connection with StartTLS before binding. */
  readonly startTLS: boolean;
  readonly tls: LdapTlsConfig;
  /** Whether a simple bind may send its password unencrypted. */
  readonly allowPlaintextPassword: boolean;
}

export interface LdapTlsConfig {
  /** The CA file's path, for messages; undefined for the system store. */
  readonly caFile: string | undefined;
  /** The CA file's certificates (PEM), read when the file is loaded. */
  readonly ca: Buffer | undefined;
  /** Verify the server's certificate and host name. @default true */
  readonly verify: boolean;
}

/** How the agent learns of new events; see agent/watch/select.ts. */
export type WatchMode = 'auto' | 'syncrepl' | 'psearch' | 'poll';

export interface AgentConfig {
  readonly watch: WatchMode;
  /** Where the syncrepl cookie is kept across restarts. */
  readonly stateDirectory: string;
  readonly reconcileIntervalMs: number;
  /** Interval of the watch connection's liveness check. */
  readonly heartbeatMs: number;
  readonly logFile: string | undefined;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** How log lines are written. @default 'text' */
  readonly logFormat: 'text' | 'json';
  /** Where /metrics and /health are served; undefined (the default): off. */
  readonly metricsListen: Listen | undefined;
  /** First delay before a failed event runs again; doubles each attempt. */
  readonly retryDelayMs: number;
  /** Time between SIGTERM and SIGKILL to a conduit's process group. */
  readonly killGraceMs: number;
  /** Added to a conduit's timeout and the kill grace to give a claim's lease. */
  readonly leaseMarginMs: number;
  /** How long a running conduit may finish after SIGTERM to the agent. */
  readonly shutdownGraceMs: number;
}

export interface Config {
  readonly file: string;
  readonly ldap: LdapConfig;
  readonly agent: AgentConfig;
  readonly conduits: ReadonlyMap<string, ConduitConfig>;
  /** Trigger names, each with the full names of the conduits it runs. */
  readonly triggers: ReadonlyMap<string, readonly string[]>;
}

export class ConfigError extends Error {
  readonly code = 'EQ_CONFIG';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `Configuration ${file} is not valid:\n` +
        problems.map((problem) => `  - ${problem}`).join('\n'),
      options,
    );
  }
}

const conduitSchema = z.strictObject({
  command: z
    .array(text, { error: 'expected a list: [program, argument, ...]' })
    .min(1, { error: 'expected at least the program' }),
  arguments: z
    .record(
      z.string().regex(ARGUMENT_NAME, {
        error:
          'expected an argument name: a letter, then letters, digits, _ or -',
      }),
      pattern,
    )
    .default({}),
  timeout: duration.prefault('10m'),
  attempts: z
    .number({ error: 'expected a whole number from 1 to 100' })
    .int({ error: 'expected a whole number from 1 to 100' })
    .min(1, { error: 'expected a whole number from 1 to 100' })
    .max(100, { error: 'expected a whole number from 1 to 100' })
    .default(5),
  coalesce: z.boolean({ error: 'expected true or false' }).default(false),
});

const schema = z.strictObject({
  ldap: z.strictObject({
    url: text.regex(/^ldaps?:\/\/[^/]+\/?$/i, {
      error: 'expected an LDAP URL such as ldap://127.0.0.1:389',
    }),
    bindDN: distinguishedName.optional(),
    passwordFile: text.optional(),
    queueBase: distinguishedName.default(DEFAULT_QUEUE_BASE),
    connectTimeout: duration.prefault('10s'),
    operationTimeout: duration.prefault('60s'),
    startTLS: z.boolean({ error: 'expected true or false' }).default(false),
    tls: z
      .strictObject({
        caFile: text.optional(),
        verify: z.boolean({ error: 'expected true or false' }).default(true),
      })
      .prefault({}),
    allowPlaintextPassword: z
      .boolean({ error: 'expected true or false' })
      .default(false),
  }),
  agent: z
    .strictObject({
      watch: z
        .enum(['auto', 'syncrepl', 'psearch', 'poll'], {
          error: 'expected auto, syncrepl, psearch or poll',
        })
        .default('auto'),
      stateDirectory: text.default(DEFAULT_STATE_DIRECTORY),
      reconcileInterval: duration.prefault('60s'),
      heartbeat: duration.prefault('15s'),
      logFile: text.optional(),
      logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
      logFormat: z
        .enum(['text', 'json'], { error: 'expected text or json' })
        .default('text'),
      metrics: z.strictObject({ listen }).optional(),
      retryDelay: duration.prefault('60s'),
      killGrace: duration.prefault('5s'),
      leaseMargin: duration.prefault('60s'),
      shutdownGrace: duration.prefault('30s'),
    })
    .prefault({}),
  conduits: z.record(text, conduitSchema, {
    error: 'expected a map of conduit names to their settings',
  }),
  triggers: z
    .record(
      text,
      z
        .array(text, { error: 'expected a list of conduit names' })
        .min(1, { error: 'expected at least one conduit' }),
      { error: 'expected a map of trigger names to lists of conduits' },
    )
    .default({}),
});

type Parsed = z.infer<typeof schema>;

/** Reads and checks a configuration file. Throws ConfigError. */
export function loadConfig(file: string): Config {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(file, [`cannot read the file (${reason})`], {
      cause: error,
    });
  }
  return parseConfig(source, file);
}

export function parseConfig(source: string, file: string): Config {
  const document = YAML.parseDocument(source, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((error) => `YAML: ${error.message}`),
    );
  }
  const raw: unknown = document.toJS();
  const result = schema.safeParse(raw);
  const caFile = result.data?.ldap.tls.caFile;
  const { ca, problems: caProblems } = readCaFile(caFile);
  const problems = [
    ...(result.error?.issues.map(describe(raw)) ?? []),
    ...crossChecks(raw),
    ...caProblems,
  ];
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(file, problems);
  }
  return build(result.data, file, ca);
}

function describe(raw: unknown) {
  return (issue: z.core.$ZodIssue): string => {
    const key = issue.path.join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length > 0 ? ` in ${key}` : '';
      return `unknown key${where}: ${issue.keys.join(', ')}`;
    }
    const value =
      issue.code === 'invalid_key'
        ? issue.path.at(-1)
        : valueAt(raw, issue.path);
    const found = value === undefined ? 'nothing' : JSON.stringify(value);
    const message =
      issue.code === 'invalid_key'
        ? (issue.issues[0]?.message ?? issue.message)
        : issue.message;
    return `${key}: found ${found}, ${message}`;
  };
}

/** Reads ldap.tls.caFile; a file that holds no certificate is a problem. */
function readCaFile(file: string | undefined): {
  ca: Buffer | undefined;
  problems: string[];
} {
  if (file === undefined) return { ca: undefined, problems: [] };
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return {
      ca: undefined,
      problems: [`ldap.tls.caFile: cannot read ${file} (${reason})`],
    };
  }
  if (ca.includes('-----BEGIN CERTIFICATE-----')) return { ca, problems: [] };
  return {
    ca: undefined,
    problems: [
      `ldap.tls.caFile: found ${JSON.stringify(file)}, expected a PEM ` +
        'file holding at least one -----BEGIN CERTIFICATE----- block',
    ],
  };
}

function build(parsed: Parsed, file: string, ca: Buffer | undefined): Config {
  return {
    file,
    ldap: {
      url: parsed.ldap.url.replace(/\/$/, ''),
      bindDN: parsed.ldap.bindDN,
      passwordFile: parsed.ldap.passwordFile,
      queueBase: parsed.ldap.queueBase,
      connectTimeoutMs: parsed.ldap.connectTimeout,
      operationTimeoutMs: parsed.ldap.operationTimeout,
      startTLS: parsed.ldap.startTLS,
      tls: {
        caFile: parsed.ldap.tls.caFile,
        ca,
        verify: parsed.ldap.tls.verify,
      },
      allowPlaintextPassword: parsed.ldap.allowPlaintextPassword,
    },
    agent: {
      watch: parsed.agent.watch,
      stateDirectory: parsed.agent.stateDirectory,
      reconcileIntervalMs: parsed.agent.reconcileInterval,
      heartbeatMs: parsed.agent.heartbeat,
      logFile: parsed.agent.logFile,
      logLevel: parsed.agent.logLevel,
      logFormat: parsed.agent.logFormat,
      metricsListen: parsed.agent.metrics?.listen,
      retryDelayMs: parsed.agent.retryDelay,
      killGraceMs: parsed.agent.killGrace,
      leaseMarginMs: parsed.agent.leaseMargin,
      shutdownGraceMs: parsed.agent.shutdownGrace,
    },
    conduits: new Map(
      Object.entries(parsed.conduits).map(([name, conduit]) => [
        name,
        {
          name,
          command: conduit.command,
          arguments: new Map(Object.entries(conduit.arguments)),
          timeoutMs: conduit.timeout,
          attempts: conduit.attempts,
          coalesce: conduit.coalesce,
        },
      ]),
    ),
    triggers: new Map(
      Object.entries(parsed.triggers).map(([name, list]) => [
        name,
        // Distinct: a conduit named twice (in full and short) runs once.
        [
          ...new Set(
            list.map(
              (conduit) =>
                resolveConduit(Object.keys(parsed.conduits), conduit)
                  .conduit as string,
            ),
          ),
        ],
      ]),
    ),
  };
}

/** The configuration file to use: the option, the environment, the default. */
export function configFile(option: string | undefined): string {
  return (
    option ?? process.env.PROMETHEUS_EVENTQUEUE_CONFIG ?? DEFAULT_CONFIG_FILE
  );
}

/**
 * Reads the bind password: the file's first line, without its newline.
 * An empty one is refused: a simple bind with an empty password is an
 * unauthenticated bind (RFC 4513, 5.1.2), which servers either refuse or
 * accept as anonymous, neither of which was meant.
 */
export function readPassword(config: Config): string | undefined {
  const file = config.ldap.passwordFile;
  if (file === undefined) return undefined;
  let password: string;
  try {
    password = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(
      config.file,
      [`ldap.passwordFile: cannot read ${file} (${reason})`],
      { cause: error },
    );
  }
  if (password !== '') return password;
  throw new ConfigError(config.file, [
    `ldap.passwordFile: ${file} is empty or its first line is; expected ` +
      'the bind password on the first line',
  ]);
}
