/**
 * --trigger against a real slapd: one event per conduit of the trigger,
 * each with the arguments it accepts; triggers checked at load.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { QueueFixture, ROLE_EXPANDER } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const KDC = 'Prometheus::Conduits::SyncToKDC';

const withTrigger = (recorder: string) =>
  `  ${ROLE_EXPANDER}:\n` +
  `    command: ${recorder}\n` +
  `    arguments:\n` +
  `      username: '^[a-z]+$'\n` +
  `  ${KDC}:\n` +
  `    command: ${recorder}\n` +
  `triggers:\n` +
  `  user-changed: [RoleExpander, ${KDC}]\n`;

interface Triggered {
  trigger: string;
  events: { conduit: string; arguments: Record<string, string> }[];
}

describe('prometheus-eventqueue --trigger', () => {
  test('adds one event per conduit, each with the arguments it accepts', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: withTrigger,
    });
    const result = await queue.cli(
      '--trigger',
      'user-changed',
      '--args',
      'username=juser',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as Triggered;
    assert.equal(shown.trigger, 'user-changed');
    assert.deepEqual(
      shown.events.map((event) => [event.conduit, event.arguments]),
      [
        [ROLE_EXPANDER, { username: 'juser' }],
        [KDC, {}],
      ],
    );
    const display = await queue.cli('--display', '--json');
    assert.equal((JSON.parse(display.stdout) as unknown[]).length, 2);
    // SyncToKDC takes no arguments: its event without them is no surprise.
    assert.doesNotMatch(result.stderr, /Note:/);
  });

  test('says so when a conduit that takes arguments gets none of those given', async (t) => {
    // A replacer function: in a replacement string `$'` is special.
    const conduits = (recorder: string) =>
      withTrigger(recorder).replace(
        `  ${KDC}:\n    command: ${recorder}\n`,
        () =>
          `  ${KDC}:\n    command: ${recorder}\n    arguments:\n` +
          `      principal: '^[a-z]+@[A-Z.]+$'\n`,
      );
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const result = await queue.cli(
      '--trigger',
      'user-changed',
      '--args',
      'principal=juser@INF.ED.AC.UK',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as Triggered;
    assert.deepEqual(
      shown.events.map((event) => [event.conduit, event.arguments]),
      [
        [ROLE_EXPANDER, {}],
        [KDC, { principal: 'juser@INF.ED.AC.UK' }],
      ],
    );
    assert.match(
      result.stderr,
      new RegExp(
        `Note: ${ROLE_EXPANDER} takes none of the arguments given ` +
          '\\(it takes username\\); its event has no arguments and runs ' +
          'in full\\.',
      ),
    );
  });

  test('with --wait, waits for every event of the trigger', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: withTrigger,
    });
    const agent = queue.startAgent(t);
    const result = await queue.cli(
      '--trigger',
      'user-changed',
      '--args',
      'username=juser',
      '--wait',
      '--timeout',
      '20s',
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.match(/ ran\n/g)?.length, 2);
    assert.equal((await queue.runs()).length, 2);
    await agent.stop();
  });

  test('refuses an unknown trigger or an argument no conduit accepts', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: withTrigger,
    });
    const unknown = await queue.cli('--trigger', 'nope');
    assert.equal(unknown.code, 4);
    assert.match(unknown.stderr, /Unknown trigger "nope"/);
    const stray = await queue.cli(
      '--trigger',
      'user-changed',
      '--args',
      'role=staff',
    );
    assert.equal(stray.code, 4);
    assert.match(stray.stderr, /accepts argument "role"/);
    assert.equal(await queue.entries(), '');
  });

  test('a trigger naming an unknown conduit is a configuration error', async (t) => {
    const queue = await QueueFixture.create(slapd, t, {
      conduits: (recorder) =>
        withTrigger(recorder) + '  broken: [RoleExpander, Nothing]\n',
    });
    const result = await queue.cli('--display');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /triggers\.broken\.1: found "Nothing"/);
  });

  test('an ambiguous short name is a configuration error', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const config = await import('node:fs/promises').then((fs) =>
      fs.readFile(queue.configFile, 'utf8'),
    );
    await writeFile(
      queue.configFile,
      config +
        `  Other::RoleExpander:\n    command: [/bin/true]\n` +
        'triggers:\n  t: [RoleExpander]\n',
    );
    const result = await queue.cli('--display');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /triggers\.t\.0: .*give the full name/);
  });
});
