/**
 * --add-batch and EventQueue.addMany against a real slapd: every line is
 * checked before anything is written, identical events are queued once,
 * and values come back as they were given.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../agent/config.js';
import { eventHash } from '../agent/event.js';
import { EventQueue } from '../agent/queue.js';
import { RefusedBatchError } from '../agent/queue-batch.js';
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
  `      role: '^[a-z]+$'\n` +
  `  ${SPECIAL}:\n` +
  `    command: ${recorder}\n` +
  `    arguments:\n` +
  `      value: '^.*$'\n` +
  `      other: '^.*$'\n`;

interface BatchEvent {
  line: number;
  hash: string;
  added: boolean;
  conduit: string;
  arguments: Record<string, string>;
}

interface DisplayedEvent {
  hash: string;
  conduit: string;
  arguments: Record<string, string>;
}

/** Runs the CLI with `input` on its standard input. */
function cliWithInput(
  queue: QueueFixture,
  input: string,
  ...args: string[]
): Promise<CommandResult> {
  const all = [CLI, '--config', queue.configFile, ...args];
  const child = spawn(process.execPath, all);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
}

async function batch(queue: QueueFixture, lines: readonly string[]) {
  const input = lines.map((line) => `${line}\n`).join('');
  const result = await cliWithInput(queue, input, '--add-batch', '-', '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as BatchEvent[];
}

async function display(queue: QueueFixture): Promise<DisplayedEvent[]> {
  const result = await queue.cli('--display', '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as DisplayedEvent[];
}

const users = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, at) => `user${from + at}`);

