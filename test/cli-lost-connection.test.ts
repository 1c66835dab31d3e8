/**
 * The CLI when the directory connection is lost part way, through a TCP
 * proxy in front of a real slapd: it exits 5 and says what happened, never
 * 0 with nothing said.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  CLI,
  QueueFixture,
  ROLE_EXPANDER,
  waitFor,
  type CommandResult,
  type QueueServer,
} from './support/queue-fixture.js';
import { TcpProxy } from './support/tcp-proxy.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

/** The slapd, reached through a proxy of the test's own. */
async function behindProxy(t: TestContext): Promise<[QueueServer, TcpProxy]> {
  const proxy = await TcpProxy.start(slapd.port);
  t.after(() => proxy.close());
  const server: QueueServer = {
    url: proxy.url,
    suffix: slapd.suffix,
    rootDN: slapd.rootDN,
    rootPasswordFile: slapd.rootPasswordFile,
    ldapAdd: (ldif) => slapd.ldapAdd(ldif),
    ldapSearch: (base, filter, ...attrs) =>
      slapd.ldapSearch(base, filter, ...attrs),
  };
  return [server, proxy];
}

/** Starts the CLI; `result` settles when it exits. */
function startCli(t: TestContext, queue: QueueFixture, ...args: string[]) {
  const child = spawn(process.execPath, [
    CLI,
    '--config',
    queue.configFile,
    ...args,
  ]);
  t.after(() => child.kill('SIGKILL'));
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk));
  const result = new Promise<CommandResult>((resolve) =>
    child.once('close', (code) => resolve({ code, ...output })),
  );
  return { child, output, result };
}

/** How many events are under the queue base, as slapd sees them. */
async function countEvents(queue: QueueFixture): Promise<number> {
  const text = await queue.entries();
  return text.split('\n').filter((line) => line.startsWith('dn:')).length;
}

describe('the CLI when the directory connection is lost', () => {
  test('--add-batch exits 5 and says at least how many were added', async (t) => {
    const [server, proxy] = await behindProxy(t);
    const queue = await QueueFixture.create(server, t);
    const lines = Array.from(
      { length: 20_000 },
      (_, at) => `${ROLE_EXPANDER} username=user${at}\n`,
    );
    const file = path.join(queue.folder, 'batch.txt');
    await writeFile(file, lines.join(''));
    const cli = startCli(t, queue, '--add-batch', file);

    await waitFor(
      async () => ((await countEvents(queue)) >= 100 ? true : undefined),
      60_000,
    );
    proxy.reset();
    const result = await cli.result;

    assert.equal(result.code, 5, result.stderr);
    assert.equal(result.stdout, '');
    const said =
      /At least (\d+) of the batch's 20000 distinct events were added/.exec(
        result.stderr,
      );
    assert.ok(said, result.stderr);
    const stored = await countEvents(queue);
    assert.ok(Number(said[1]) <= stored, `${said[1]} > ${stored}`);
    assert.ok(stored < 20_000);
    assert.match(result.stderr, /adding the batch again is safe/);
    assert.doesNotMatch(result.stderr, /1__ldap/);
  });

  test('--add --wait exits 5 and says the event stays queued', async (t) => {
    const [server, proxy] = await behindProxy(t);
    const queue = await QueueFixture.create(server, t);
    const cli = startCli(
      t,
      queue,
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
      '--wait',
      '--timeout',
      '2m',
    );
    await waitFor(
      async () =>
        cli.output.stdout.includes('Queued event') ? true : undefined,
      20_000,
    );
    const started = Date.now();
    proxy.reset();
    const result = await cli.result;

    assert.equal(result.code, 5, result.stderr);
    assert.ok(Date.now() - started < 10_000);
    assert.match(
      result.stderr,
      /Stopped waiting for event [0-9a-f]{32}: .*lost.* The event stays queued/,
    );
    assert.notEqual(await queue.entries(), '');
  });

  test('--add --wait --json still prints the event, its outcome unknown', async (t) => {
    const [server, proxy] = await behindProxy(t);
    const queue = await QueueFixture.create(server, t);
    const cli = startCli(
      t,
      queue,
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
      '--wait',
      '--timeout',
      '2m',
      '--json',
    );
    // Nothing is printed before the wait ends: watch the directory instead,
    // then leave the CLI time to read the entry's entryUUID and start
    // polling (a few ms; the polls are 200 ms apart).
    await waitFor(
      async () => ((await queue.entries()) !== '' ? true : undefined),
      20_000,
    );
    await sleep(500);
    proxy.reset();
    const result = await cli.result;

    assert.equal(result.code, 5, result.stderr);
    const shown = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(shown.added, true);
    assert.match(String(shown.hash), /^[0-9a-f]{32}$/);
    assert.equal(shown.outcome, 'unknown');
    assert.match(String(shown.reason), /Stopped waiting for event .*lost/);
  });

  test('a server that closes the connection at the bind is not blamed on the credentials', async (t) => {
    const closer = net.createServer((socket) =>
      socket.once('data', () => socket.destroy()),
    );
    await new Promise<void>((resolve) =>
      closer.listen(0, '127.0.0.1', resolve),
    );
    t.after(() => closer.close());
    const { port } = closer.address() as net.AddressInfo;
    const queue = await QueueFixture.create(slapd, t);
    const result = await queue.cli(
      '-H',
      `ldap://127.0.0.1:${port}`,
      '--display',
    );

    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /Cannot bind to ldap:\/\/127\.0\.0\.1:\d+ as .*: the server closed the connection/,
    );
    assert.doesNotMatch(result.stderr, /1__|passwordFile|bindDN/);
  });
});
