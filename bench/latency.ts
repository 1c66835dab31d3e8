/**
 * `npm run bench`: how long after an event is added does its conduit start,
 * and how close is that to the floor, what no agent could beat?
 *
 *   npm run bench -- [--events N] [--modes syncrepl,psearch,poll]
 *
 * Needs `npm run build` and, for 389 Directory Server, root. Each watch mode
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
 *        dist/agent/main.js --config ...`, at log level warn.
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
  parseOptions,
  POLL_EVENTS,
  POLL_INTERVAL_MS,
  UsageError,
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
import { formatTable, type Row } from './table.js';

/** Starts each server once, stops them all at the end. */
class Servers {
  #openldap: Promise<BenchServer> | undefined;
  readonly #started: Promise<Started>[] = [];

  for(mode: WatchKind): Promise<Started> {
    if (mode === 'psearch') {
      const dirsrv = startDirsrv();
      this.#started.push(dirsrv);
      return dirsrv;
    }
    this.#openldap ??= startOpenLdap();
    return this.#openldap.then((server) => ({ server }));
  }

  async stopAll(): Promise<void> {
    const openldap = await this.#openldap?.catch(() => undefined);
    await openldap?.stop();
    for (const started of await Promise.all(this.#started)) {
      if ('server' in started) await started.server.stop();
    }
  }
}

async function measure(mode: WatchKind, options: Options, servers: Servers) {
  const started = await servers.for(mode);
  if ('skipped' in started) {
    console.error(`${mode}: skipped, ${started.skipped}`);
    return { mode, server: '389-ds', skipped: started.skipped };
  }
  const { server } = started;
  const { events, warmup } = eventsFor(mode, options);
  console.error(
    `${mode}: ${events} events (after ${warmup} to warm up) ` +
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
  return { mode, server: server.name, samples };
}

function notes(options: Options): string {
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
    '',
    'agent: add completed (ldapjs callback) -> conduit wrote `date +%s%N`.',
    '(a) watch: add completed -> entry received by a bare consumer holding ' +
      'the same search.',
    "(b) writes: the claim's move and modify, done back to back, " +
      'over all events (p50 cost).',
    '(c) spawn: spawn() of the same conduit -> it wrote `date +%s%N`.',
    `Watch modes run with reconcileInterval ${WATCH_RECONCILE_MS / 1000}s ` +
      '(the default).',
    ...poll,
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const servers = new Servers();
  const stop = () => process.exit(130);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const rows: Row[] = [];
  try {
    for (const mode of options.modes) {
      rows.push(await measure(mode, options, servers));
    }
  } finally {
    await servers.stopAll();
  }
  console.log(formatTable(rows) + '\n' + notes(options));
}

main().catch((error: unknown) => {
  const usage = error instanceof UsageError;
  console.error(`${usage ? 'Usage' : 'Error'}: ${(error as Error).message}`);
  process.exitCode = usage ? 2 : 1;
});