describe('prometheus-eventqueue --add-batch', () => {
  test('a batch on standard input is queued in full, and again adds nothing', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const lines = users(0, 300).map(
      (user) => `${ROLE_EXPANDER} username=${user}`,
    );
    const first = await cliWithInput(
      queue,
      lines.join('\n'),
      '--add-batch',
      '-',
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'Added 300 events; 0 already queued\n');

    const more = users(300, 310).map(
      (user) => `${ROLE_EXPANDER} username=${user}`,
    );
    const again = await cliWithInput(
      queue,
      [...lines, ...more].join('\n'),
      '--add-batch',
      '-',
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'Added 10 events; 300 already queued\n');

    // More than a page (PAGE_SIZE) of events: --display pages through.
    const shown = (await display(queue)).map((each) => each.arguments.username);
    assert.deepEqual(shown.sort(), users(0, 310).sort());
  });

  test('one invalid line refuses the whole batch, naming each bad line', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const lines = [
      `${ROLE_EXPANDER} username=amy`,
      `${ROLE_EXPANDER} username=bo`,
      'Prometheus::Conduits::Nope',
      `${ROLE_EXPANDER} username=kim`,
      `${ROLE_EXPANDER} username=Not-Lowercase`,
      `${ROLE_EXPANDER} username`,
      '{"conduit": 42}',
    ];
    const result = await cliWithInput(
      queue,
      lines.join('\n'),
      '--add-batch',
      '-',
    );
    assert.equal(result.code, 4);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /nothing was added: 4 lines are not valid/);
    assert.match(result.stderr, /line 3: Unknown conduit/);
    assert.match(result.stderr, /line 5: Value "Not-Lowercase"/);
    assert.match(result.stderr, /line 6: Argument "username" has no "="/);
    assert.match(result.stderr, /line 7: expected \{"conduit"/);
    assert.doesNotMatch(result.stderr, /line [124]:/);
    assert.deepEqual(await display(queue), []);
  });

  test('values with =, commas, quotes, UTF-8 and spaces come back as given', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const values = [
      'a=b,c=d+e\\f"g<h>;#',
      'Grüße☃日本語🎉',
      'ou=x,dc=example\\,dc=test',
    ];
    const spaced = { value: '  two  spaces ', other: '{"json": [1]}' };
    const lines = [
      ...values.map((value) => `${SPECIAL} value=${value}`),
      JSON.stringify({ conduit: SPECIAL, arguments: spaced }),
      `  ${SPECIAL}\tvalue=tabbed  other=x  `,
    ];
    const results = await batch(queue, lines);
    const expected = [
      ...values.map((value) => ({ value })),
      spaced,
      { other: 'x', value: 'tabbed' },
    ];
    assert.deepEqual(
      results.map((each) => each.arguments),
      expected,
    );
    const shown = new Map(
      (await display(queue)).map((each) => [each.hash, each.arguments]),
    );
    for (const args of expected) {
      const hash = eventHash({ conduit: SPECIAL, arguments: args });
      assert.deepEqual(shown.get(hash), args);
    }
    assert.equal(shown.size, expected.length);
  });

  test('a line repeated in the batch is queued once and reported as already queued', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const results = await batch(queue, [
      `${ROLE_EXPANDER} username=amy role=staff`,
      `${ROLE_EXPANDER} username=bo`,
      `${ROLE_EXPANDER} role=staff username=amy`,
      JSON.stringify({ conduit: ROLE_EXPANDER, arguments: { username: 'bo' } }),
    ]);
    assert.deepEqual(
      results.map(({ line, added }) => ({ line, added })),
      [
        { line: 1, added: true },
        { line: 2, added: true },
        { line: 3, added: false },
        { line: 4, added: false },
      ],
    );
    assert.equal(results[2]?.hash, results[0]?.hash);
    assert.equal(results[3]?.hash, results[1]?.hash);
    assert.equal((await display(queue)).length, 2);
  });

  test('a file is read with comments, blank lines and CRLF skipped, lines counted', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const file = path.join(queue.folder, 'events.txt');
    const text =
      `# users to expand\r\n\r\n${ROLE_EXPANDER} username=amy\r\n` +
      `  # indented comment\n${ROLE_EXPANDER} username=bo`;
    await writeFile(file, text);
    const result = await queue.cli('--add-batch', file, '--json');
    assert.equal(result.code, 0, result.stderr);
    const events = JSON.parse(result.stdout) as BatchEvent[];
    assert.deepEqual(
      events.map(({ line, arguments: args }) => [line, args.username]),
      [
        [3, 'amy'],
        [5, 'bo'],
      ],
    );

    const missing = await queue.cli('--add-batch', `${file}.absent`);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*events\.txt\.absent/);
  });

  test('a JSON line with an unknown key, a value that is not a string or a repeated key is refused', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const lines = [
      `{"conduit": "${ROLE_EXPANDER}", "args": {"username": "bo"}}`,
      `{"conduit": "${ROLE_EXPANDER}", "arguments": {"username": 7}}`,
      `{"conduit": "${ROLE_EXPANDER}", "arguments": ["username=bo"]}`,
      `{"conduit": "${SPECIAL}", "arguments": {"value": "a", "value": "b"}}`,
      `{"conduit": "${SPECIAL}", "arguments": {"value": "a", "\\u0076alue": "b"}}`,
      `{"conduit": "${ROLE_EXPANDER}", "conduit": "${SPECIAL}"}`,
      `{"conduit": "${SPECIAL}", "arguments": {"value": "{\\"value\\": 1}", "other": "value"}}`,
      '{"arguments": {"username": "bo"}}',
    ];
    const result = await cliWithInput(
      queue,
      lines.join('\n'),
      '--add-batch',
      '-',
    );
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /nothing was added: 7 lines are not valid/);
    assert.match(result.stderr, /line 1: unknown key "args"/);
    assert.match(
      result.stderr,
      /line 2: .*argument "username" is not a string/,
    );
    assert.match(result.stderr, /line 3: .*"arguments" is not an object/);
    assert.match(result.stderr, /line 4: the key "value" is given twice/);
    assert.match(result.stderr, /line 5: the key "value" is given twice/);
    assert.match(result.stderr, /line 6: the key "conduit" is given twice/);
    assert.doesNotMatch(result.stderr, /line 7:/);
    assert.match(
      result.stderr,
      /line 8: expected \{"conduit".*"conduit" is not a string/,
    );
    assert.deepEqual(await display(queue), []);
  });

  test('--add-batch refuses --args and --wait', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    for (const extra of [['--args', 'username=amy'], ['--wait']]) {
      const result = await queue.cli('--add-batch', '-', ...extra);
      assert.equal(result.code, 2, extra.join(' '));
    }
  });
});

describe('EventQueue.addMany', () => {
  test('with one add in flight, events run in the order given', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const names = ['zed', 'amy', 'mo', 'kim', 'bo', 'al', 'ty', 'jo'];
    const api = await EventQueue.open(loadConfig(queue.configFile));
    t.after(() => api.close());
    const requests = names.map((username) => ({
      conduit: ROLE_EXPANDER,
      arguments: { username },
    }));
    const results = await api.addMany(requests, { inFlight: 1 });
    assert.ok(results.every((result) => result.added));
    const { events } = await api.list();
    assert.deepEqual(
      events.map((event) => event.arguments.username),
      names,
    );
  });

  test('a refused request throws with its index, and nothing is written', async (t) => {
    const queue = await QueueFixture.create(slapd, t, { conduits });
    const api = await EventQueue.open(loadConfig(queue.configFile));
    t.after(() => api.close());
    const requests = [
      { conduit: ROLE_EXPANDER, arguments: { username: 'amy' } },
      { conduit: ROLE_EXPANDER, arguments: { username: 'BAD' } },
    ];
    await assert.rejects(api.addMany(requests), (error) => {
      assert.ok(error instanceof RefusedBatchError);
      assert.equal(error.code, 'EQ_REFUSED');
      assert.deepEqual(
        error.refusals.map((each) => each.index),
        [1],
      );
      return true;
    });
    assert.deepEqual((await api.list()).events, []);
  });
});
