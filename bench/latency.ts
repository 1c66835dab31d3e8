/**
 * Latency: how long after an event is added does its conduit start, and
 * how close is that to the floor, what no agent could beat?
 *
 * For 389 Directory Server it needs root. Each watch mode
 * runs against a throwaway local server: syncrepl and poll on OpenLDAP,
 * psearch on 389-ds (skipped, with the reason, if it cannot be started).
 * Events are added one at a time, each after the last one's run has
 * started and its entry has been deleted, so the figures are latency,
 * never queueing. Every time is wall-clock, in ms, from this machine.
 *
 * agent  From "add completed", the moment this process's ldapjs add
 *        callback runs (one ldapjs connection for all adds), to "conduit
 *        started", the time the conduit itself wrote with `date +%s%N`
 *        (bench/start-time.sh). The agent is the real process, `node
 *        dist/agent/main.js --config ...`, at log level info.
 * (a)    A bare consumer's notification latency: from "add completed" to
 *        the moment the entry reached a consumer (bench/consumer.ts) that
 *        holds the same search as the agent, on agent/protocol's
 *        LdapConnection, at the same time as the agent. For poll, the
 *        consumer repeats the agent's reconcile search every interval.
 * (b)    The directory writes the agent makes before starting a run: its
 *        claim, a move of the entry into ou=Running and a modify recording
 *        the claim. Measured by doing the same two operations back to back
 *        on one ldapjs connection, on a scratch entry outside the queue,
 *        after each event's run.
 * (c)    Spawning the same conduit directly from this process with the
 *        agent's spawn options (bench/spawn.ts): from just before spawn()
 *        to the time the conduit wrote. Measured after each event's run,
 *        with the agent idle.
 * floor  (a) + (b) + (c), added per event; p50 and p99 of those sums.
 *
 * Targets: agent p50 within 1.5x of the floor's, p99 within 3x.
 */
import { measureMode, type ModeSamples } from './measure.js';
import {
  eventsFor,
  POLL_EVENTS,
  POLL_INTERVAL_MS,
  WATCH_RECONCILE_MS,
  type Options,
} from './options.js';
import type { WatchKind } from './consumer.js';
import {
  startDirsrv,
  startOpenLdap,
  type BenchServer,
  type Started,
} from './servers.js';
import { addPairwise, summarize } from './stats.js';
import { ms, times, verdict, type TableRow } from './table.js';

export const TARGET_P50 = 1.5;
export const TARGET_P99 = 3;

/** Starts each server once, stops them all at the end. */
export class Servers {
  #openldap: Promise<BenchServer> | undefined;
  readonly #started: Promise<Started>[] = [];

  for(mode: WatchKind): Promise<Started> {
    if (mode === 'psearch') {
      const dirsrv = startDirsrv();
      this.#started.push(dirsrv);
      return dirsrv;
    }
    return this.openLdap().then((server) => ({ server }));
  }

  openLdap(): Promise<BenchServer> {
    this.#openldap ??= startOpenLdap();
    return this.#openldap;
  }

  async stopAll(): Promise<void> {
    const openldap = await this.#openldap?.catch(() => undefined);
    await openldap?.stop();
    for (const started of await Promise.all(this.#started)) {
      if ('server' in started) await started.server.stop();
    }
  }
}

/** The latency rows: p50 and p99 per watch mode. */
export async function measureLatency(
  options: Options,
  servers: Servers,
): Promise<TableRow[]> {
  const rows: TableRow[] = [];
  for (const mode of options.modes) {
    rows.push(...(await measure(mode, options, servers)));
  }
  return rows;
}

async function measure(
  mode: WatchKind,
  options: Options,
  servers: Servers,
): Promise<TableRow[]> {
  const started = await servers.for(mode);
  if ('skipped' in started) {
    console.error(`${mode}: skipped, ${started.skipped}`);
    return [skippedRow(mode, started.skipped)];
  }
  const { server } = started;
  const { events, warmup } = eventsFor(mode, options);
  console.error(
    `latency, ${mode}: ${events} events (after ${warmup} to warm up) ` +
      `against ${server.name} at ${server.url}...`,
  );
  const samples: ModeSamples = await measureMode({
    mode,
    server,
    events,
    warmup,
    reconcileIntervalMs:
      mode === 'poll' ? POLL_INTERVAL_MS : WATCH_RECONCILE_MS,
  });
  if (mode === 'psearch') await server.stop();
  return latencyRows(mode, server.name, samples);
}

function latencyRows(
  mode: WatchKind,
  server: string,
  s: ModeSamples,
): TableRow[] {
  const agent = summarize(s.agent);
  const floor = summarize(addPairwise(s.watch, s.writeTime, s.spawn));
  const watch = summarize(s.watch);
  const writes = summarize(s.writeTime);
  const spawn = summarize(s.spawn);
  const figure = (p: string) =>
    `latency ${mode}, ${p} of ${agent.count} events`;
  const row = (p: 'p50' | 'p99', target: number): TableRow => ({
    figure: figure(p),
    server,
    measured: ms(agent[p]),
    reference:
      `floor ${ms(floor[p])} (a ${watch[p].toFixed(2)} + ` +
      `b ${writes[p].toFixed(2)} + c ${spawn[p].toFixed(2)})`,
    ratio: times(agent[p] / floor[p]),
    target: `<= ${target}x floor`,
    result: verdict(agent[p] / floor[p], target, 'most'),
  });
  return [row('p50', TARGET_P50), row('p99', TARGET_P99)];
}

function skippedRow(mode: WatchKind, reason: string): TableRow {
  return {
    figure: `latency ${mode}`,
    server: '389-ds',
    measured: `skipped: ${reason}`,
    reference: '-',
    ratio: '-',
    target: '-',
    result: 'skipped',
  };
}

/** How the latency rows were measured, for the notes under the table. */
export function latencyNotes(options: Options): string[] {
  const poll = options.modes.includes('poll')
    ? [
        `poll: ${Math.min(POLL_EVENTS, options.events)} events only, with ` +
          `reconcileInterval ${POLL_INTERVAL_MS / 1000}s; an event waits ` +
          'for the next reconcile, so both the agent and floor (a), a bare ' +
          'consumer searching on the same interval, are spread over 0 to ' +
          '1 s and their ratio is mostly chance.',
      ]
    : [];
  return [
    'latency: add completed (ldapjs callback) -> conduit wrote ' +
      '`date +%s%N`; floor = (a) add completed -> entry received by a ' +
      "bare consumer holding the same search, + (b) the claim's move and " +
      'modify done back to back, + (c) spawn() of the same conduit -> it ' +
      'wrote its time; per event, then p50 and p99 of the sums. Watch ' +
      `modes run with reconcileInterval ${WATCH_RECONCILE_MS / 1000}s.`,
    ...poll,
  ];
}
