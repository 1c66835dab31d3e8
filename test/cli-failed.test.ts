/**
 * The CLI and the Running and Failed areas, against a real slapd: display
 * of running events and retry times, --failed, --retry, --purge-failed,
 * and --delete leaving running events alone. The entries an agent would
 * move into the areas are written directly with ldapadd.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { areaBase, type Area } from '../agent/areas.js';
import { eventHash } from '../agent/event.js';
import { Slapd } from '../scripts/slapd.js';
import { QueueFixture, ROLE_EXPANDER } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

interface ShownEvent {
  hash: string;
  dn: string;
  arguments: Record<string, string>;
  state: string;
  attempts: number;
  notBefore: string | null;
  lastError: string | null;
  claimedBy: string | null;
  claimExpires: string | null;
}

interface FailedEvent extends ShownEvent {
  failed: string;
  reason: string | null;
}

/** An entry of the failed area that is not a valid event, in --json. */
interface MalformedFailed {
  hash: null;
  dn: string;
  state: string;
  failed: string | null;
  reason: string;
  lastError: string | null;
  malformed: string;
}

/** What the agent records on an event, as LDIF attribute values. */
interface RunAttributes {
  eventAttempts?: number;
  eventLastError?: string;
  eventNotBefore?: string;
  eventClaimedBy?: string;
  eventClaimExpires?: string;
}

const hashOf = (username: string) =>
  eventHash({ conduit: ROLE_EXPANDER, arguments: { username } });

/** A queue with its Running and Failed containers, as ensureAreas makes. */
async function queueWithAreas(t: TestContext): Promise<QueueFixture> {
  const queue = await QueueFixture.create(slapd, t);
  for (const name of ['Running', 'Failed']) {
    await slapd.ldapAdd(
      `dn: ou=${name},${queue.base}\nobjectClass: organizationalUnit\n` +
        `ou: ${name}\n`,
    );
  }
  return queue;
}

/** Writes a RoleExpander event for `username` into an area. */
async function writeEvent(
  queue: QueueFixture,
  area: Area,
  username: string,
  run: RunAttributes = {},
): Promise<string> {
  const hash = hashOf(username);
  const dn = `eventHash=${hash},${areaBase(queue.base, area)}`;
  const lines = [
    `dn: ${dn}`,
    'objectClass: prometheusEvent',
    `eventHash: ${hash}`,
    `eventConduit: ${ROLE_EXPANDER}`,
    `eventArgument: username=${username}`,
    ...Object.entries(run).map(([type, value]) => `${type}: ${value}`),
    '',
  ];
  await slapd.ldapAdd(lines.join('\n'));
  return hash;
}

/**
 * Writes an entry of class prometheusEvent that is not a valid event into
 * the failed area, as the agent leaves one written by another client;
 * returns its DN.
 */
async function writeMalformed(
  queue: QueueFixture,
  rdn: string,
  lines: string[],
): Promise<string> {
  const dn = `${rdn},${areaBase(queue.base, 'failed')}`;
  await slapd.ldapAdd(
    [`dn: ${dn}`, 'objectClass: prometheusEvent', ...lines, ''].join('\n'),
  );
  return dn;
}

/** A RoleExpander entry with these eventArgument values, and more lines. */
const malformed = (args: string[], ...more: string[]) => [
  `eventConduit: ${ROLE_EXPANDER}`,
  ...args.map((arg) => `eventArgument: ${arg}`),
  ...more,
];

const base64 = (text: string) => Buffer.from(text).toString('base64');

