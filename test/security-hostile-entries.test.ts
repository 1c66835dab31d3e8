/**
 * Malformed and hostile entries written by other clients: each either is
 * refused by the server (asserted) or reaches the agent and ends in the
 * failed area with its reason, while the agent runs on and the next good
 * event runs. Entries that are not events are left alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  waitFor,
  WATCHING,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const MEGABYTE = 1024 * 1024;

function entry(rdn: string, base: string, lines: string[]): string {
  return [`dn: ${rdn},${base}`, ...lines, ''].join('\n');
}

function event(rdn: string, base: string, ...args: string[]): string {
  return entry(rdn, base, [
    'objectClass: prometheusEvent',
    `eventConduit: ${ROLE_EXPANDER}`,
    ...args.map((arg) => `eventArgument: ${arg}`),
  ]);
}

function base64(text: string | Buffer): string {
  return Buffer.from(text).toString('base64');
}

/** Hostile entries that reach the agent, and the reason each must get. */
function hostile(base: string): [string, string, RegExp][] {
  const many = Array.from({ length: 5000 }, (_, n) => `a${n}=x`);
  const tooMany = Array.from({ length: 33 }, (_, n) => `a${n}=x`);
  return [
    [
      'cn=empty-name',
      event('cn=empty-name', base, '=x'),
      /name "" .*not valid/,
    ],
    // An empty value is an argument like any other; the conduit's pattern
    // decides, and RoleExpander's refuses it.
    [
      'cn=empty-value',
      event('cn=empty-value', base, 'username='),
      /"" of argument "username" does not match/,
    ],
    [
      'cn=twice',
      event('cn=twice', base, 'username=a', 'username=b'),
      /"username" is given twice/,
    ],
    ['cn=no-equals', event('cn=no-equals', base, 'username'), /has no "="/],
    [
      'cn=thousands',
      event('cn=thousands', base, ...many),
      /has 5000 arguments; at most 32/,
    ],
    [
      'cn=thirty-three',
      event('cn=thirty-three', base, ...tooMany),
      /has 33 arguments/,
    ],
    [
      'cn=megabyte',
      event('cn=megabyte', base, `username=${'a'.repeat(MEGABYTE)}`),
      new RegExp(`is ${MEGABYTE} bytes of UTF-8; at most 4096`),
    ],
    [
      'cn=newline',
      entry('cn=newline', base, [
        'objectClass: prometheusEvent',
        `eventConduit: ${ROLE_EXPANDER}`,
        `eventArgument:: ${base64('username=a\nb')}`,
      ]),
      /control character U\+000A/,
    ],
    [
      'cn=long-conduit',
      entry('cn=long-conduit', base, [
        'objectClass: prometheusEvent',
        `eventConduit: ${'C'.repeat(300)}`,
      ]),
      /conduit name is 300 bytes of UTF-8; at most 256/,
    ],
    [
      'cn=long-name',
      event('cn=long-name', base, `${'n'.repeat(65)}=x`),
      /is not valid; expected a letter followed by up to 63/,
    ],
  ];
}

