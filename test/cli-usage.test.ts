/**
 * What the CLI refuses on its command line before touching the queue: an
 * action given twice, an option that does not go with the action, and
 * --args values that were not UTF-8.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  CLI,
  QueueFixture,
  ROLE_EXPANDER,
  type CommandResult,
} from './support/queue-fixture.js';

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

/** Runs the CLI from bash, so that `args` may hold $'\xff' words. */
function cliFromBash(queue: QueueFixture, args: string) {
  const script = `"$NODE" "$CLI" --config "$CONFIG" ${args}`;
  const env = {
    ...process.env,
    NODE: process.execPath,
    CLI,
    CONFIG: queue.configFile,
  };
  return new Promise<CommandResult>((resolve) =>
    execFile('bash', ['-c', script], { env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : (error.code as number | null);
      resolve({ code, stdout, stderr });
    }),
  );
}

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

  test('--args that are not UTF-8 are refused with status 4', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const result = await cliFromBash(
      queue,
      `--add ${SPECIAL} --args $'value=\\xff\\xfe'`,
    );
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /not valid UTF-8/);
    assert.match(result.stderr, /cannot be recovered/);
    assert.equal(await queue.entries(), '');

    const valid = await cliFromBash(
      queue,
      `--add ${SPECIAL} --args value=Grüße`,
    );
    assert.equal(valid.code, 0, valid.stderr);
  });
});
