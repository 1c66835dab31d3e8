/**
 * The watch under network faults, with a TCP proxy between the agent and a
 * real slapd: a reset connection and a connection that silently stops
 * forwarding. After each, nothing is lost and nothing runs twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  QueueFixture,
  waitFor,
  type QueueServer,
  WATCHING,
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

describe('network faults', () => {
  test('a reset connection is reopened and the next event runs once', async (t) => {
    const [server, proxy] = await behindProxy(t);
    const queue = await QueueFixture.create(server, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.addUser('before');
    await queue.waitForRuns(1);
    await queue.waitUntilEmpty(15_000);

    proxy.reset();
    await agent.waitForOutput('Watch lost; reconnecting');
    await queue.addUser('after');
    await queue.waitForRuns(2);
    await queue.waitUntilEmpty(15_000);
    const runs = await queue.runs();
    assert.deepEqual(
      runs.map((run) => run.argv[1]),
      ['before', 'after'],
    );
    assert.equal(await agent.stop(), 0);
  });

  test('a connection that silently stops forwarding is noticed within two heartbeats', async (t) => {
    const [server, proxy] = await behindProxy(t);
    const queue = await QueueFixture.create(server, t, {
      agent: '  heartbeat: 300ms',
      ldap: '  operationTimeout: 2s',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await queue.addUser('before');
    await queue.waitForRuns(1);
    await queue.waitUntilEmpty(15_000);

    proxy.blackhole();
    const stalled = Date.now();
    await agent.waitForOutput('did not answer within 0.6 s');
    assert.ok(Date.now() - stalled < 2000, 'noticed within the bound');
    await waitFor(
      async () => (agent.count(WATCHING) >= 2 ? true : undefined),
      10_000,
    );
    await queue.addUser('after');
    await queue.waitForRuns(2, 15_000);
    await queue.waitUntilEmpty(15_000);
    const runs = await queue.runs();
    assert.deepEqual(
      runs.map((run) => run.argv[1]),
      ['before', 'after'],
    );
    assert.equal(await agent.stop(), 0);
  });
});