describe('hostile entries in the queue', () => {
  test('the server refuses an event without eventConduit, and invalid UTF-8', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await assert.rejects(
      slapd.ldapAdd(
        entry('cn=no-conduit', queue.base, [
          'objectClass: prometheusEvent',
          'eventArgument: username=x',
        ]),
      ),
      { code: 65, message: /Object class violation/ },
    );
    const invalid = Buffer.concat([
      Buffer.from('username=a'),
      Buffer.from([0xff, 0xfe]),
    ]);
    await assert.rejects(
      slapd.ldapAdd(
        entry('cn=not-utf8', queue.base, [
          'objectClass: prometheusEvent',
          `eventConduit: ${ROLE_EXPANDER}`,
          `eventArgument:: ${base64(invalid)}`,
        ]),
      ),
      { code: 21, message: /Invalid syntax/ },
    );
    assert.equal(await queue.entries(), '');
  });

  test('each malformed entry ends in the failed area with its reason; the agent runs on', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    const cases = hostile(queue.base);
    for (const [, ldif] of cases) await slapd.ldapAdd(ldif);
    // Not events: not in the watch's filter, so left alone.
    await slapd.ldapAdd(
      entry('ou=not-an-event', queue.base, [
        'objectClass: organizationalUnit',
        'ou: not-an-event',
      ]) +
        '\n' +
        entry('cn=a-person', queue.base, [
          'objectClass: person',
          'cn: a-person',
          'sn: person',
        ]),
    );
    // Another class besides prometheusEvent: still an event.
    await slapd.ldapAdd(
      entry('cn=extensible', queue.base, [
        'objectClass: prometheusEvent',
        'objectClass: extensibleObject',
        `eventConduit: ${ROLE_EXPANDER}`,
        'eventArgument: username=ext',
        'mail: extra@example.test',
      ]),
    );
    await slapd.ldapAdd(event('cn=good', queue.base, 'username=good'));

    const runs = await queue.waitForRuns(2);
    assert.deepEqual(
      runs.map((run) => run.argv),
      [
        ['--username', 'ext'],
        ['--username', 'good'],
      ],
    );
    const failed = await waitFor(async () => {
      const text = await slapd.ldapSearch(
        `ou=Failed,${queue.base}`,
        '(objectClass=prometheusEvent)',
        'cn',
        'eventLastError',
      );
      const count = text.split('\ndn: ').length - (text === '' ? 1 : 0);
      return count >= cases.length ? text : undefined;
    }, 20_000);
    for (const [rdn, , reason] of cases) {
      const block = failed
        .split('\n\n')
        .find((each) => each.startsWith(`dn: ${rdn},`));
      assert.ok(block, `${rdn} is in the failed area`);
      const reasonLine = block
        .split('\n')
        .find((line) => line.startsWith('eventLastError'));
      assert.match(reasonLine ?? '', reason, rdn);
      assert.ok(
        (reasonLine ?? '').length < 1000,
        `${rdn}: the reason is short`,
      );
    }
    const shown = await queue.cli('--display', '--json');
    assert.deepEqual(JSON.parse(shown.stdout), [], 'none pending or running');
    const others = await slapd.ldapSearch(
      queue.base,
      '(|(ou=not-an-event)(cn=a-person))',
      'dn',
    );
    assert.match(others, /ou=not-an-event/);
    assert.match(others, /cn=a-person/);

    assert.equal(agent.child.exitCode, null, 'the agent is running');
    await queue.addUser('after');
    await queue.waitForRuns(3);
    assert.equal(await agent.stop(), 0);
    assert.equal(agent.count('Entry is not a valid event'), cases.length - 1);
    assert.equal(agent.count('Event refused'), 1, 'the empty value');
    assert.ok(agent.stdout.length < 200_000, 'no value is logged whole');
  });

  test('the CLI refuses the same limits before writing, with exit status 4', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        `  ${'C'.repeat(257)}:\n    command: ${recorder}\n` +
        `  ${ROLE_EXPANDER}:\n    command: ${recorder}\n    arguments:\n` +
        Array.from({ length: 40 }, (_, n) => `      a${n}: '.*'\n`).join(''),
    });
    const refusals: [string[], RegExp][] = [
      [
        Array.from({ length: 33 }, (_, n) => `a${n}=x`),
        /33 arguments; at most 32/,
      ],
      [[`a0=${'é'.repeat(2049)}`], /4098 bytes of UTF-8; at most 4096/],
      [[`${'a'.repeat(65)}=x`], /up to 63/],
    ];
    for (const [args, reason] of refusals) {
      const result = await queue.cli('--add', ROLE_EXPANDER, '--args', ...args);
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, reason);
    }
    const longConduit = await queue.cli('--add', 'C'.repeat(257));
    assert.equal(longConduit.code, 4, longConduit.stderr);
    assert.match(longConduit.stderr, /257 bytes of UTF-8; at most 256/);
    const atLimit = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      ...Array.from({ length: 32 }, (_, n) => `a${n}=${'é'.repeat(2048)}`),
    );
    assert.equal(atLimit.code, 0, atLimit.stderr);
    const pending = await queue.cli('--display', '--json');
    assert.equal((JSON.parse(pending.stdout) as unknown[]).length, 1);
  });
});
