/**
 * Names and values that LDAP treats specially round-trip exactly: through
 * the CLI's --add, the directory, --display --json and the conduit's argv,
 * and they deduplicate. An event whose RDN itself holds DN special
 * characters, written with ldapadd, is claimed (moved into ou=Running),
 * run and deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { loadConfig } from '../agent/config.js';
import { EventQueue } from '../agent/queue.js';
import { QueueFixture, waitFor, WATCHING } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const CONDUIT = 'Prometheus::Conduits::Grüße研发';

/** Values with DN, filter and non-ASCII specials; NUL is refused. */
const VALUES = [
  'a,b+c=d\\e#f;g<h>i"j',
  '  leading and trailing  ',
  '#starts with a hash',
  ' ',
  '*(filter) \\2a chars*',
  '(|(objectClass=*))',
  'josé',
  '研发二组',
  '=starts=with=equals=',
  'rocket 🚀 e\u0301',
];

function options() {
  return {
    conduits: (recorder: string) =>
      `  ${CONDUIT}:\n    command: ${recorder}\n` +
      `    arguments:\n      v: '.*'\n      w: '.*'\n`,
  };
}

interface Added {
  hash: string;
  added: boolean;
  arguments: Record<string, string>;
}

/** RDNs with DN special characters, and the cn value each names. */
const RDNS: readonly (readonly [string, string])[] = [
  ['cn=a\\,b\\+c', 'a,b+c'],
  ['cn=\\ lead and trail\\ ', ' lead and trail '],
  ['cn=\\#hash\\;semi\\<lt\\>gt\\"quote\\=eq', '#hash;semi<lt>gt"quote=eq'],
  ['cn=back\\\\slash', 'back\\slash'],
  ['cn=josé 研发二组', 'josé 研发二组'],
  ['cn=star*(paren)', 'star*(paren)'],
];
const RDN_VALUES = RDNS.map(([, value]) => value);

describe('special characters in names and values', () => {
  test('values round-trip through --add, --display --json and argv, and deduplicate', async (t) => {
    const queue = await QueueFixture.create(slapd, t, options());
    const hashes: string[] = [];
    for (const value of VALUES) {
      const args = ['--add', CONDUIT, '--args', `v=${value}`, `w=x${value}`];
      const first = await queue.cli(...args, '--json');
      assert.equal(first.code, 0, first.stderr);
      const added = JSON.parse(first.stdout) as Added;
      assert.equal(added.added, true);
      assert.deepEqual(added.arguments, { v: value, w: `x${value}` });
      const again = await queue.cli(...args);
      assert.equal(again.code, 0, again.stderr);
      assert.match(
        again.stdout,
        new RegExp(`^Already queued as event ${added.hash}`),
      );
      hashes.push(added.hash);
    }
    assert.equal(new Set(hashes).size, VALUES.length);

    const shown = await queue.cli('--display', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stderr, '', 'no entry is malformed');
    const events = JSON.parse(shown.stdout) as Added[];
    assert.deepEqual(
      events.map((event) => [event.hash, event.arguments]),
      VALUES.map((value, n) => [hashes[n], { v: value, w: `x${value}` }]),
    );

    const agent = queue.startAgent(t);
    const runs = await queue.waitForRuns(VALUES.length);
    assert.deepEqual(
      runs.map((run) => run.argv),
      VALUES.map((value) => ['--v', value, '--w', `x${value}`]),
    );
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
  });

  test('a value with NUL, another control character or a bidirectional control is refused with exit 4, or by the API', async (t) => {
    const queue = await QueueFixture.create(slapd, t, options());
    // NUL cannot reach the CLI at all: no argv element can hold one.
    for (const value of [
      'line\nbreak',
      'tab\there',
      'bell\u0007',
      'del\u007f',
      'csi\u009b31m',
      'rtl\u202eevil',
      'isolate\u2066x',
    ]) {
      const result = await queue.cli('--add', CONDUIT, '--args', `v=${value}`);
      assert.equal(
        result.code,
        4,
        `${JSON.stringify(value)}: ${result.stderr}`,
      );
      assert.match(
        result.stderr,
        /control character U\+(00[01][0-9A-F]|007F|009B|202E|2066)/,
      );
    }
    const api = await EventQueue.open(loadConfig(queue.configFile));
    try {
      await assert.rejects(
        api.add({ conduit: CONDUIT, arguments: { v: 'a\u0000b' } }),
        { code: 'EQ_REFUSED', message: /control character U\+0000/ },
      );
    } finally {
      await api.close();
    }
    assert.equal(await queue.entries(), '', 'nothing written');
  });

  test('events written with ldapadd under RDNs with special characters are claimed, run and deleted', async (t) => {
    const queue = await QueueFixture.create(slapd, t, options());
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await slapd.ldapAdd(rdnEvents(queue.base, CONDUIT));

    const runs = await queue.waitForRuns(RDNS.length);
    assert.deepEqual(
      runs.map((run) => run.argv).sort(),
      RDNS.map((_, n) => ['--v', String(n)]).sort(),
    );
    await queue.waitUntilEmpty();
    const running = await slapd.ldapSearch(
      `ou=Running,${queue.base}`,
      '(objectClass=prometheusEvent)',
    );
    assert.equal(running, '', 'nothing left in ou=Running');
    assert.equal(await agent.stop(), 0);
    assert.equal(agent.count('Event ran'), RDNS.length, agent.stdout);
    assert.doesNotMatch(agent.stdout, /Cannot claim|error:/);
  });

  test('such events keep their RDN, value for value, when moved to ou=Running and ou=Failed', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: () =>
        `  Fail:\n    command: [/bin/false]\n    attempts: 1\n` +
        `    arguments:\n      v: '.*'\n`,
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    await slapd.ldapAdd(rdnEvents(queue.base, 'Fail'));
    const failed = await waitFor(async () => {
      const found = await cnValues(`ou=Failed,${queue.base}`);
      return found.length >= RDNS.length ? found : undefined;
    }, 10_000).catch(() => undefined);
    assert.equal(await agent.stop(), 0);
    assert.deepEqual(
      (failed ?? (await cnValues(`ou=Failed,${queue.base}`))).sort(),
      RDN_VALUES.slice().sort(),
    );
  });
});

function rdnEvents(base: string, conduit: string): string {
  return RDNS.map(([rdn], n) =>
    [
      `dn: ${rdn},${base}`,
      'objectClass: prometheusEvent',
      `eventConduit: ${conduit}`,
      `eventArgument: v=${n}`,
      '',
    ].join('\n'),
  ).join('\n');
}

/** The cn values of the events one level below `base`, decoded. */
async function cnValues(base: string): Promise<string[]> {
  const text = await slapd
    .ldapSearch(base, '(objectClass=prometheusEvent)', 'cn')
    .catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.startsWith('cn:'))
    .map((line) =>
      line.startsWith('cn:: ')
        ? Buffer.from(line.slice(5), 'base64').toString('utf8')
        : line.slice(4),
    );
}
