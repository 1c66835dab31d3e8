/**
 * Reloading the configuration on SIGHUP: which settings a running agent
 * takes from the new file, and a summary of what changed for the log.
 *
 * Taken: the conduits (commands, arguments, timeouts, attempts, coalesce)
 * and agent.logLevel, for the next runs. Kept: the ldap.* connection
 * settings and every other agent.* setting, which apply only at start.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config, ConduitConfig } from './config.js';

export interface ReloadSummary {
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
  readonly logLevel: string | undefined;
  /** Keys that changed but are not reloaded: `ldap`, `agent.heartbeat`... */
  readonly notReloaded: readonly string[];
}

/** The running configuration with the reloadable parts of `next`. */
export function reloadable(current: Config, next: Config): Config {
  return {
    ...current,
    agent: { ...current.agent, logLevel: next.agent.logLevel },
    conduits: next.conduits,
  };
}

export function summarize(current: Config, next: Config): ReloadSummary {
  const before = current.conduits;
  const after = next.conduits;
  const names = (from: ReadonlyMap<string, ConduitConfig>, not: typeof from) =>
    [...from.keys()].filter((name) => !not.has(name));
  const kept = [...after.keys()].filter((name) => before.has(name));
  const { logLevel: oldLevel, ...oldAgent } = current.agent;
  const { logLevel: newLevel, ...newAgent } = next.agent;
  const notReloaded = [
    ...changedKeys('ldap', current.ldap, next.ldap),
    ...changedKeys('agent', oldAgent, newAgent),
  ];
  return {
    added: names(after, before).length,
    removed: names(before, after).length,
    changed: kept.filter(
      (name) => !sameConduit(before.get(name), after.get(name)),
    ).length,
    logLevel: oldLevel === newLevel ? undefined : newLevel,
    notReloaded,
  };
}

function changedKeys(prefix: string, before: object, after: object): string[] {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys]
    .filter((key) => !isDeepStrictEqual(a[key], b[key]))
    .map((key) => `${prefix}.${key}`);
}

function sameConduit(
  a: ConduitConfig | undefined,
  b: ConduitConfig | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  const patterns = (c: ConduitConfig) =>
    [...c.arguments].map(([name, pattern]) => [name, pattern.source]);
  return (
    isDeepStrictEqual(a.command, b.command) &&
    isDeepStrictEqual(patterns(a), patterns(b)) &&
    a.timeoutMs === b.timeoutMs &&
    a.attempts === b.attempts &&
    a.coalesce === b.coalesce
  );
}
