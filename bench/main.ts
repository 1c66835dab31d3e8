/**
 * `npm run bench`: every figure of the agent's performance beside its
 * reference, measured in the same run against throwaway local servers,
 * printed as one table with notes on how each was measured.
 *
 *   npm run bench -- [--only latency,throughput,backlog,bulk-add,reconcile]
 *                    [--events N] [--modes syncrepl,psearch,poll]
 *                    [--throughput N] [--backlog N] [--bulk N]
 *
 * Needs `npm run build`, slapd and ldap-utils (installed when missing, as
 * root) and, for the psearch latency rows, root for 389 Directory Server.
 * The defaults run every figure in full, which takes about half an hour;
 * `--backlog 10000` and `--only` make a quick run.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { measureBacklog, type Backlog } from './backlog.js';
import { latencyNotes, measureLatency, Servers } from './latency.js';
import { parseOptions, UsageError, type Options } from './options.js';
import { measureReconcile } from './reconcile.js';
import {
  formatTable,
  mb,
  ms,
  perSecond,
  times,
  verdict,
  type TableRow,
} from './table.js';
import { measureThroughput, type Throughput } from './throughput.js';
import { measureBulkAdd } from './bulk-add.js';

export const TARGET_THROUGHPUT = 0.7;
export const TARGET_FIRST_RUN_MS = 2000;
export const TARGET_RSS_BYTES = 200 * 1024 * 1024;
/** The last 10,000 events of a backlog at least this fast as the first. */
export const TARGET_STEADY = 0.9;

/** Bulk add (README, --add-batch): within 1.5x of ldapjs, under 10 s. */
export const TARGET_BULK_RATIO = 1.5;
export const TARGET_BULK_MS = 10_000;

const OPENLDAP = 'OpenLDAP';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const servers = new Servers();
  const stop = () => process.exit(130);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const loadBefore = os.loadavg()[0] ?? 0;
  const rows: TableRow[] = [];
  const notes: string[] = [];
  try {
    await measureAll(options, servers, rows, notes);
  } finally {
    await servers.stopAll();
  }
  const loadAfter = os.loadavg()[0] ?? 0;
  console.log(
    [
      formatTable(rows),
      '',
      machine(loadBefore, loadAfter),
      '',
      ...notes.map((note) => `- ${note}`),
    ].join('\n'),
  );
}

async function measureAll(
  options: Options,
  servers: Servers,
  rows: TableRow[],
  notes: string[],
): Promise<void> {
  const only = new Set(options.only);
  if (only.has('latency')) {
    rows.push(...(await measureLatency(options, servers)));
    notes.push(...latencyNotes(options));
  }
  let throughput: Throughput | undefined;
  if (only.has('throughput')) {
    console.error(`throughput: ${options.throughput} events...`);
    throughput = await measureThroughput(options.throughput);
    rows.push(throughputRow(throughput));
    notes.push(throughputNote(throughput));
  }
  if (only.has('backlog')) {
    console.error(`backlog: ${options.backlog} events...`);
    const backlog = await measureBacklog(options.backlog);
    rows.push(...backlogRows(backlog, throughput));
    notes.push(backlogNote(backlog));
  }
  if (only.has('bulk-add')) {
    console.error(`bulk add: ${options.bulk} events...`);
    rows.push(...(await bulkAddRows(options.bulk, servers)));
    notes.push(BULK_ADD_NOTE);
  }
  if (only.has('reconcile')) {
    console.error(`reconcile: ${options.backlog} events...`);
    rows.push(...(await reconcileRows(options.backlog)));
    notes.push(RECONCILE_NOTE);
  }
}

function throughputRow(t: Throughput): TableRow {
  const ratio = t.agent / t.floor;
  return {
    figure: `throughput, ${t.events} events, no-op conduit`,
    server: OPENLDAP,
    measured: perSecond(t.agent),
    reference:
      `floor ${perSecond(t.floor)} (claim ${t.claimMs.toFixed(2)} + ` +
      `delete ${t.deleteMs.toFixed(2)} + run ${t.spawnMs.toFixed(2)} ms)`,
    ratio: times(ratio),
    target: `>= ${TARGET_THROUGHPUT}x floor`,
    result: verdict(ratio, TARGET_THROUGHPUT, 'least'),
  };
}

function backlogRows(b: Backlog, t: Throughput | undefined): TableRow[] {
  const name = `backlog ${b.events}`;
  const floorDrain = t === undefined ? undefined : (b.events / t.floor) * 1000;
  const steady = b.lastRate / b.firstRate;
  return [
    {
      figure: `${name}: agent start to first run`,
      server: OPENLDAP,
      measured: ms(b.firstStartMs),
      reference: `bare full read ${ms(b.refreshMs)}`,
      ratio: times(b.firstStartMs / b.refreshMs),
      target: `< ${TARGET_FIRST_RUN_MS} ms`,
      result: verdict(b.firstStartMs, TARGET_FIRST_RUN_MS - 1e-9, 'most'),
    },
    {
      figure: `${name}: agent start to empty queue`,
      server: OPENLDAP,
      measured: `${(b.drainMs / 1000).toFixed(1)} s`,
      reference:
        floorDrain === undefined
          ? '-'
          : `at the throughput floor ${(floorDrain / 1000).toFixed(1)} s`,
      ratio: floorDrain === undefined ? '-' : times(b.drainMs / floorDrain),
      target: '-',
      result: '-',
    },
    {
      figure: `${name}: agent peak RSS`,
      server: OPENLDAP,
      measured: mb(b.peakRssBytes),
      reference: '-',
      ratio: '-',
      target: `< ${mb(TARGET_RSS_BYTES)}`,
      result: verdict(b.peakRssBytes, TARGET_RSS_BYTES - 1, 'most'),
    },
    {
      figure: `${name}: throughput, last ${b.window} vs first`,
      server: OPENLDAP,
      measured: perSecond(b.lastRate),
      reference: `first ${b.window}: ${perSecond(b.firstRate)}`,
      ratio: times(steady),
      target: `>= ${TARGET_STEADY}x first`,
      result: verdict(steady, TARGET_STEADY, 'least'),
    },
  ];
}

