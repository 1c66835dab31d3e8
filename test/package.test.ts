/**
 * The npm package: `npm pack` holds what an installation needs and nothing
 * of the build, and the tarball installed with `npm install -g` (into a
 * temporary prefix) provides both commands, the schema, the unit and the
 * man pages. Needs the npm registry for the dependencies.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const manifest = (await import(path.join(root, 'package.json'), {
  with: { type: 'json' },
})) as { default: { name: string; version: string } };
const { name, version } = manifest.default;

let temp: string;
let tarball: string;
let files: string[];

before(async () => {
  temp = await mkdtemp(path.join(os.tmpdir(), 'pe-package-'));
  // npm test has just built dist/ (and the man pages): pack it as it is.
  const packed = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', temp],
    { cwd: root },
  );
  const [result] = JSON.parse(packed.stdout) as {
    filename: string;
    files: { path: string }[];
  }[];
  assert.ok(result !== undefined);
  tarball = path.join(temp, result.filename);
  files = result.files.map((file) => file.path);
});

after(() => rm(temp, { recursive: true, force: true }));

describe('npm pack', () => {
  test('ships the compiled commands, not the tests or benchmarks', () => {
    assert.ok(files.includes('dist/agent/main.js'));
    assert.ok(files.includes('dist/cli/main.js'));
    assert.ok(files.includes('dist/agent/systemd.js'));
    const build = files.filter((file) =>
      /^(dist\/(test|bench|scripts)|agent|cli|test)\//.test(file),
    );
    assert.deepEqual(build, []);
  });

  test('ships the schema, the unit, the man pages and the completion', () => {
    for (const file of [
      'schema/prometheus-eventqueue.ldif',
      'schema/prometheus-eventqueue.schema',
      'schema/389ds/99prometheus-eventqueue.ldif',
      'systemd/prometheus-eventqueue-agent.service',
      'dist/man/prometheus-eventqueue.1',
      'dist/man/prometheus-eventqueue-agent.1',
      'dist/completion/prometheus-eventqueue',
    ]) {
      assert.ok(files.includes(file), `${file} is not in the tarball`);
    }
  });
});

describe('npm install -g of the tarball', () => {
  let prefix: string;
  before(async () => {
    prefix = path.join(temp, 'prefix');
    // A fresh cache would refetch everything; the user's cache is only read
    // and added to. No scripts of ours run: the tarball ships dist/.
    await run(
      'npm',
      ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball],
      { timeout: 300_000 },
    );
  });

  for (const command of [name, `${name}-agent`]) {
    test(`${command} answers --help and --version`, async () => {
      const bin = path.join(prefix, 'bin', command);
      const help = await run(bin, ['--help']);
      assert.match(help.stdout, new RegExp(`^Usage: ${command} `));
      const shown = await run(bin, ['--version']);
      assert.equal(shown.stdout.trim(), version);
    });

    test(`${command}(1) is installed`, () => {
      const page = path.join(prefix, 'share/man/man1', `${command}.1`);
      assert.ok(existsSync(page), `${page} is missing`);
    });
  }

  test('the installed package holds the schema and the unit', () => {
    const installed = path.join(prefix, 'lib/node_modules', name);
    for (const file of [
      'schema/prometheus-eventqueue.ldif',
      'schema/prometheus-eventqueue.schema',
      'systemd/prometheus-eventqueue-agent.service',
      'dist/completion/prometheus-eventqueue',
    ]) {
      assert.ok(existsSync(path.join(installed, file)), `${file} missing`);
    }
    assert.equal(existsSync(path.join(installed, 'dist/test')), false);
  });
});
