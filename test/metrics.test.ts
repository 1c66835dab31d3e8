/**
 * The monitoring endpoint against a real slapd: /metrics counts what the
 * agent did, and /health turns 503 once the directory has been gone for
 * longer than the reconcile interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseListen } from '../agent/config.js';
import { healthReport } from '../agent/health.js';
import { freePort } from '../scripts/loopback.js';
import { Slapd } from '../scripts/slapd.js';
import { addEvent } from './support/event-ldif.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  waitFor,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

async function get(port: number, path: string) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}

/** The value of one sample in the text format, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((each) => each.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('agent.metrics.listen', () => {
  test('the metrics count an event that ran and one that failed', async (t) => {
    const port = await freePort();
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  ${ROLE_EXPANDER}:\n    command: ${recorder}\n` +
        `    arguments:\n      username: '^[a-z]+$'\n` +
        `  Broken:\n    command: [/bin/false]\n    attempts: 1\n`,
      agent:
        `  metrics:\n    listen: 127.0.0.1:${port}\n` +
        '  reconcileInterval: 1s',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await addEvent(queue, ROLE_EXPANDER, 'username=juser');
    await agent.waitForOutput('Event ran');
    const ran = `conduit="${ROLE_EXPANDER}",outcome="ran"`;

    let { text } = await get(port, '/metrics');
    assert.equal(sample(text, `eventqueue_events_total{${ran}}`), 1);
    const runs = `eventqueue_run_duration_seconds_count{conduit="${ROLE_EXPANDER}"}`;
    assert.equal(sample(text, runs), 1);
    assert.equal(sample(text, 'eventqueue_event_start_delay_seconds_count'), 1);
    assert.equal(sample(text, 'eventqueue_watch_mode{mode="syncrepl"}'), 1);
    assert.equal(sample(text, 'eventqueue_watch_mode{mode="poll"}'), 0);
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined);

    await addEvent(queue, 'Broken');
    await agent.waitForOutput('Event failed for good');
    text = await waitFor(async () => {
      const { text } = await get(port, '/metrics');
      const failed = sample(text, 'eventqueue_failed_events');
      return failed === 1 ? text : undefined;
    }, 5000);
    const failed = 'eventqueue_events_total{conduit="Broken",outcome="failed"}';
    assert.equal(sample(text, failed), 1);
    assert.equal(sample(text, 'eventqueue_pending_events'), 0);
    const last = sample(text, 'eventqueue_last_reconcile_timestamp_seconds');
    assert.ok(last !== undefined && Date.now() / 1000 - last < 5);
    assert.equal(await agent.stop(), 0);
  });

  test('/health is 200 with the watch up and 503 once the directory is gone past the reconcile interval', async (t) => {
    const port = await freePort();
    const queue = await QueueFixture.create(slapd, t, {
      agent:
        `  metrics:\n    listen: 127.0.0.1:${port}\n` +
        '  reconcileInterval: 2s',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const up = await get(port, '/health');
    assert.equal(up.status, 200);
    const body = JSON.parse(up.text) as Record<string, unknown>;
    assert.equal(body.watch, 'up');
    assert.equal(body.mode, 'syncrepl');

    await slapd.halt();
    try {
      await agent.waitForOutput('Watch lost');
      const early = await get(port, '/health');
      assert.equal(early.status, 200, 'down for less than the interval');
      assert.equal(JSON.parse(early.text).watch, 'down');
      await waitFor(async () => {
        const { status } = await get(port, '/health');
        return status === 503 ? true : undefined;
      }, 6000);
    } finally {
      await slapd.restart();
    }
    await waitFor(async () => {
      const { status } = await get(port, '/health');
      return status === 200 ? true : undefined;
    }, 15_000);
    const { text } = await get(port, '/metrics');
    assert.ok((sample(text, 'eventqueue_watch_reconnects_total') ?? 0) >= 1);
    assert.equal(await agent.stop(), 0);
  });

  test('listen takes host:port, IPv6 in brackets, and nothing else', () => {
    assert.deepEqual(parseListen('127.0.0.1:9464'), {
      host: '127.0.0.1',
      port: 9464,
    });
    assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
    for (const bad of ['9464', '127.0.0.1', ':9464', 'host:0', 'h:70000']) {
      assert.equal(parseListen(bad), undefined, bad);
    }
  });

  test('in poll mode /health fails after two intervals without a reconcile', () => {
    const state = {
      mode: 'poll' as const,
      up: false,
      downSince: 0,
      lastReconcile: 10_000,
    };
    assert.equal(healthReport(state, 1000, 11_500).healthy, true);
    assert.equal(healthReport(state, 1000, 12_500).healthy, false);
    assert.equal(healthReport(state, 1000, 12_500).body.watch, 'down');
  });
});
