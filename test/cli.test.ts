/**
 * The CLI against a real slapd: add, deduplicate, display, delete, and
 * refuse what the configuration does not allow before writing anything.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { QueueFixture, ROLE_EXPANDER } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const twoConduits = (recorder: string) =>
  `  ${ROLE_EXPANDER}:\n` +
  `    command: ${recorder}\n` +
  `    arguments:\n` +
  `      username: '^[a-z][a-z0-9_-]{0,31}$'\n` +
  `      role: '^[a-z]+$'\n` +
  `  Prometheus::Conduits::SyncToKDC::Conduit:\n` +
  `    command: ${recorder}\n` +
  `    timeout: 30s\n`;

interface DisplayedEvent {
  hash: string;
  conduit: string;
  arguments: Record<string, string>;
  created: string;
  creator: string;
}

async function display(queue: QueueFixture): Promise<DisplayedEvent[]> {
  const result = await queue.cli('--display', '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as DisplayedEvent[];
}

describe('prometheus-eventqueue', () => {
  test('--add queues an event that --display shows with its fields', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const added = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
      '--json',
    );
    assert.equal(added.code, 0, added.stderr);
    const result = JSON.parse(added.stdout) as { hash: string; added: boolean };
    assert.match(result.hash, /^[0-9a-f]{32}$/);
    assert.equal(result.added, true);

    const [event, ...rest] = await display(queue);
    assert.equal(rest.length, 0);
    assert.equal(event?.hash, result.hash);
    assert.equal(event?.conduit, ROLE_EXPANDER);
    assert.deepEqual(event?.arguments, { username: 'juser' });
    assert.ok(Math.abs(Date.parse(event?.created ?? '') - Date.now()) < 5000);
    assert.match(event?.creator ?? '', /@/);
  });

  test('an identical event is not added twice, whatever the argument order', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const first = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
      'role=staff',
    );
    const second = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'role=staff',
      '--args',
      'username=juser',
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    const hash = /[0-9a-f]{32}/.exec(first.stdout)?.[0];
    assert.ok(hash);
    assert.match(second.stdout, /Already queued/);
    assert.ok(second.stdout.includes(hash));
    assert.equal((await display(queue)).length, 1);
  });

  test('--display lists events in the order they will run', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const users = ['zed', 'amy', 'mo', 'kim', 'bo'];
    for (const user of users) {
      const result = await queue.cli(
        '--add',
        ROLE_EXPANDER,
        '--args',
        `username=${user}`,
      );
      assert.equal(result.code, 0, result.stderr);
    }
    const shown = (await display(queue)).map(
      (event) => event.arguments.username,
    );
    assert.deepEqual(shown, users);

    const table = await queue.cli('--display');
    assert.match(table.stdout, /^HASH +CREATED +CREATOR +CONDUIT +ARGUMENTS/);
    assert.equal(table.stdout.trim().split('\n').length, users.length + 1);
  });

  test('--delete removes a pending event by its hash', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const added = await queue.cli('--add', ROLE_EXPANDER, '--json');
    const { hash } = JSON.parse(added.stdout) as { hash: string };
    const deleted = await queue.cli('--delete', hash);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await display(queue), []);

    const again = await queue.cli('--delete', hash);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No pending event has hash/);
    const bad = await queue.cli('--delete', 'not-a-hash');
    assert.equal(bad.code, 2);
  });

  for (const [name, args, message] of [
    [
      'an unknown conduit',
      ['--add', 'Prometheus::Conduits::Nope'],
      /Unknown conduit "Prometheus::Conduits::Nope"/,
    ],
    [
      'an argument the conduit does not accept',
      ['--add', ROLE_EXPANDER, '--args', 'shell=x'],
      /does not accept argument "shell"/,
    ],
    [
      'a value that fails its pattern',
      ['--add', ROLE_EXPANDER, '--args', 'username=J User;rm'],
      /"J User;rm" of argument "username" does not match/,
    ],
    [
      'an argument without "="',
      ['--add', ROLE_EXPANDER, '--args', 'username'],
      /has no "="/,
    ],
    [
      'an argument given twice',
      ['--add', ROLE_EXPANDER, '--args', 'username=a', 'username=b'],
      /given twice/,
    ],
  ] as const) {
    test(`${name} is refused before anything is written`, async (t) => {
      const queue = await QueueFixture.create(slapd, t, {
        conduits: twoConduits,
      });
      const result = await queue.cli(...args);
      assert.equal(result.code, 4);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
      assert.equal(await queue.entries(), '');
    });
  }

  test('--listconduits shows each conduit with its arguments', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const result = await queue.cli('--listconduits', '--json');
    assert.equal(result.code, 0, result.stderr);
    const conduits = JSON.parse(result.stdout) as {
      name: string;
      arguments: Record<string, string>;
      timeoutSeconds: number;
    }[];
    assert.deepEqual(
      conduits.map((conduit) => [
        conduit.name,
        Object.keys(conduit.arguments),
        conduit.timeoutSeconds,
      ]),
      [
        [ROLE_EXPANDER, ['username', 'role'], 600],
        ['Prometheus::Conduits::SyncToKDC::Conduit', [], 30],
      ],
    );
    const table = await queue.cli('--listconduits');
    assert.match(table.stdout, /RoleExpander +username=\/\^\[a-z\]/);
  });

  test('a missing queue base is explained', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    await slapd.ldapDelete(queue.base);
    const result = await queue.cli('--add', ROLE_EXPANDER);
    assert.equal(result.code, 5);
    assert.match(result.stderr, /The queue ou=.* does not exist/);
  });

  test('exactly one action is required', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const none = await queue.cli();
    assert.equal(none.code, 2);
    const two = await queue.cli('--display', '--listconduits');
    assert.equal(two.code, 2);
    assert.match(two.stderr, /exactly one of/);
  });

  test('a wrong password is reported and the CLI exits instead of hanging', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const config = await readFile(queue.configFile, 'utf8');
    const wrong = path.join(queue.folder, 'wrong.secret');
    await writeFile(wrong, 'not-the-password\n');
    await writeFile(
      queue.configFile,
      config.replace(slapd.rootPasswordFile, wrong),
    );
    const started = Date.now();
    const result = await queue.cli('--display');
    assert.equal(result.code, 5);
    assert.match(result.stderr, /Cannot bind to .* invalid credentials \(49\)/);
    assert.doesNotMatch(result.stderr, /not-the-password/);
    assert.ok(Date.now() - started < 5000);
  });

  test('an entry squatting the name of an event with a wrong eventHash blocks the add loudly', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: twoConduits,
    });
    const juser = '9255467a2119587474645b553e119ddb';
    await slapd.ldapAdd(
      [
        `dn: eventHash=${juser},${queue.base}`,
        'objectClass: prometheusEvent',
        `eventHash: ${juser}`,
        `eventConduit: ${ROLE_EXPANDER}`,
        'eventArgument: username=mallory',
        '',
      ].join('\n'),
    );
    const result = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=juser',
    );
    assert.equal(result.code, 5);
    assert.match(
      result.stderr,
      /already exists but is not this event \(eventHash 9255467a\S+ does not match/,
    );
    const shown = await queue.cli('--display');
    assert.match(shown.stderr, /is not a valid event/);
  });

  test('--display never prints a control character raw', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  Free:\n    command: ${recorder}\n    arguments:\n      name: '[^]*'\n`,
    });
    const value = 'line1\nfake-row \u001b[31mRED';
    await slapd.ldapAdd(
      [
        `dn: cn=tricky,${queue.base}`,
        'objectClass: prometheusEvent',
        'eventConduit: Free',
        `eventArgument:: ${Buffer.from(`name=${value}`).toString('base64')}`,
        '',
      ].join('\n'),
    );
    const table = await queue.cli('--display');
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stderr,
      /cn=tricky.*is not a valid event: .*control character U\+000A/,
    );
    assert.ok(
      !(table.stdout + table.stderr).includes('\u001b'),
      'no raw escape',
    );
  });
});
