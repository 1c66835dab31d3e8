/**
 * Watch modes on OpenLDAP: auto picks syncrepl, a forced mode the server
 * lacks is refused at start, poll works without notifications, a restarted
 * agent resumes from its saved cookie, and a restarted server loses nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../agent/log.js';
import { CookieStore } from '../agent/watch/cookie-store.js';
import { Slapd } from '../scripts/slapd.js';
import { QueueFixture } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

describe('watch modes', () => {
  test('auto chooses syncrepl on OpenLDAP and says why', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watching the queue with syncrepl');
    assert.match(
      agent.stdout,
      /Watch mode: syncrepl, since the server offers the Sync Request control/,
    );
    assert.equal(await agent.stop(), 0);
  });

  test('a forced mode the server lacks is an error at start', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      agent: '  watch: psearch',
    });
    const agent = queue.startAgent(t);
    assert.equal(await agent.exited, 3);
    assert.match(
      agent.stdout,
      /agent\.watch is psearch, but ldap:\/\/127\.0\.0\.1:\d+ does not offer the Persistent Search control/,
    );
  });

  test('poll runs events at the reconcile interval without notifications', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      agent: '  watch: poll\n  reconcileInterval: 500ms',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watch mode: poll, as configured');
    await queue.addUser('polled');
    const [run] = await queue.waitForRuns(1, 5000);
    assert.deepEqual(run?.argv, ['--username', 'polled']);
    assert.doesNotMatch(agent.stdout, /syncrepl/);
    assert.equal(await agent.stop(), 0);
  });

  test('a restarted agent resumes from its saved cookie and runs each event once', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const first = queue.startAgent(t);
    await first.waitForOutput('Watching the queue with syncrepl');
    await queue.addUser('before');
    await queue.waitForRuns(1);
    await queue.waitUntilEmpty(15_000);
    assert.equal(await first.stop(), 0);

    await queue.addUser('while-away');
    const second = queue.startAgent(t);
    await second.waitForOutput('Resuming the watch from the saved cookie');
    const runs = await queue.waitForRuns(2);
    await queue.waitUntilEmpty(15_000);
    assert.equal(await second.stop(), 0);
    assert.deepEqual(
      (await queue.runs()).map((run) => run.argv[1]),
      ['before', 'while-away'],
    );
    assert.equal(runs.length, 2);
  });

  test('a server restart under a running agent loses nothing and repeats nothing', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput('Watching the queue with syncrepl');
    await queue.addUser('first');
    await queue.waitForRuns(1);
    await queue.waitUntilEmpty(15_000);

    await slapd.restart();
    await agent.waitForOutput('Watch lost; reconnecting');
    await queue.addUser('after-restart');
    const runs = await queue.waitForRuns(2, 15_000);
    await queue.waitUntilEmpty(15_000);
    assert.deepEqual(
      runs.map((run) => run.argv[1]),
      ['first', 'after-restart'],
    );
    assert.equal(await agent.stop(), 0);
  });

  test('a saved cookie the server refuses is discarded and the queue read in full', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('pending');
    const state = path.join(queue.folder, 'state');
    const scope = `${slapd.url} ${queue.base}`;
    const log = createLogger({ level: 'error', stdout: false });
    const cookies = new CookieStore(state, scope, log);
    await mkdir(state);
    const future = 'rid=000,csn=29990101000000.000000Z#000000#000#000000';
    await writeFile(cookies.file, future);

    const agent = queue.startAgent(t);
    await agent.waitForOutput('the saved cookie is discarded');
    await agent.waitForOutput('Watching the queue with syncrepl');
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'pending']);
    await queue.waitUntilEmpty(15_000);
    assert.equal(await agent.stop(), 0);
    const saved = await readFile(cookies.file, 'utf8');
    assert.match(saved, /csn=20\d\d/);
    assert.equal((await queue.runs()).length, 1);
  });
});
