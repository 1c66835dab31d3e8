/**
 * Delivery guarantees on a real slapd: claims among several agents, agents
 * killed at random, identical events during a run, retries reaching the
 * failed area, timeouts, shutdown during a run, lapsed claims, coalescing.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatGeneralizedTime } from '../agent/entry.js';
import { Slapd } from '../scripts/slapd.js';
import {
  AgentProcess,
  QueueFixture,
  waitFor,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

/** A conduit `Job` taking `n`, that records its run through `prefix`. */
function jobConduit(prefix = '', extra = '') {
  return (recorder: string) => {
    const [program, folder] = recorder.slice(1, -1).split(', ');
    const script = `${prefix}exec "$0" "$@"`;
    return (
      `  Job:\n    command: [/bin/sh, -c, '${script}', ${program}, ${folder}]\n` +
      `    arguments:\n      n: '[0-9]+'\n${extra}`
    );
  };
}

/** LDIF for `count` events n=0.. under the queue, in one ldapadd. */
function jobs(queue: QueueFixture, count: number, first = 0): string {
  return Array.from({ length: count }, (_, index) => {
    const n = String(first + index).padStart(4, '0');
    return [
      `dn: cn=job${n},${queue.base}`,
      'objectClass: prometheusEvent',
      'eventConduit: Job',
      `eventArgument: n=${n}`,
      '',
    ].join('\n');
  }).join('\n');
}

async function ranArguments(queue: QueueFixture): Promise<string[]> {
  return (await queue.runs()).map((run) => run.argv.slice(1).join(' '));
}

async function startAll(agents: AgentProcess[]): Promise<void> {
  await Promise.all(agents.map((agent) => agent.waitForOutput(WATCHING)));
}

