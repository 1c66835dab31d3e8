/**
 * Bulk add: the CLI's --add-batch beside plain ldapjs adding the same
 * events over one connection.
 *
 *   node dist/bench/bulk-add.js [COUNT [ROUNDS]]   (default 10000 3)
 *
 * Against a throwaway OpenLDAP, each of `rounds` rounds times:
 *
 * cli         The real process, `node dist/cli/main.js --config FILE
 *             --add-batch -`, fed COUNT lines on standard input: wall time
 *             from just before spawn() to its exit, so Node's start-up,
 *             reading the configuration, checking every line, connecting,
 *             binding and the adds (EventQueue.addMany, 64 in flight).
 * sequential  This process adding the same COUNT entries (the same DNs and
 *             attributes the CLI writes) with ldapjs 3.0.7 over one new
 *             connection, each add sent when the last one's reply came:
 *             from connect to the last reply, bind included.
 * pipelined   The same with up to 64 adds outstanding.
 *
 * The reference is the faster of the two ldapjs figures. (All COUNT adds
 * sent at once is no option: OpenLDAP closes a connection with more than
 * conn_max_pending_auth, 1000, operations waiting.) The queue is
 * emptied (every entry deleted) before each timing. Figures are medians
 * over the rounds, in ms.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ldap, { type Client } from 'ldapjs';
import {
  defaultCreator,
  prepareEvent,
  type PreparedEvent,
} from '../agent/event-writer.js';
import { loadConfig } from '../agent/config.js';
import { DEFAULT_IN_FLIGHT } from '../agent/queue-batch.js';
import { projectRoot } from '../scripts/slapd.js';
import type { ServerAccess } from './consumer.js';
import { createQueue, startOpenLdap, type BenchServer } from './servers.js';
import { percentile } from './stats.js';

const CLI = path.join(projectRoot, 'dist/cli/main.js');
const CONDUIT = 'Bench::Conduits::Bulk';

/** Medians in ms; `reference` is the fastest ldapjs figure. */
export interface BulkAddFigures {
  readonly count: number;
  readonly rounds: number;
  readonly cli: number;
  /** The CLI with an empty batch: start-up, connect and bind only. */
  readonly cliEmpty: number;
  readonly sequential: number;
  readonly pipelined: number;
  readonly reference: number;
  readonly referenceKind: 'sequential' | 'pipelined';
}

type Kind = BulkAddFigures['referenceKind'];

/** Adds outstanding at once for each ldapjs variant. */
const WINDOWS: Record<Kind, number> = {
  sequential: 1,
  pipelined: DEFAULT_IN_FLIGHT,
};

