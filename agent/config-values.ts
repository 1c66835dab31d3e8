/**
 * The values a configuration holds, each parsed and checked one way:
 * durations, addresses, distinguished names and argument patterns. The
 * zod types here carry the messages that name what was expected.
 */
import net from 'node:net';
import { DN } from '@ldapjs/dn';
import { z } from 'zod';

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

export const duration = z.string().transform((text, context) => {
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

export const text = z.string({ error: 'expected a string' }).min(1, {
  error: 'expected a non-empty string',
});

export const listen = text.transform((value, context) => {
  const parsed = parseListen(value);
  if (parsed !== undefined) return parsed;
  context.addIssue({
    code: 'custom',
    message: 'expected host:port such as 127.0.0.1:9464 or [::1]:9464',
  });
  return z.NEVER;
});

export const distinguishedName = text.refine(isDistinguishedName, {
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

export const pattern = text.transform((source, context) => {
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