describe('delivery', () => {
  test('three agents on one queue run each of 500 events exactly once', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit(),
    });
    const agents = [1, 2, 3].map(() => queue.startAgent(t));
    await startAll(agents);
    await slapd.ldapAdd(jobs(queue, 500));
    await queue.waitForRuns(500, 120_000);
    await queue.waitUntilEmpty(30_000);
    await sleep(500);
    for (const agent of agents) assert.equal(await agent.stop(), 0);

    const ran = await ranArguments(queue);
    assert.equal(ran.length, 500, 'no event ran twice');
    assert.equal(new Set(ran).size, 500, 'every event ran');
    const busy = agents.filter((agent) => agent.count('Event ran') > 0);
    assert.ok(busy.length >= 2, 'the work was shared');
  });

  test('agents killed at random twenty times lose nothing and repeat at most once a kill', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit('sleep 0.02; ', '    timeout: 2s\n'),
      agent: [
        '  reconcileInterval: 1s',
        '  killGrace: 200ms',
        '  leaseMargin: 300ms',
        '  retryDelay: 100ms',
      ].join('\n'),
    });
    const steady = queue.startAgent(t);
    let victim = queue.startAgent(t);
    await startAll([steady, victim]);
    await slapd.ldapAdd(jobs(queue, 300));

    const kills = 20;
    for (let kill = 0; kill < kills; kill++) {
      await sleep(100 + Math.random() * 300);
      victim.child.kill('SIGKILL');
      await victim.exited;
      victim = queue.startAgent(t);
    }
    await queue.waitUntilEmpty(120_000);
    await sleep(500);
    assert.equal(await steady.stop(), 0);
    assert.equal(await victim.stop(), 0);

    const ran = await ranArguments(queue);
    assert.equal(new Set(ran).size, 300, 'every event ran at least once');
    assert.ok(ran.length - 300 <= kills, `${ran.length - 300} repeated runs`);
    const failed = await slapd.ldapSearch(
      `ou=Failed,${queue.base}`,
      '(objectClass=prometheusEvent)',
    );
    assert.equal(failed, '', 'none failed');
  });

  test('an identical event added while one runs is kept and runs after it', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit('sleep 1; '),
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const first = await queue.cli('--add', 'Job', '--args', 'n=7', '--json');
    assert.equal(first.code, 0, first.stderr);
    await waitFor(
      async () =>
        (await queue.log()).includes('Running event:') ? true : undefined,
      5000,
    );
    const second = await queue.cli('--add', 'Job', '--args', 'n=7', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { added: boolean }).added, true);

    const runs = await queue.waitForRuns(2, 15_000);
    assert.ok((runs[1]?.startedAt ?? 0) >= (runs[0]?.startedAt ?? 0) + 900);
    await queue.waitUntilEmpty(10_000);
    assert.equal(await agent.stop(), 0);
  });

  test('a failing event is retried with backoff, then moved to the failed area', async (t) => {
    const flag = path.join('/tmp', `pe-fail-${process.pid}-${Date.now()}`);
    await writeFile(flag, '');
    t.after(() => rm(flag, { force: true }));
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit(
        `test -e ${flag} && { "$0" "$@"; echo "still broken" >&2; exit 2; }; `,
        '    attempts: 3\n',
      ),
      agent: '  retryDelay: 200ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.cli('--add', 'Job', '--args', 'n=1');
    await agent.waitForOutput('Event failed for good');

    const runs = await queue.runs();
    assert.equal(runs.length, 3);
    const gaps = runs
      .slice(1)
      .map((run, i) => run.startedAt - runs[i]!.startedAt);
    assert.ok(
      gaps.every((gap) => gap >= 100),
      `gaps ${gaps.join(', ')}`,
    );
    const failed = await slapd.ldapSearch(
      `ou=Failed,${queue.base}`,
      '(eventConduit=Job)',
      'eventAttempts',
      'eventLastError',
    );
    assert.match(failed, /eventAttempts: 3/);
    assert.match(
      failed,
      /eventLastError: attempt 3 of 3: exited with status 2: still broken/,
    );

    await rm(flag);
    const listed = await queue.cli('--failed', '--json');
    const [entry] = JSON.parse(listed.stdout) as { hash: string }[];
    assert.ok(entry);
    const retried = await queue.cli('--retry', entry.hash);
    assert.equal(retried.code, 0, retried.stderr);
    await queue.waitForRuns(4);
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
  });

  test('a conduit that ignores SIGTERM is killed at its timeout and the run fails', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit(
        'trap "" TERM; "$0" "$@"; sleep 30; ',
        '    timeout: 300ms\n    attempts: 1\n',
      ),
      agent: '  killGrace: 200ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.cli('--add', 'Job', '--args', 'n=1');
    const [run] = await queue.waitForRuns(1);
    await agent.waitForOutput('Event failed for good');
    assert.equal(processExists(run?.pid ?? 0), false, 'the conduit is gone');
    const failed = await slapd.ldapSearch(
      `ou=Failed,${queue.base}`,
      '(eventConduit=Job)',
      'eventLastError',
    );
    assert.match(failed, /timed out and was stopped/);
    assert.equal(await agent.stop(), 0);
  });

  test('shutdown during a run puts the event back in the queue', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit('"$0" "$@"; sleep 30; '),
      agent: '  shutdownGrace: 300ms\n  killGrace: 200ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.cli('--add', 'Job', '--args', 'n=1');
    await queue.waitForRuns(1);
    assert.equal(await agent.stop(), 0);
    const pending = await slapd.ldapSearch(
      queue.base,
      '(eventConduit=Job)',
      'dn',
    );
    assert.match(
      pending,
      new RegExp(`^dn: eventHash=[0-9a-f]{32},${queue.base}`, 'm'),
    );
    const running = await slapd.ldapSearch(
      `ou=Running,${queue.base}`,
      '(objectClass=prometheusEvent)',
    );
    assert.equal(running, '');
  });

  test('a claim whose holder died lapses, and the event runs again', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: jobConduit('', '    timeout: 1s\n'),
      agent: '  reconcileInterval: 500ms\n  leaseMargin: 100ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const expired = formatGeneralizedTime(new Date(Date.now() - 60_000));
    await slapd.ldapAdd(
      [
        `dn: cn=orphan,ou=Running,${queue.base}`,
        'objectClass: prometheusEvent',
        'eventConduit: Job',
        'eventArgument: n=42',
        'eventClaimedBy: dead-host:1234',
        `eventClaimExpires: ${expired}`,
        'eventAttempts: 1',
        '',
      ].join('\n'),
    );
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--n', '42']);
    await agent.waitForOutput('Claim lapsed; event back in the queue');
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
  });

  test('a run without arguments of a coalescing conduit covers earlier runs with them', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Sync:\n    command: ${recorder}\n    coalesce: true\n` +
        `    arguments:\n      user: '[a-z]+'\n`,
    });
    for (const args of [['user=a'], ['user=b'], [], ['user=g']]) {
      const argv = args.length > 0 ? ['--args', ...args] : [];
      const result = await queue.cli('--add', 'Sync', ...argv);
      assert.equal(result.code, 0, result.stderr);
    }
    const agent = queue.startAgent(t);
    await queue.waitForRuns(2);
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
    assert.deepEqual(
      (await queue.runs()).map((run) => run.argv.join(' ')),
      ['', '--user g'],
    );
    assert.equal(agent.count('Event covered by a run without arguments'), 2);
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
