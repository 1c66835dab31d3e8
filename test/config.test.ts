/**
 * The configuration is checked before anything connects; each complaint
 * names the key, the value found and what was expected.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ConfigError, parseConfig, parseDuration } from '../agent/config.js';
import { AGENT, CLI } from './support/queue-fixture.js';

const minimal = `
ldap:
  url: ldap://127.0.0.1:389
conduits:
  Prometheus::Conduits::RoleExpander:
    command: [/usr/lib/prometheus/run-conduit, RoleExpander]
    arguments:
      username: '^[a-z][a-z0-9_-]{0,31}$'
`;

function problems(source: string): readonly string[] {
  try {
    parseConfig(source, 'test.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration', () => {
  test('fills in the documented defaults', () => {
    const config = parseConfig(minimal, 'test.yaml');
    assert.equal(
      config.ldap.queueBase,
      'ou=EventQueue,o=Prometheus,dc=inf,dc=ed,dc=ac,dc=uk',
    );
    assert.equal(config.agent.reconcileIntervalMs, 60_000);
    const conduit = config.conduits.get('Prometheus::Conduits::RoleExpander');
    assert.equal(conduit?.timeoutMs, 600_000);
    assert.equal(conduit?.arguments.get('username')?.test('juser'), true);
  });

  test('an argument pattern must match the whole value', () => {
    const config = parseConfig(
      minimal.replace("'^[a-z][a-z0-9_-]{0,31}$'", "'[a-z]+'"),
      'test.yaml',
    );
    const pattern = config.conduits
      .get('Prometheus::Conduits::RoleExpander')
      ?.arguments.get('username');
    assert.equal(pattern?.test('juser'), true);
    assert.equal(pattern?.test('juser; rm -rf /'), false);
  });

  test('names the key, the value and what was expected', () => {
    const found = problems(
      minimal
        .replace('ldap://127.0.0.1:389', 'http://example.org')
        .replace('conduits:', 'agent:\n  reconcileInterval: sixty\nconduits:')
        .replace("'^[a-z][a-z0-9_-]{0,31}$'", "'(['"),
    );
    assert.deepEqual(found, [
      'ldap.url: found "http://example.org", expected an LDAP URL such as ldap://127.0.0.1:389',
      'agent.reconcileInterval: found "sixty", expected a duration such as 500ms, 60s, 10m or 1h, at most 24d',
      'conduits.Prometheus::Conduits::RoleExpander.arguments.username: found "([", expected a regular expression (Invalid regular expression: /^(?:([)$/u: Unterminated character class)',
    ]);
  });

  test('refuses unknown keys, missing conduits and a half-configured bind', () => {
    assert.deepEqual(problems(`ldap:\n  url: ldap://h\n  colour: blue\n`), [
      'unknown key in ldap: colour',
      'conduits: found nothing, expected a map of conduit names to their settings',
    ]);
    assert.match(
      problems(minimal.replace('conduits:', '  bindDN: cn=x\nconduits:'))[0] ??
        '',
      /ldap.bindDN and ldap.passwordFile: expected both/,
    );
  });

  test('parses durations strictly', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10m'), 600_000);
    assert.equal(parseDuration('1.5h'), undefined);
    assert.equal(parseDuration('60'), undefined);
  });

  test('both commands refuse an invalid file with exit status 3 and the reasons', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'pe-config-'));
    const file = path.join(folder, 'config.yaml');
    await writeFile(file, minimal.replace('ldap://127.0.0.1:389', 'nope'));
    for (const command of [CLI, AGENT]) {
      const args = [
        command,
        '--config',
        file,
        ...(command === CLI ? ['--display'] : []),
      ];
      const error = await promisify(execFile)(process.execPath, args).then(
        () => assert.fail('accepted'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(error.code, 3);
      assert.match(
        error.stderr,
        /ldap\.url: found "nope", expected an LDAP URL/,
      );
    }
  });

  test('a missing file is named, and the environment variable is honoured', async () => {
    const env = {
      ...process.env,
      PROMETHEUS_EVENTQUEUE_CONFIG: '/nonexistent/eq.yaml',
    };
    const error = await promisify(execFile)(
      process.execPath,
      [CLI, '--display'],
      { env },
    ).then(
      () => assert.fail('accepted'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(error.code, 3);
    assert.match(
      error.stderr,
      /\/nonexistent\/eq\.yaml.*cannot read the file \(ENOENT\)/s,
    );
  });

  test('refuses durations past what a timer can hold and a queue base that is not a DN', () => {
    const found = problems(
      minimal
        .replace(
          '  url: ldap://127.0.0.1:389',
          '  url: ldap://127.0.0.1:389\n  queueBase: not a dn',
        )
        .replace('    arguments:', '    timeout: 30d\n    arguments:'),
    );
    assert.deepEqual(found, [
      'ldap.queueBase: found "not a dn", expected a distinguished name such as ou=EventQueue,dc=example',
      'conduits.Prometheus::Conduits::RoleExpander.timeout: found "30d", expected a duration such as 500ms, 60s, 10m or 1h, at most 24d',
    ]);
  });

  test('reports problems across keys together with the others', () => {
    const found = problems(
      minimal.replace('conduits:', '  bindDN: cn=x\nagnet: {}\nconduits:'),
    );
    assert.deepEqual(found, [
      'unknown key: agnet',
      'ldap.bindDN and ldap.passwordFile: expected both (a simple bind) or neither (an anonymous bind)',
    ]);
  });

  test('the agent refuses a log file in a missing folder and names the config for a missing secret', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'pe-config-'));
    const file = path.join(folder, 'config.yaml');
    const run = (source: string) =>
      writeFile(file, source).then(() =>
        promisify(execFile)(process.execPath, [AGENT, '--config', file]).then(
          () => assert.fail('accepted'),
          (error: { code: number; stderr: string }) => error,
        ),
      );
    const badLog = await run(
      `${minimal}agent:\n  logFile: ${folder}/missing/agent.log\n`,
    );
    assert.equal(badLog.code, 3);
    assert.match(
      badLog.stderr,
      /agent\.logFile: .* the folder .*\/missing does not exist/,
    );

    const noSecret = await run(
      minimal.replace(
        'conduits:',
        `  bindDN: cn=x\n  passwordFile: ${folder}/none.secret\nconduits:`,
      ),
    );
    assert.equal(noSecret.code, 3);
    assert.match(
      noSecret.stderr,
      new RegExp(`Configuration ${file} is not valid`),
    );
    assert.match(
      noSecret.stderr,
      /ldap\.passwordFile: cannot read .*none\.secret \(ENOENT\)/,
    );
  });
});