async function bulkAddRows(count: number, servers: Servers) {
  const server = await servers.openLdap();
  const bulk = await measureBulkAdd(server, count);
  const ratio = bulk.cli / bulk.reference;
  const met =
    ratio <= TARGET_BULK_RATIO && bulk.cli < TARGET_BULK_MS * (count / 1e4);
  const row: TableRow = {
    figure: `bulk add, ${bulk.count} events (CLI --add-batch)`,
    server: OPENLDAP,
    measured: ms(bulk.cli),
    reference: `ldapjs ${bulk.referenceKind} ${ms(bulk.reference)}`,
    ratio: times(ratio),
    target: `<= ${TARGET_BULK_RATIO}x, < ${TARGET_BULK_MS / 1000} s per 10,000`,
    result: met ? 'PASS' : 'MISS',
  };
  return [row];
}

async function reconcileRows(events: number): Promise<TableRow[]> {
  const r = await measureReconcile(events);
  const name = `reconcile ${r.events}, paged`;
  const row = (figure: string, value: number): TableRow => ({
    figure: `${name}: ${figure}`,
    server: OPENLDAP,
    measured: ms(value),
    reference: `bare paged search ${ms(r.bareMs)}`,
    ratio: times(value / r.bareMs),
    target: '-',
    result: '-',
  });
  return [
    row('first (events new)', r.coldMs),
    row('next (events known)', r.warmMs),
    {
      figure: `${name}: peak RSS`,
      server: OPENLDAP,
      measured: mb(r.peakRssBytes),
      reference: `before it ${mb(r.baseRssBytes)}`,
      ratio: '-',
      target: `< ${mb(TARGET_RSS_BYTES)}`,
      result: verdict(r.peakRssBytes, TARGET_RSS_BYTES - 1, 'most'),
    },
  ];
}

function throughputNote(t: Throughput): string {
  return (
    'throughput: the agent (the real process, log level info, syncrepl) ' +
    'drains a queue written beforehand with slapadd, conduit ' +
    "bench/noop.sh; events / (first conduit's start -> queue and " +
    'ou=Running empty). Floor, same server, before the agent starts: one ' +
    "event's unavoidable work back to back on one ldapjs connection of " +
    "the agent's own class (the claim's move and modify, the delete) and " +
    'a ConduitRun of the same no-op conduit to its exit, repeated for ' +
    `${t.floorEvents} events.`
  );
}

function backlogNote(b: Backlog): string {
  return (
    `backlog: ${b.events} events written with slapadd ` +
    `(${(b.loadMs / 1000).toFixed(1)} s, not counted); from spawn() of ` +
    "the agent to the first conduit's own start time; drained when every " +
    'event has left the queue (seen by a syncrepl consumer) and ' +
    'ou=Running is empty; peak RSS is VmHWM of the agent process, read ' +
    'before it is stopped; rates over the first and last ' +
    `${b.window} departures from the queue. The reference for the first ` +
    'run is a bare refreshOnly read of the whole queue with the ' +
    "agent's attributes, what an agent that waited for the full read " +
    'could not beat.'
  );
}

const BULK_ADD_NOTE =
  'bulk add: see bench/bulk-add.ts; the CLI process, start to exit, ' +
  'beside the faster of sequential and pipelined ldapjs adds; medians ' +
  'of 3 rounds.';

const RECONCILE_NOTE =
  "reconcile: the agent's Reconciler, Scheduler and entry reading in a " +
  'process of their own (bench/reconcile-child.ts), pages of 250; the ' +
  'first reconcile offers every event, the next finds them known; peak ' +
  "RSS is that process's VmHWM; the reference is a paged search with " +
  'the same attributes doing nothing with the entries.';

function machine(loadBefore: number, loadAfter: number): string {
  const cpus = os.cpus();
  const slapd = slapdVersion();
  return (
    `Machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ` +
    `${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ` +
    `${os.release()}, Node.js ${process.versions.node}, ${slapd}; ` +
    `load average ${loadBefore.toFixed(2)} at the start, ` +
    `${loadAfter.toFixed(2)} at the end.`
  );
}

/** "OpenLDAP 2.5.13", from `slapd -VV`, which prints on stderr. */
function slapdVersion(): string {
  const result = spawnSync('/usr/sbin/slapd', ['-VV'], { encoding: 'utf8' });
  const found = /slapd ([\d.]+)/.exec(`${result.stdout}${result.stderr}`);
  return `OpenLDAP ${found?.[1] ?? 'unknown version'}`;
}

main().catch((error: unknown) => {
  const usage = error instanceof UsageError;
  console.error(`${usage ? 'Usage' : 'Error'}: ${(error as Error).message}`);
  process.exitCode = usage ? 2 : 1;
});
