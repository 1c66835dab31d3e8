/**
 * The configuration file, read and checked before anything connects.
 *
 * Every complaint names the key, the value found and what was expected, and
 * all complaints are reported at once so that one edit can fix them all.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { DN } from '@ldapjs/dn';
import YAML from 'yaml';
import { z } from 'zod';
import { ARGUMENT_NAME } from './event.js';

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

/** A TCP address to listen on: `127.0.0.1:9464`, `[::1]:9464`. */
export interface Listen {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port`, with IPv6 addresses in brackets. */
export function parseListen(text: string): Listen | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
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

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Parses `500ms`, `60s`, `10m`, `1h` or `2d`. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (match === null) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** Node's timers hold at most 2^31 - 1 ms (about 24.8 days). */
const MAX_DURATION_MS = 2 ** 31 - 1;

const duration = z.string().transform((text, context) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    context.addIssue({
      code: 'custom',
      message: 'expected a duration such as 500ms, 60s, 10m or 1h, at most 24d',
    });
    return z.NEVER;
  }
  return ms;
});

const text = z.string({ error: 'expected a string' }).min(1, {
  error: 'expected a non-empty string',
});

const listen = text.transform((value, context) => {
  const parsed = parseListen(value);
  if (parsed !== undefined) return parsed;
  context.addIssue({
    code: 'custom',
    message: 'expected host:port such as 127.0.0.1:9464 or [::1]:9464',
  });
  return z.NEVER;
});

const distinguishedName = text.refine(isDistinguishedName, {
  error: 'expected a distinguished name such as ou=EventQueue,dc=example',
});

function isDistinguishedName(value: string): boolean {
  try {
    return DN.fromString(value).length > 0;
  } catch {
    return false;
  }
}

/** A pattern that the whole of an argument's value must match. */
export class ArgumentPattern {
  readonly #regex: RegExp;

  constructor(readonly source: string) {
    // Anchored, so that a pattern written without ^ and $ cannot be
    // satisfied by a value that merely contains a match.
    this.#regex = new RegExp(`^(?:${source})$`, 'u');
  }

  test(value: string): boolean {
    return this.#regex.test(value);
  }
}

const pattern = text.transform((source, context) => {
  try {
    return new ArgumentPattern(source);
  } catch (error) {
    context.addIssue({
      code: 'custom',
      message: `expected a regular expression (${(error as Error).message})`,
    });
    return z.NEVER;
  }
});

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

function valueAt(raw: unknown, keys: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of keys) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Checks across keys, run on the raw document so that they are reported
 * together with every other problem. */
function crossChecks(raw: unknown): string[] {
  return [...bindChecks(raw), ...transportChecks(raw), ...triggerChecks(raw)];
}

/** Each conduit a trigger names must resolve to one configured conduit. */
function triggerChecks(raw: unknown): string[] {
  const triggers = valueAt(raw, ['triggers']);
  const conduits = valueAt(raw, ['conduits']);
  if (!isMap(triggers) || !isMap(conduits)) return [];
  const names = Object.keys(conduits);
  return Object.entries(triggers).flatMap(([trigger, list]) =>
    (Array.isArray(list) ? list : []).flatMap((name: unknown, index) => {
      if (typeof name !== 'string') return [];
      const { problem } = resolveConduit(names, name);
      if (problem === undefined) return [];
      return [
        `triggers.${trigger}.${index}: found ${JSON.stringify(name)}, ` +
          problem,
      ];
    }),
  );
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A conduit named in full, or by the last `::`-separated component of its
 * name when exactly one configured conduit ends that way.
 */
export function resolveConduit(
  names: readonly string[],
  name: string,
): { conduit?: string; problem?: string } {
  if (names.includes(name)) return { conduit: name };
  const matches = names.filter((full) => full.split('::').at(-1) === name);
  if (matches.length === 1) return { conduit: matches[0] };
  if (matches.length > 1) {
    return {
      problem: `expected one conduit, but it is the short name of ${matches.join(', ')}; give the full name`,
    };
  }
  const known = names.join(', ') || 'none';
  return {
    problem: `expected the full or short name of a conduit (configured: ${known})`,
  };
}

function bindChecks(raw: unknown): string[] {
  const bindDN = valueAt(raw, ['ldap', 'bindDN']);
  const passwordFile = valueAt(raw, ['ldap', 'passwordFile']);
  if ((bindDN === undefined) === (passwordFile === undefined)) return [];
  return [
    'ldap.bindDN and ldap.passwordFile: expected both (a simple bind) ' +
      'or neither (an anonymous bind)',
  ];
}

/**
 * StartTLS only on ldap://, and no password in the clear to another host:
 * anyone on the path could read it. Loopback never leaves the machine.
 */
function transportChecks(raw: unknown): string[] {
  const url = valueAt(raw, ['ldap', 'url']);
  if (typeof url !== 'string') return [];
  const endpoint = urlParts(url);
  if (endpoint === undefined) return [];
  const startTLS = valueAt(raw, ['ldap', 'startTLS']) === true;

  if (endpoint.secure && startTLS) {
    return [
      `ldap.startTLS: found true with ldap.url ${JSON.stringify(url)}, ` +
        'expected false: an ldaps:// connection is encrypted from the ' +
        'start (use an ldap:// URL for StartTLS)',
    ];
  }
  const password = valueAt(raw, ['ldap', 'passwordFile']) !== undefined;
  const allowed = valueAt(raw, ['ldap', 'allowPlaintextPassword']) === true;
  if (!password || endpoint.secure || startTLS || allowed) return [];
  if (isLoopback(endpoint.host)) return [];
  return [
    `ldap.url, ldap.startTLS: found ${JSON.stringify(url)} without ` +
      'StartTLS, which would send the password of ldap.bindDN ' +
      'unencrypted to another host; expected an ldaps:// URL or ' +
      'ldap.startTLS: true (or, on a network you trust, ' +
      'ldap.allowPlaintextPassword: true)',
  ];
}

function urlParts(text: string): { secure: boolean; host: string } | undefined {
  try {
    const url = new URL(text);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { secure: url.protocol === 'ldaps:', host };
  } catch {
    return undefined;
  }
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 and localhost: addresses that stay on this machine. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name)?.[1];
  if (mapped !== undefined) return LOOPBACK.check(mapped, 'ipv4');
  if (net.isIPv4(name)) return LOOPBACK.check(name, 'ipv4');
  return net.isIPv6(name) && LOOPBACK.check(name, 'ipv6');
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

/** Reads the bind password: the file's first line, without its newline. */
export function readPassword(config: Config): string | undefined {
  const file = config.ldap.passwordFile;
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/)[0];
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(
      config.file,
      [`ldap.passwordFile: cannot read ${file} (${reason})`],
      { cause: error },
    );
  }
}
