/**
 * The CLI's connection options against a real slapd, as the OpenLDAP
 * tools take them: -H, -D, -y, -b over the configuration file, then
 * LDAPURI and LDAPBASE, then ldap.conf ($LDAPCONF).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_CONFIG_FILE } from '../agent/config.js';
import { Slapd } from '../scripts/slapd.js';
import {
  CLI,
  QueueFixture,
  type CommandResult,
} from './support/queue-fixture.js';

let slapd: Slapd;
before(async () => (slapd = await Slapd.start()));
after(() => slapd.stop());

/** Runs the CLI with exactly this environment (plus PATH). */
function cli(
  env: Record<string, string>,
  ...args: string[]
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const options = { env: { PATH: process.env.PATH ?? '', ...env } };
    execFile(process.execPath, [CLI, ...args], options, (error, out, err) => {
      const code = error === null ? 0 : (error.code as number | null);
      resolve({ code, stdout: out, stderr: err });
    });
  });
}

/** A configuration path that does not exist, so that none is read. */
function missing(queue: QueueFixture): string {
  return path.join(queue.folder, 'absent.yaml');
}

const bind = () => ['-D', slapd.rootDN, '-y', slapd.rootPasswordFile];

describe('prometheus-eventqueue connection options', () => {
  test('-H, -D, -y and -b work without a configuration file', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('juser');
    const env = { LDAPCONF: missing(queue) };
    const result = await cli(
      env,
      '-H',
      slapd.url,
      ...bind(),
      '-b',
      queue.base,
      '--display',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as unknown[]).length, 1);
  });

  test('ldap.conf named by LDAPCONF gives URI and BASE', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('juser');
    const conf = path.join(queue.folder, 'ldap.conf');
    await writeFile(
      conf,
      `# a comment\nURI ${slapd.url} ldap://unused.invalid\nBASE ${queue.base}\n`,
    );
    const result = await cli({ LDAPCONF: conf }, ...bind(), '--display');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /juser/);
  });

  test('LDAPURI and LDAPBASE come before ldap.conf', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('juser');
    const conf = path.join(queue.folder, 'ldap.conf');
    await writeFile(conf, 'URI ldap://127.0.0.1:1\nBASE ou=Nowhere,dc=x\n');
    const env = { LDAPCONF: conf, LDAPURI: slapd.url, LDAPBASE: queue.base };
    const result = await cli(env, ...bind(), '--display');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /juser/);
  });

  test('-b overrides the configuration file, which overrides LDAPBASE', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    await queue.addUser('juser');
    const env = { LDAPCONF: missing(queue), LDAPBASE: 'ou=Nowhere,dc=x' };
    const config = ['--config', queue.configFile];
    const fromFile = await cli(env, ...config, '--display');
    assert.match(fromFile.stdout, /juser/, fromFile.stderr);
    const other = `ou=Nowhere,${slapd.suffix}`;
    const overridden = await cli(env, ...config, '-b', other, '--display');
    assert.equal(overridden.code, 5);
    assert.match(overridden.stderr, /Nowhere/);
  });

  test('--add without a configuration file asks for the conduit list', async (t) => {
    if (existsSync(DEFAULT_CONFIG_FILE)) {
      return t.skip(`${DEFAULT_CONFIG_FILE} exists on this machine`);
    }
    const queue = await QueueFixture.create(slapd, t);
    const env = {
      LDAPCONF: missing(queue),
      PROMETHEUS_EVENTQUEUE_CONFIG: missing(queue),
    };
    const named = await cli(env, '-H', slapd.url, '--display');
    assert.equal(named.code, 3, 'a named configuration must exist');
    const result = await cli(
      { LDAPCONF: missing(queue) },
      '-H',
      slapd.url,
      ...bind(),
      '-b',
      queue.base,
      '--add',
      'X',
    );
    assert.equal(result.code, 3);
    assert.match(result.stderr, /--add needs the conduit list/);
  });

  test('an empty password file, or an empty first line, is a configuration error', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const env = { LDAPCONF: missing(queue) };
    for (const text of ['', '\nsecret\n']) {
      const file = path.join(queue.folder, 'empty-password');
      await writeFile(file, text);
      const result = await cli(
        env,
        '-H',
        slapd.url,
        '-D',
        slapd.rootDN,
        '-y',
        file,
        '-b',
        queue.base,
        '--display',
      );
      assert.equal(result.code, 3, JSON.stringify(text));
      assert.match(
        result.stderr,
        /ldap\.passwordFile: .*empty-password is empty/,
      );
    }
  });

  test('without a URI from anywhere, the missing file is the error', async (t) => {
    const queue = await QueueFixture.create(slapd, t);
    const env = {
      LDAPCONF: missing(queue),
      PROMETHEUS_EVENTQUEUE_CONFIG: missing(queue),
    };
    const result = await cli(env, '--display');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /cannot read the file/);
  });
});
