/**
 * systemd integration: the notifications the agent sends (READY=1,
 * WATCHDOG=1, STOPPING=1) through systemd-notify, and the unit file as
 * `systemd-analyze verify` judges it.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Notifier } from '../agent/systemd.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = 'prometheus-eventqueue-agent.service';

let temp: string;
before(async () => {
  temp = await mkdtemp(path.join(os.tmpdir(), 'pe-systemd-'));
});
after(() => rm(temp, { recursive: true, force: true }));

/** A stand-in for systemd-notify that appends its arguments to a file. */
async function recorder(
  name: string,
): Promise<{ command: string; log: string }> {
  const log = path.join(temp, `${name}.log`);
  const command = path.join(temp, `${name}.sh`);
  await writeFile(command, `#!/bin/sh\necho "$*" >> '${log}'\n`);
  await chmod(command, 0o755);
  return { command, log };
}

const lines = async (file: string) =>
  existsSync(file) ? (await readFile(file, 'utf8')).trim().split('\n') : [];

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('Notifier', () => {
  test('sends nothing when NOTIFY_SOCKET is unset', async () => {
    const { command, log } = await recorder('unset');
    const notifier = new Notifier({ env: {}, command });
    await notifier.ready('Watching');
    await notifier.stopping();
    assert.deepEqual(await lines(log), []);
  });

  test('sends READY=1 with a status, then STOPPING=1', async () => {
    const { command, log } = await recorder('ready');
    const env = { NOTIFY_SOCKET: '/run/fake' };
    const notifier = new Notifier({ env, command });
    await notifier.ready('Watching the queue');
    await notifier.stopping();
    assert.deepEqual(await lines(log), [
      'READY=1 STATUS=Watching the queue',
      'STOPPING=1',
    ]);
  });

  test('pings every half WATCHDOG_USEC, repeating READY=1', async () => {
    const { command, log } = await recorder('watchdog');
    const env = { NOTIFY_SOCKET: '/run/fake', WATCHDOG_USEC: '200000' };
    const notifier = new Notifier({ env, command });
    await notifier.ready();
    const stop = notifier.startWatchdog();
    await sleep(350);
    stop();
    await sleep(150);
    const sent = await lines(log);
    assert.equal(sent[0], 'READY=1');
    assert.ok(sent.length >= 3, sent.join('; '));
    for (const ping of sent.slice(1)) assert.equal(ping, 'WATCHDOG=1 READY=1');
  });

  test('skips pings while the agent is unhealthy', async () => {
    const { command, log } = await recorder('unhealthy');
    const env = { NOTIFY_SOCKET: '/run/fake', WATCHDOG_USEC: '100000' };
    const notifier = new Notifier({ env, command });
    const stop = notifier.startWatchdog(() => false);
    await sleep(250);
    stop();
    assert.deepEqual(await lines(log), []);
  });

  test('has no watchdog when WATCHDOG_PID names another process', () => {
    const env = { WATCHDOG_USEC: '60000000', WATCHDOG_PID: '1' };
    assert.equal(new Notifier({ env }).watchdogPeriodMs(), undefined);
    const own = { WATCHDOG_USEC: '60000000', WATCHDOG_PID: `${process.pid}` };
    assert.equal(new Notifier({ env: own }).watchdogPeriodMs(), 60000);
  });

  test('warns once when the message cannot be sent', async () => {
    const warnings: string[] = [];
    const notifier = new Notifier({
      env: { NOTIFY_SOCKET: '/run/fake' },
      command: path.join(temp, 'no-such-command'),
      log: { warn: (message) => warnings.push(message) },
    });
    await notifier.ready();
    await notifier.stopping();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /Cannot notify systemd/);
  });
});

/** A datagram receiver on a Unix socket; Node.js has none, python3 does. */
const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

describe('systemd-notify on a real notification socket', () => {
  const skip =
    (!existsSync('/usr/bin/systemd-notify') && 'no systemd-notify') ||
    (!existsSync('/usr/bin/python3') && 'no python3 to receive');
  let receiver: ChildProcess;
  let received = '';
  let socket: string;

  before(async () => {
    if (skip !== false) return;
    socket = path.join(temp, 'notify.sock');
    receiver = spawn('/usr/bin/python3', ['-c', RECEIVER, socket]);
    receiver.stdout?.on('data', (chunk: Buffer) => (received += chunk));
    while (!received.includes('bound')) await sleep(20);
  });
  after(() => receiver?.kill());

  test('the messages arrive as datagrams', { skip }, async () => {
    const notifier = new Notifier({ env: { NOTIFY_SOCKET: socket } });
    await notifier.ready('Watching');
    await notifier.stopping();
    await sleep(100);
    assert.match(received, /READY=1 STATUS=Watching\n/);
    assert.match(received, /STOPPING=1\n/);
  });
});

describe(UNIT, () => {
  const skip =
    !existsSync('/usr/bin/systemd-analyze') && 'no systemd-analyze here';

  test('passes systemd-analyze verify', { skip }, async () => {
    // The installed path does not exist here: point at one that does.
    const unit = await readFile(path.join(root, 'systemd', UNIT), 'utf8');
    const copy = path.join(temp, UNIT);
    await writeFile(
      copy,
      unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`),
    );

    const result = await run('systemd-analyze', ['verify', copy]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    // Complaints about other units of this machine are not ours.
    const ours = result.stderr
      .split('\n')
      .filter((line) => line.includes(UNIT) || line.includes(copy));
    assert.deepEqual(ours, []);
  });

  test('is Type=notify with a watchdog', async () => {
    const unit = await readFile(path.join(root, 'systemd', UNIT), 'utf8');
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^NotifyAccess=all$/m);
    assert.match(unit, /^WatchdogSec=60s$/m);
  });
});