async function json<T>(queue: QueueFixture, ...args: string[]): Promise<T> {
  const result = await queue.cli(...args, '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

const display = (queue: QueueFixture) => json<ShownEvent[]>(queue, '--display');
const failed = (queue: QueueFixture) => json<FailedEvent[]>(queue, '--failed');
const failedEntries = (queue: QueueFixture) =>
  json<(FailedEvent | MalformedFailed)[]>(queue, '--failed');

describe('prometheus-eventqueue and failed events', () => {
  test('--display shows running events first, with their claim, then pending ones with their retry time', async (t) => {
    const queue = await queueWithAreas(t);
    await writeEvent(queue, 'pending', 'amy');
    await writeEvent(queue, 'pending', 'bo', {
      eventAttempts: 2,
      eventLastError: 'exited with status 3',
      eventNotBefore: '20300101000000Z',
    });
    const running = await writeEvent(queue, 'running', 'kim', {
      eventAttempts: 1,
      eventClaimedBy: 'agent1@host1',
      eventClaimExpires: '20300101001000Z',
    });

    const shown = await display(queue);
    assert.deepEqual(
      shown.map((event) => [event.arguments.username, event.state]),
      [
        ['kim', 'running'],
        ['amy', 'pending'],
        ['bo', 'pending'],
      ],
    );
    const [kim, amy, bo] = shown;
    assert.equal(kim?.hash, running);
    assert.equal(kim?.dn, `eventHash=${running},ou=Running,${queue.base}`);
    assert.equal(kim?.claimedBy, 'agent1@host1');
    assert.equal(kim?.claimExpires, '2030-01-01T00:10:00.000Z');
    assert.equal(kim?.attempts, 1);
    assert.equal(amy?.attempts, 0);
    assert.equal(amy?.notBefore, null);
    assert.equal(amy?.claimedBy, null);
    assert.equal(bo?.notBefore, '2030-01-01T00:00:00.000Z');
    assert.equal(bo?.lastError, 'exited with status 3');

    const table = await queue.cli('--display');
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trim().split('\n');
    assert.match(header ?? '', /ARGUMENTS +ATTEMPTS +STATE$/);
    assert.match(
      rows[0] ?? '',
      / 1 +running by agent1@host1 until 2030-01-01T00:10:00\.000Z$/,
    );
    assert.match(rows[1] ?? '', /username=amy +0 +pending$/);
    assert.match(rows[2] ?? '', / 2 +retry after 2030-01-01T00:00:00\.000Z$/);
  });

  test('a queue without Running and Failed containers has no running or failed events', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('amy');
    assert.deepEqual(
      (await display(queue)).map((event) => event.state),
      ['pending'],
    );
    assert.deepEqual(await failed(queue), []);
    const table = await queue.cli('--failed');
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout, 'No event has failed.\n');
  });

  test('--failed lists failed events with their reason and attempts, the oldest failure first', async (t) => {
    const queue = await queueWithAreas(t);
    const older = await writeEvent(queue, 'failed', 'zed', {
      eventAttempts: 5,
      eventLastError: 'exited with status 3',
    });
    // modifyTimestamp has one-second resolution: make the order certain.
    await sleep(1100);
    const newer = await writeEvent(queue, 'failed', 'amy', {
      eventAttempts: 1,
      eventLastError: 'unknown conduit',
    });
    await writeEvent(queue, 'pending', 'bo');

    const listed = await failed(queue);
    assert.deepEqual(
      listed.map((event) => [
        event.hash,
        event.state,
        event.attempts,
        event.reason,
      ]),
      [
        [older, 'failed', 5, 'exited with status 3'],
        [newer, 'failed', 1, 'unknown conduit'],
      ],
    );
    const [first, second] = listed;
    assert.ok(
      Date.parse(first?.failed ?? '') < Date.parse(second?.failed ?? ''),
    );
    assert.ok(Math.abs(Date.parse(second?.failed ?? '') - Date.now()) < 5000);
    assert.equal(first?.lastError, first?.reason);

    const table = await queue.cli('--failed');
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trim().split('\n');
    assert.match(
      header ?? '',
      /^HASH +FAILED +ATTEMPTS +CONDUIT +ARGUMENTS +REASON$/,
    );
    assert.equal(rows.length, 2);
    assert.match(rows[0] ?? '', /^\S+ +\S+Z +5 +\S+ +username=zed +exited/);
  });

  test('--retry moves a failed event back to the queue without what the agent recorded', async (t) => {
    const queue = await queueWithAreas(t);
    const everything = await writeEvent(queue, 'failed', 'amy', {
      eventAttempts: 5,
      eventLastError: 'exited with status 3',
      eventNotBefore: '20300101000000Z',
      eventClaimedBy: 'agent1@host1',
      eventClaimExpires: '20300101001000Z',
    });
    const some = await writeEvent(queue, 'failed', 'bo', {
      eventLastError: 'unknown conduit',
    });

    for (const hash of [everything, some]) {
      const result = await queue.cli('--retry', hash);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Requeued event ${hash} as `));
    }
    assert.deepEqual(await failed(queue), []);
    const shown = await display(queue);
    assert.deepEqual(
      shown.map((event) => [
        event.hash,
        event.dn,
        event.state,
        event.attempts,
        event.notBefore,
        event.lastError,
        event.claimedBy,
        event.claimExpires,
      ]),
      [everything, some].map((hash) => [
        hash,
        `eventHash=${hash},${queue.base}`,
        'pending',
        0,
        null,
        null,
        null,
        null,
      ]),
    );
  });

  test('--retry of an event that is also pending removes the failed entry: the pending one covers it', async (t) => {
    const queue = await queueWithAreas(t);
    await queue.addUser('amy');
    const hash = await writeEvent(queue, 'failed', 'amy', {
      eventAttempts: 5,
      eventLastError: 'exited with status 3',
    });

    const result = await queue.cli('--retry', hash, '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      hash,
      requeued: 0,
      covered: 1,
    });
    assert.deepEqual(await failed(queue), []);
    const shown = await display(queue);
    assert.deepEqual(
      shown.map((event) => [event.hash, event.state]),
      [[hash, 'pending']],
    );

    const again = await writeEvent(queue, 'failed', 'amy');
    const text = await queue.cli('--retry', again);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /already pending as .*, which covers it/);
  });

  test('--retry refuses when another entry holds the pending name, and the failed event keeps its reason', async (t) => {
    const queue = await queueWithAreas(t);
    const hash = await writeEvent(queue, 'failed', 'amy', {
      eventAttempts: 5,
      eventLastError: 'exited with status 3',
    });
    await slapd.ldapAdd(
      [
        `dn: eventHash=${hash},${queue.base}`,
        'objectClass: prometheusEvent',
        `eventHash: ${hash}`,
        `eventConduit: ${ROLE_EXPANDER}`,
        'eventArgument: username=mallory',
        '',
      ].join('\n'),
    );

    const result = await queue.cli('--retry', hash);
    assert.equal(result.code, 5);
    assert.match(result.stderr, /already exists but is not this event/);
    const [kept] = await failed(queue);
    assert.equal(kept?.hash, hash);
    assert.equal(kept?.reason, 'exited with status 3');
    assert.equal(kept?.attempts, 5);
  });

  test('--retry of a hash no failed event has exits 1', async (t) => {
    const queue = await queueWithAreas(t);
    await queue.addUser('amy');
    const result = await queue.cli('--retry', hashOf('amy'));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /No failed event has hash [0-9a-f]{32}/);
    const bad = await queue.cli('--retry', 'not-a-hash');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not an event hash/);
  });

  test('--delete leaves a running event alone and says why', async (t) => {
    const queue = await queueWithAreas(t);
    const hash = await writeEvent(queue, 'running', 'kim', {
      eventClaimedBy: 'agent1@host1',
    });
    const result = await queue.cli('--delete', hash);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is running; it cannot be deleted/);
    assert.deepEqual(
      (await display(queue)).map((event) => event.state),
      ['running'],
    );

    await queue.addUser('kim');
    const pending = await queue.cli('--delete', hash);
    assert.equal(pending.code, 0, pending.stderr);
    assert.deepEqual(
      (await display(queue)).map((event) => event.state),
      ['running'],
    );
  });

  test('--purge-failed deletes every failed event', async (t) => {
    const queue = await queueWithAreas(t);
    await writeEvent(queue, 'failed', 'amy', { eventLastError: 'x' });
    await writeEvent(queue, 'failed', 'bo', { eventLastError: 'y' });
    await writeEvent(queue, 'pending', 'kim');

    const purged = await json<{ purged: number }>(queue, '--purge-failed');
    assert.deepEqual(purged, { purged: 2, malformed: 0 });
    assert.deepEqual(await failed(queue), []);
    assert.equal((await display(queue)).length, 1);

    const again = await queue.cli('--purge-failed');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'Purged 0 failed events\n');
  });

  test('--purge-failed --older-than keeps events that failed more recently', async (t) => {
    const queue = await queueWithAreas(t);
    const old = await writeEvent(queue, 'failed', 'amy');
    // modifyTimestamp is truncated to the second, so an event can look up
    // to 1 s older than it is. amy is at least 4 s old at the purge;
    // bo looks at most 1 s plus the purge's own time old, well under 3 s.
    await sleep(4000);
    const recent = await writeEvent(queue, 'failed', 'bo');

    const result = await queue.cli('--purge-failed', '--older-than', '3s');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'Purged 1 failed event\n');
    const left = (await failed(queue)).map((event) => event.hash);
    assert.deepEqual(left, [recent]);
    assert.ok(!left.includes(old));
  });

  test('--failed lists failed entries that are not valid events, by DN, with their reason', async (t) => {
    const queue = await queueWithAreas(t);
    const zed = await writeEvent(queue, 'failed', 'zed', {
      eventAttempts: 5,
      eventLastError: 'exited with status 3',
    });
    const agentReason =
      'not a valid event: Argument "username" has no "="; write it as ' +
      'name=value.';
    const noEquals = await writeMalformed(
      queue,
      'cn=no-equals',
      malformed(['username'], `eventLastError: ${agentReason}`),
    );
    const twice = await writeMalformed(
      queue,
      'cn=twice',
      malformed(['username=a', 'username=b']),
    );
    // A hash that another event has: the entry would squat on its name.
    const squatted = hashOf('amy');
    const wrongHash = await writeMalformed(
      queue,
      `eventHash=${squatted}`,
      malformed(['username=mallory'], `eventHash: ${squatted}`),
    );
    const newline = await writeMalformed(queue, 'cn=newline', [
      `eventConduit: ${ROLE_EXPANDER}`,
      `eventArgument:: ${base64('username=a\nb')}`,
    ]);

    const result = await queue.cli('--failed', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const listed = JSON.parse(result.stdout) as (
      FailedEvent | MalformedFailed
    )[];
    assert.equal(listed.length, 5);
    // The valid event first, with its fields as before.
    const [valid, ...others] = listed;
    assert.equal(valid?.hash, zed);
    assert.equal((valid as FailedEvent).attempts, 5);
    assert.equal(valid?.reason, 'exited with status 3');
    const byDN = new Map(
      others.map((entry) => [entry.dn, entry as MalformedFailed]),
    );
    assert.deepEqual(
      [...byDN.keys()].sort(),
      [noEquals, twice, wrongHash, newline].sort(),
    );
    for (const entry of byDN.values()) {
      assert.equal(entry.hash, null);
      assert.equal(entry.state, 'failed');
      assert.ok(Math.abs(Date.parse(entry.failed ?? '') - Date.now()) < 10000);
    }
    assert.equal(byDN.get(noEquals)?.reason, agentReason);
    assert.equal(byDN.get(noEquals)?.lastError, agentReason);
    assert.match(byDN.get(noEquals)?.malformed ?? '', /has no "="/);
    assert.match(byDN.get(twice)?.reason ?? '', /"username" is given twice/);
    assert.equal(byDN.get(twice)?.lastError, null);
    assert.match(byDN.get(wrongHash)?.reason ?? '', /does not match/);
    assert.match(byDN.get(newline)?.reason ?? '', /control character/);

    const table = await queue.cli('--failed');
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stderr, '');
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^HASH +FAILED +ATTEMPTS/);
    assert.match(lines[1] ?? '', new RegExp(`^${zed} .* username=zed `));
    assert.match(table.stdout, /remove them with --purge-failed/);
    const header = lines.findIndex((line) => /^DN +FAILED +REASON$/.test(line));
    assert.ok(header > 1, table.stdout);
    const rows = lines.slice(header + 1);
    assert.equal(rows.length, 4);
    for (const dn of [noEquals, twice, wrongHash, newline]) {
      const row = rows.find((line) => line.startsWith(`${dn} `));
      assert.ok(row, `${dn} in ${table.stdout}`);
      assert.match(row, / \S+Z +\S/);
    }
    assert.ok(
      rows.some((row) => row.includes(agentReason)),
      table.stdout,
    );
    assert.doesNotMatch(table.stdout, /No event has failed/);

    // --retry cannot requeue one: the hash it squats on is no failed event.
    const retried = await queue.cli('--retry', squatted);
    assert.equal(retried.code, 1);
    assert.match(retried.stderr, /No failed event has hash/);
    assert.equal((await failedEntries(queue)).length, 5);
  });

  test('--purge-failed removes failed entries that are not valid events too', async (t) => {
    const queue = await queueWithAreas(t);
    const noEquals = await writeMalformed(
      queue,
      'cn=no-equals',
      malformed(['username'], 'eventLastError: not a valid event: no "="'),
    );
    await writeMalformed(
      queue,
      'cn=twice',
      malformed(['username=a', 'username=b']),
    );

    const table = await queue.cli('--failed');
    assert.equal(table.code, 0, table.stderr);
    assert.doesNotMatch(table.stdout, /No event has failed/);
    assert.match(table.stdout, new RegExp(`^${noEquals} `, 'm'));

    const purged = await json<object>(queue, '--purge-failed');
    assert.deepEqual(purged, { purged: 2, malformed: 2 });
    assert.deepEqual(await failedEntries(queue), []);
    const after = await queue.cli('--failed');
    assert.equal(after.stdout, 'No event has failed.\n');
    assert.equal(after.stderr, '');

    await writeEvent(queue, 'failed', 'amy');
    await writeMalformed(queue, 'cn=again', malformed(['username']));
    const text = await queue.cli('--purge-failed');
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'Purged 1 failed event and 1 malformed entry\n');
    assert.deepEqual(await failedEntries(queue), []);
  });

  test('--purge-failed --older-than keeps malformed entries that failed more recently', async (t) => {
    const queue = await queueWithAreas(t);
    await writeEvent(queue, 'failed', 'amy');
    const old = await writeMalformed(queue, 'cn=old', malformed(['username']));
    // As above: the old ones are at least 4 s old, the recent ones under 3 s.
    await sleep(4000);
    const recentEvent = await writeEvent(queue, 'failed', 'bo');
    const recent = await writeMalformed(
      queue,
      'cn=recent',
      malformed(['username']),
    );

    const result = await queue.cli('--purge-failed', '--older-than', '3s');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'Purged 1 failed event and 1 malformed entry\n',
    );
    const left = await failedEntries(queue);
    assert.deepEqual(
      left.map((entry) => [entry.hash, entry.dn]),
      [
        [
          recentEvent,
          `eventHash=${recentEvent},${areaBase(queue.base, 'failed')}`,
        ],
        [null, recent],
      ],
    );
    assert.ok(!left.some((entry) => entry.dn === old));
  });

  for (const [name, args, message] of [
    [
      'an age that is not a duration',
      ['--purge-failed', '--older-than', '7 days'],
      /--older-than "7 days" is not an age/,
    ],
    [
      '--older-than without --purge-failed',
      ['--failed', '--older-than', '7d'],
      /--older-than goes with --purge-failed/,
    ],
    [
      'two actions',
      ['--failed', '--retry', '0'.repeat(32)],
      /exactly one of .*--purge-failed.* \(got --failed, --retry\)/,
    ],
  ] as const) {
    test(`${name} is a usage error (exit 2)`, async (t) => {
      const queue = await queueWithAreas(t);
      await writeEvent(queue, 'failed', 'amy');
      const result = await queue.cli(...args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
      assert.equal((await failed(queue)).length, 1);
    });
  }
});
