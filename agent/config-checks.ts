/**
 * Checks that span several keys of a configuration. They run on the raw
 * document, so that their complaints are reported together with every
 * other problem instead of only after the rest is fixed.
 */
import { isLoopback } from './config-values.js';

export function valueAt(raw: unknown, keys: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of keys) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Checks across keys, run on the raw document so that they are reported
 * together with every other problem. */
export function crossChecks(raw: unknown): string[] {
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
