/**
 * The CLI's configuration: the configuration file, with connection
 * settings taken, as the OpenLDAP tools take them, from options, the
 * environment and ldap.conf.
 *
 * Precedence, highest first: an option (-H, -D, -y, -Z, -b), the
 * configuration file, the environment (LDAPURI, LDAPBASE, LDAPTLS_CACERT),
 * then ldap.conf (URI, BASE, TLS_CACERT; the file named by $LDAPCONF,
 * else /etc/ldap/ldap.conf).
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import {
  ConfigError,
  loadConfig,
  parseConfig,
  type Config,
} from '../agent/config.js';

export const DEFAULT_LDAP_CONF = '/etc/ldap/ldap.conf';

/** Connection options named as the OpenLDAP tools name them. */
export interface ConnectionOptions {
  /** -H: the server's URI. */
  uri?: string;
  /** -D: the DN to bind as. */
  bindDN?: string;
  /** -y: the file holding the bind password. */
  passwordFile?: string;
  /** -Z: StartTLS before binding. */
  startTLS?: boolean;
  /** -b: the queue base. */
  base?: string;
}

/** The settings of ldap.conf that the CLI uses. */
export interface LdapConf {
  uri?: string;
  base?: string;
  caFile?: string;
}

export interface CliConfig {
  readonly config: Config;
  /** Whether a configuration file was read (and so the conduits known). */
  readonly fromFile: boolean;
}

/**
 * The configuration for the CLI. The file is optional unless it was named
 * (`explicit`): without it, the options, environment and ldap.conf must
 * give at least the URI, and no conduits are known.
 */
export function cliConfig(
  file: string,
  explicit: boolean,
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv = process.env,
): CliConfig {
  const source = readOptional(file, explicit);
  if (source === undefined && (options.uri ?? fallbackUri(env)) === undefined) {
    throw new ConfigError(file, [
      'cannot read the file (ENOENT), and no LDAP URI was given by -H, ' +
        `$LDAPURI or ${ldapConfPath(env)} instead`,
    ]);
  }
  const raw = source === undefined ? {} : parseRaw(source, file);
  const ldap = overlay(section(raw, 'ldap'), options, env);
  const merged = { conduits: {}, ...raw, ldap };
  const given = Object.values(options).some((value) => value !== undefined);
  // Where a bad value may have come from, for the error message.
  const label =
    source === undefined
      ? 'given by -H, -D, -y, -Z, -b, the environment and ldap.conf'
      : given
        ? `${file} with the command-line options`
        : file;
  return {
    config: parseConfig(YAML.stringify(merged), label),
    fromFile: source !== undefined,
  };
}

/** The file's text; undefined if it is absent and was not named. */
function readOptional(file: string, explicit: boolean): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing && !explicit) return undefined;
    return loadConfig(file) as never;
  }
}

/** The YAML document as plain data; parseConfig reports a broken one. */
function parseRaw(source: string, file: string): Record<string, unknown> {
  const document = YAML.parseDocument(source, { uniqueKeys: true });
  const raw: unknown = document.errors.length > 0 ? null : document.toJS();
  if (!isMap(raw)) {
    parseConfig(source, file);
    throw new ConfigError(file, ['(top level): expected a map of settings']);
  }
  return raw;
}

/** The ldap section with options over it and fallbacks under it. */
function overlay(
  ldap: Record<string, unknown>,
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const conf = readLdapConf(ldapConfPath(env));
  const tls = section(ldap, 'tls');
  const caFile = tls.caFile ?? env.LDAPTLS_CACERT ?? conf.caFile;
  return withoutUndefined({
    ...ldap,
    url: options.uri ?? ldap.url ?? fallbackUri(env),
    bindDN: options.bindDN ?? ldap.bindDN,
    passwordFile: options.passwordFile ?? ldap.passwordFile,
    startTLS: options.startTLS === true ? true : ldap.startTLS,
    queueBase: options.base ?? ldap.queueBase ?? env.LDAPBASE ?? conf.base,
    tls: withoutUndefined({ ...tls, caFile }),
  });
}

function fallbackUri(env: NodeJS.ProcessEnv): string | undefined {
  return firstUri(env.LDAPURI) ?? readLdapConf(ldapConfPath(env)).uri;
}

/** ldap.conf's path: $LDAPCONF, as the OpenLDAP tools read it, or the default. */
export function ldapConfPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LDAPCONF ?? DEFAULT_LDAP_CONF;
}

/**
 * URI, BASE and TLS_CACERT from an ldap.conf (ldap.conf(5)): keywords are
 * case-insensitive, `#` starts a comment line; of several URIs, the first.
 * A missing or unreadable file gives nothing.
 */
export function readLdapConf(file: string): LdapConf {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const settings = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_]+)\s+(.*?)\s*$/.exec(line);
    if (match === null || line.trimStart().startsWith('#')) continue;
    const key = (match[1] as string).toUpperCase();
    if (!settings.has(key)) settings.set(key, match[2] as string);
  }
  return withoutUndefined({
    uri: firstUri(settings.get('URI')),
    base: settings.get('BASE'),
    caFile: settings.get('TLS_CACERT'),
  });
}

function firstUri(list: string | undefined): string | undefined {
  const first = list?.split(/[\s,]+/).find((uri) => uri !== '');
  return first;
}

function section(
  raw: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  const value = raw[key];
  return isMap(value) ? value : {};
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, each]) => each !== undefined),
  ) as T;
}
