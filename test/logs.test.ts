/**
 * Log formats and the log file's rotation: journald prefixes without
 * timestamps on stdout, JSON lines, and a log file reopened on SIGHUP.
 */
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { addEvent } from './support/event-ldif.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const TIMESTAMP = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('agent logs', () => {
  test('under systemd, stdout lines carry syslog priorities and no timestamp', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t, { JOURNAL_STREAM: '8:12345' });
    await agent.waitForOutput(WATCHING);
    await addEvent(queue, ROLE_EXPANDER, 'username=juser');
    await agent.waitForOutput('Event ran');
    assert.equal(await agent.stop(), 0);

    for (const line of lines(agent.stdout)) {
      assert.match(line, /^<[3467]>/, line);
      assert.doesNotMatch(line, TIMESTAMP, line);
    }
    assert.match(agent.stdout, /^<6>Watching the queue with syncrepl/m);
    assert.match(agent.stdout, /^<7>Event queued/m);
    for (const line of lines(await queue.log())) {
      assert.match(line, new RegExp(`^${TIMESTAMP.source}`), line);
    }
  });

  test('logFormat json writes one JSON object a line, to stdout and the file', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      agent: '  logFormat: json',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await addEvent(queue, ROLE_EXPANDER, 'username=juser');
    await agent.waitForOutput('Event ran');
    assert.equal(await agent.stop(), 0);

    const records = lines(agent.stdout).map(
      (line) => JSON.parse(line) as Record<string, unknown>,
    );
    const ran = records.find((record) => record.message === 'Event ran');
    assert.equal(ran?.level, 'info');
    assert.equal(ran?.conduit, 'Prometheus::Conduits::RoleExpander');
    assert.match(String(ran?.timestamp), TIMESTAMP);
    const file = lines(await queue.log()).map(
      (line) => JSON.parse(line) as Record<string, unknown>,
    );
    assert.ok(file.some((record) => record.message === 'Event ran'));
    const operator = file.find((r) => String(r.message).startsWith('Conduit:'));
    assert.ok(operator, 'the operator lines are in the file');
  });

  test('SIGHUP reopens a log file that was renamed', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const rotated = `${queue.logFile}.1`;
    await rename(queue.logFile, rotated);
    agent.child.kill('SIGHUP');
    await agent.waitForOutput('Configuration reloaded');
    await addEvent(queue, ROLE_EXPANDER, 'username=juser');
    await agent.waitForOutput('Event ran');
    assert.equal(await agent.stop(), 0);

    const old = await readFile(rotated, 'utf8');
    const fresh = await queue.log();
    assert.match(old, /Watching the queue/);
    assert.doesNotMatch(old, /Running event:/);
    assert.match(fresh, /Configuration reloaded/);
    assert.match(fresh, /Running event:/);
    assert.match(fresh, /Agent stopped/);
  });
});
