/**
 * --add --wait against a real slapd and agent: exit 0 once the event has
 * run, 6 with the reason when it ended in ou=Failed, 7 when the timeout
 * passed with the event still queued.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  CLI,
  QueueFixture,
  ROLE_EXPANDER,
  waitFor,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const failing = () =>
  `  ${ROLE_EXPANDER}:\n` +
  `    command: [/bin/sh, -c, 'echo no such role >&2; exit 3', sh]\n` +
  `    attempts: 1\n` +
  `    arguments:\n` +
  `      username: '^[a-z]+$'\n`;

const addArgs = ['--add', ROLE_EXPANDER, '--args', 'username=juser'];

describe('prometheus-eventqueue --wait', () => {
  test('exits 0 once the agent has run and deleted the event', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    const result = await queue.cli(...addArgs, '--wait', '--timeout', '20s');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Queued event [0-9a-f]{32}/);
    assert.match(result.stdout, /Event [0-9a-f]{32} ran/);
    assert.equal((await queue.runs()).length, 1);
    assert.equal(await queue.entries(), '');
    await agent.stop();
  });

  test('exits 6 with the reason when the event ends in ou=Failed', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits: failing });
    const agent = queue.startAgent(t);
    const result = await queue.cli(
      ...addArgs,
      '--wait',
      '--timeout',
      '20s',
      '--json',
    );
    assert.equal(result.code, 6, result.stderr);
    const shown = JSON.parse(result.stdout) as {
      outcome: string;
      reason: string;
    };
    assert.equal(shown.outcome, 'failed');
    assert.ok(shown.reason.length > 0);
    await agent.stop();
  });

  test('exits 7 and says the event stays queued when no agent runs it', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const started = Date.now();
    const result = await queue.cli(...addArgs, '--wait', '--timeout', '1s');
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /still pending after 1s; it stays queued/);
    assert.ok(Date.now() - started < 10_000);
    assert.notEqual(await queue.entries(), '');
  });

  test('waits for an event that was already queued', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('juser');
    const args = ['--config', queue.configFile, ...addArgs, '--wait'];
    const child = spawn(process.execPath, [CLI, ...args, '--timeout', '20s']);
    t.after(() => child.kill());
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = once(child, 'exit');
    // The agent starts only once the CLI has found the event queued.
    await waitFor(
      async () => (stdout.includes('Already') ? true : undefined),
      10_000,
    );
    const agent = queue.startAgent(t);
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(stdout, /Event [0-9a-f]{32} ran/);
    assert.equal((await queue.runs()).length, 1);
    await agent.stop();
  });

  test('--wait and --timeout are refused without --add', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    assert.equal((await queue.cli('--display', '--wait')).code, 2);
    assert.equal((await queue.cli(...addArgs, '--timeout', '1s')).code, 2);
    const bad = await queue.cli(...addArgs, '--wait', '--timeout', 'soon');
    assert.equal(bad.code, 2);
  });
});
