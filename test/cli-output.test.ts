/**
 * The CLI's output when its reader goes away: `--display | head -3` on a
 * queue larger than a pipe's buffer ends quietly, without a stack trace.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import { CLI, QueueFixture, ROLE_EXPANDER } from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

/** Runs a bash script; resolves with its stdout and stderr. */
function bash(script: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(
      'bash',
      ['-c', script],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        error === null ? resolve({ stdout, stderr }) : reject(error),
    ),
  );
}

describe('prometheus-eventqueue output to a closed pipe', () => {
  test('--display | head -3 ends quietly with status 0', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const lines = Array.from(
      { length: 2000 },
      (_, at) => `${ROLE_EXPANDER} username=user${at}\n`,
    );
    const file = path.join(queue.folder, 'batch.txt');
    await writeFile(file, lines.join(''));
    const added = await queue.cli('--add-batch', file);
    assert.equal(added.code, 0, added.stderr);

    for (const json of [[], ['--json']]) {
      const { stdout, stderr } = await bash(
        '"$NODE" "$CLI" --config "$CONFIG" --display $JSON 2>"$ERR" ' +
          '| head -3; echo "status ${PIPESTATUS[0]}" >&2',
        {
          NODE: process.execPath,
          CLI,
          CONFIG: queue.configFile,
          JSON: json.join(' '),
          ERR: path.join(queue.folder, 'stderr.txt'),
        },
      );
      assert.equal(stdout.split('\n').length, 4, json.join(' '));
      assert.equal(stderr, 'status 0\n');
      const cliError = await bash('cat "$ERR"', {
        ERR: path.join(queue.folder, 'stderr.txt'),
      });
      assert.equal(cliError.stdout, '', json.join(' '));
    }
  });
});