export async function measureBulkAdd(
  server: BenchServer,
  count = 10_000,
  rounds = 3,
): Promise<BulkAddFigures> {
  const base = await createQueue(server, `BulkAdd${process.pid}`);
  const folder = await mkdtemp(path.join(tmpdir(), 'pe-bulk-'));
  try {
    const config = await writeConfig(folder, server, base);
    const events = eventsOf(config, count);
    const input = events.map((_, seq) => `${CONDUIT} seq=${seq}\n`).join('');
    const times: Record<Kind | 'cli' | 'cliEmpty', number[]> = {
      cli: [],
      cliEmpty: [],
      sequential: [],
      pipelined: [],
    };
    for (let round = 0; round < rounds; round++) {
      times.cliEmpty.push(await timeCli(config, '', 0));
      await clear(server, events);
      times.cli.push(await timeCli(config, input, count));
      for (const [kind, window] of Object.entries(WINDOWS)) {
        await clear(server, events);
        times[kind as Kind].push(await timeLdapjs(server, events, window));
      }
      await clear(server, events);
    }
    const figures = Object.fromEntries(
      Object.entries(times).map(([kind, ms]) => [kind, median(ms)]),
    ) as Record<Kind | 'cli' | 'cliEmpty', number>;
    const kinds = Object.keys(WINDOWS) as Kind[];
    const referenceKind = kinds.reduce((a, b) =>
      figures[a] <= figures[b] ? a : b,
    );
    const reference = figures[referenceKind];
    return { count, rounds, ...figures, reference, referenceKind };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** A configuration with one conduit, for the CLI. */
async function writeConfig(
  folder: string,
  server: BenchServer,
  base: string,
): Promise<string> {
  const file = path.join(folder, 'config.yaml');
  await writeFile(
    file,
    [
      'ldap:',
      `  url: ${server.url}`,
      `  bindDN: ${server.rootDN}`,
      `  passwordFile: ${server.rootPasswordFile}`,
      `  queueBase: ${base}`,
      'conduits:',
      `  ${CONDUIT}:`,
      '    command: [/bin/true]',
      '    arguments:',
      "      seq: '^[0-9]+$'",
      '',
    ].join('\n'),
  );
  return file;
}

/** The entries the CLI writes for `CONDUIT seq=N`, N from 0. */
function eventsOf(configFile: string, count: number): PreparedEvent[] {
  const config = loadConfig(configFile);
  return Array.from({ length: count }, (_, seq) =>
    prepareEvent(
      config.conduits,
      config.ldap.queueBase,
      { conduit: CONDUIT, arguments: { seq: String(seq) } },
      defaultCreator(),
    ),
  );
}

/** Runs the CLI on `input`; its wall time. It must add `count` events. */
function timeCli(config: string, input: string, count: number) {
  const start = performance.now();
  const child = spawn(
    process.execPath,
    [CLI, '--config', config, '--add-batch', '-'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(input);
  return new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0 && output.startsWith(`Added ${count} event`)) {
        return resolve(ms);
      }
      reject(new Error(`--add-batch exited ${code}: ${output.trim()}`));
    });
  });
}

/** Adds the events over one new ldapjs connection, `window` at once. */
async function timeLdapjs(
  server: ServerAccess,
  events: readonly PreparedEvent[],
  window: number,
): Promise<number> {
  const start = performance.now();
  const client = await connect(server);
  try {
    await forEach(events, window, (event) =>
      call((done) => client.add(event.dn, event.attributes, done)),
    );
    return performance.now() - start;
  } finally {
    client.unbind();
  }
}

/** Deletes the events' entries, those present; nothing else is there. */
async function clear(
  server: ServerAccess,
  events: readonly PreparedEvent[],
): Promise<void> {
  const client = await connect(server);
  try {
    await forEach(events, DEFAULT_IN_FLIGHT, (event) =>
      call((done) => client.del(event.dn, done)).catch((error: unknown) => {
        if ((error as { code?: number }).code !== 32) throw error;
      }),
    );
  } finally {
    client.unbind();
  }
}

/** Runs `task` on each item, at most `window` at once. */
async function forEach<T>(
  items: readonly T[],
  window: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++] as T);
  };
  const workers = Math.min(window, items.length);
  await Promise.all(Array.from({ length: workers }, worker));
}

async function connect(server: ServerAccess): Promise<Client> {
  const client = ldap.createClient({ url: server.url });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const password = (await readFile(server.rootPasswordFile, 'utf8'))
    .split('\n')[0]
    ?.trim();
  await call((done) => client.bind(server.rootDN, password ?? '', done));
  return client;
}

function call(
  operation: (done: (error: Error | null) => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) =>
    operation((error) => (error === null ? resolve() : reject(error))),
  );
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 3);
  const server = await startOpenLdap();
  try {
    const figures = await measureBulkAdd(server, count, rounds);
    const ratio = figures.cli / figures.reference;
    const ms = (value: number) => `${value.toFixed(0)} ms`;
    console.log(
      `${count} events, median of ${figures.rounds} rounds, ` +
        `OpenLDAP on loopback:\n` +
        `  CLI --add-batch - (whole process)  ${ms(figures.cli)}\n` +
        `  CLI with an empty batch            ${ms(figures.cliEmpty)}\n` +
        `  ldapjs, one connection, sequential ${ms(figures.sequential)}\n` +
        `  ldapjs, ${DEFAULT_IN_FLIGHT} in flight              ` +
        `${ms(figures.pipelined)}\n` +
        `  CLI / reference (${figures.referenceKind})    ` +
        `${ratio.toFixed(2)}x`,
    );
  } finally {
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

function median(samples: readonly number[]): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    50,
  );
}
