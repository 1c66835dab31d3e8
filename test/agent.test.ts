/**
 * The agent against a real slapd: it is told of events at once, runs them
 * in creation order, once each, and removes them; failures stay visible.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Slapd } from '../scripts/slapd.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

/** LDIF for an event written by a plain LDAP client under any RDN. */
function eventLdif(dn: string, conduit: string, ...args: string[]): string {
  return [
    `dn: ${dn}`,
    'objectClass: prometheusEvent',
    `eventConduit: ${conduit}`,
    ...args.map((arg) => `eventArgument: ${arg}`),
    '',
  ].join('\n');
}

describe('prometheus-eventqueue-agent', () => {
  test('an event added by the CLI runs within one second, then is deleted', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);

    const added = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
    );
    const addedAt = Date.now();
    assert.equal(added.code, 0, added.stderr);
    const [run] = await queue.waitForRuns(1);
    assert.ok(run);
    assert.deepEqual(run.argv, ['--username', 'juser']);
    const latency = run.startedAt - addedAt;
    assert.ok(latency < 1000, `started ${latency} ms after the add`);

    await queue.waitUntilEmpty(5000);
    assert.equal(await agent.stop(), 0);
  });

  test('the log file carries the lines operators read', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const added = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
      '--json',
    );
    const { hash } = JSON.parse(added.stdout) as { hash: string };
    await agent.waitForOutput('Event ran');
    assert.equal(await agent.stop(), 0);

    const log = await queue.log();
    for (const line of [
      `Running event: ${hash}`,
      `Conduit: ${ROLE_EXPANDER}`,
      'Additional options: --username juser',
      `Deleting event: ${hash}`,
    ]) {
      assert.ok(log.includes(line), `log has "${line}"`);
    }
    assert.ok(!agent.stdout.includes('Running event:'), 'stdout is structured');
  });

  test('an entry written with plain ldapadd under any RDN runs', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await slapd.ldapAdd(
      eventLdif(`cn=by-hand,${queue.base}`, ROLE_EXPANDER, 'username=hand'),
    );
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'hand']);
    await queue.waitUntilEmpty(5000);
    assert.equal(await agent.stop(), 0);
  });

  test('five events added within one second run in the order they were added', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const users = ['eve', 'dan', 'cat', 'bob', 'amy'];
    const ldif = users
      .map((user) =>
        eventLdif(
          `cn=${user},${queue.base}`,
          ROLE_EXPANDER,
          `username=${user}`,
        ),
      )
      .join('\n');
    const started = Date.now();
    await slapd.ldapAdd(ldif);
    assert.ok(Date.now() - started < 1000);

    const agent = queue.startAgent(t);
    const runs = await queue.waitForRuns(users.length);
    assert.deepEqual(
      runs.map((run) => run.argv[1]),
      users,
    );
    assert.equal(await agent.stop(), 0);
  });

  test('a restarted agent runs each pending event exactly once', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Slow:\n    command: [/bin/sh, -c, 'sleep 0.3; exec "$0" "$@"', ${recorder.slice(1, -1)}]\n` +
        `    arguments:\n      n: '^[0-9]+$'\n`,
      agent: '  shutdownGrace: 10s',
    });
    for (let n = 0; n < 6; n++) {
      const result = await queue.cli('--add', 'Slow', '--args', `n=${n}`);
      assert.equal(result.code, 0, result.stderr);
    }
    const first = queue.startAgent(t);
    await queue.waitForRuns(2);
    assert.equal(await first.stop(), 0);

    const second = queue.startAgent(t);
    const runs = await queue.waitForRuns(6);
    await queue.waitUntilEmpty(10_000);
    await sleep(500);
    assert.equal(await second.stop(), 0);
    assert.deepEqual(
      (await queue.runs()).map((run) => run.argv[1]),
      ['0', '1', '2', '3', '4', '5'],
    );
    assert.equal(runs.length, 6);
  });

  test('a conduit that exits non-zero leaves its event and logs the error', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Broken:\n    command: [/bin/sh, -c, '"$0" "$@"; echo "cannot reach the KDC" >&2; exit 3', ${recorder.slice(1, -1)}]\n`,
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const added = await queue.cli('--add', 'Broken', '--json');
    const { hash } = JSON.parse(added.stdout) as { hash: string };
    await agent.waitForOutput('Event failed');
    await sleep(1500);

    assert.equal((await queue.runs()).length, 1, 'not retried in a tight loop');
    assert.match(await queue.entries(), new RegExp(`eventHash=${hash}`));
    const log = await queue.log();
    assert.match(
      log,
      new RegExp(`Event ${hash} failed: conduit exited with status 3`),
    );
    assert.match(log, /stderr: cannot reach the KDC/);
    assert.equal(await agent.stop(), 0);
  });

  test('an entry that is not a valid event is reported and the next one runs', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await slapd.ldapAdd(
      eventLdif(`cn=bad,${queue.base}`, ROLE_EXPANDER, 'no-equals-sign'),
    );
    await slapd.ldapAdd(
      eventLdif(`cn=good,${queue.base}`, ROLE_EXPANDER, 'username=good'),
    );
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'good']);
    await agent.waitForOutput('is not a valid event');
    assert.equal(await agent.stop(), 0);
  });

  test('SIGTERM during a run stops the conduit after the grace and leaves no process', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Sleepy:\n    command: [/bin/sh, -c, '"$0" "$@"; sleep 60', ${recorder.slice(1, -1)}]\n`,
      agent: '  shutdownGrace: 500ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.cli('--add', 'Sleepy');
    const [run] = await queue.waitForRuns(1);
    assert.ok(run);
    const stopping = Date.now();
    assert.equal(await agent.stop(), 0);
    assert.ok(Date.now() - stopping < 7000, agent.stdout);
    assert.equal(processExists(run.pid), false, 'the conduit shell is gone');
    assert.match(await queue.entries(), /eventConduit: Sleepy/, 'event kept');
  });

  test('a second signal ends a conduit that ignores SIGTERM at once', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Stubborn:\n    command: [/bin/sh, -c, 'trap "" TERM; "$0" "$@"; sleep 60', ${recorder.slice(1, -1)}]\n`,
      agent: '  shutdownGrace: 60s',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.cli('--add', 'Stubborn');
    const [run] = await queue.waitForRuns(1);
    agent.child.kill('SIGTERM');
    await agent.waitForOutput('Stopping signal=SIGTERM');
    const second = Date.now();
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
    assert.ok(Date.now() - second < 2000, 'stopped within 2 s');
    assert.equal(processExists(run?.pid ?? 0), false);
  });

  test('an agent whose stdout is closed keeps running events', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    agent.child.stdout?.destroy();
    await queue.cli('--add', ROLE_EXPANDER, '--args', 'username=one');
    await queue.cli('--add', ROLE_EXPANDER, '--args', 'username=two');
    const runs = await queue.waitForRuns(2);
    assert.deepEqual(
      runs.map((run) => run.argv[1]),
      ['one', 'two'],
    );
    assert.equal(agent.child.exitCode, null, 'still running');
    assert.equal(await agent.stop(), 0);
  });

  test('a refused event goes to the failed area at once, with its reason', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await slapd.ldapAdd(eventLdif(`cn=evil,${queue.base}`, 'Evil::Conduit'));
    await agent.waitForOutput('Event refused; moved to the failed area');
    const failed = await slapd.ldapSearch(
      `ou=Failed,${queue.base}`,
      '(cn=evil)',
      'eventLastError',
    );
    assert.match(failed, /eventLastError: Unknown conduit "Evil::Conduit"/);
    assert.equal(await agent.stop(), 0);
    assert.equal(agent.count('Event refused'), 1);
    assert.equal((await queue.runs()).length, 0);
  });
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
