/**
 * What the CLI refuses on its command line before touching the queue: an
 * action given twice, an option that does not go with the action, and
 * --args values that were not UTF-8.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { QueueFixture, ROLE_EXPANDER } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

const SPECIAL = 'Test::Special';

const conduits = (recorder: string) =>
  `  ${ROLE_EXPANDER}:\n` +
  `    command: ${recorder}\n` +
  `    arguments:\n` +
  `      username: '^[a-z][a-z0-9_-]{0,31}$'\n` +
  `  ${SPECIAL}:\n` +
  `    command: ${recorder}\n` +
  `    arguments:\n` +
  `      value: '^.*$'\n`;

describe('prometheus-eventqueue usage', () => {
  test('--add given twice is a usage error that points to --add-batch', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const result = await queue.cli(
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=amy',
      '--add',
      SPECIAL,
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--add is given more than once/);
    assert.match(result.stderr, /--add-batch/);
    assert.equal(await queue.entries(), '');
  });

  test('--monitor --json is a usage error', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const result = await queue.cli('--monitor', '--json');
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--json does not apply to --monitor/);
  });
});
