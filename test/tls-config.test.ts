/**
 * The TLS keys of the ldap section: their defaults, the CA file read at
 * load time, and the refusal to send a password unencrypted to another
 * host. Nothing here connects: 192.0.2.1 (TEST-NET-1) appears only in
 * configuration that is refused before any connection.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ConfigError, isLoopback, parseConfig } from '../agent/config.js';
import {
  makeCertificates,
  type TestCertificates,
} from './support/certificates.js';
import { AGENT, CLI } from './support/queue-fixture.js';

const CONDUITS = `conduits:
  Prometheus::Conduits::RoleExpander:
    command: [/bin/true]
`;

/** A configuration with these lines under `ldap:`. */
function withLdap(...lines: string[]): string {
  return ['ldap:', ...lines.map((line) => `  ${line}`), CONDUITS].join('\n');
}

const BIND = ['bindDN: cn=agent,dc=example', 'passwordFile: /dev/null'];

function problems(source: string): readonly string[] {
  try {
    parseConfig(source, 'test.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

let certificates: TestCertificates;
before(() => (certificates = makeCertificates()));
after(() => certificates.remove());

describe('ldap TLS configuration', () => {
  test('defaults to no StartTLS, the system CA store, verification on and no plaintext password', () => {
    const config = parseConfig(withLdap('url: ldap://127.0.0.1'), 't.yaml');
    assert.equal(config.ldap.startTLS, false);
    assert.equal(config.ldap.tls.caFile, undefined);
    assert.equal(config.ldap.tls.ca, undefined);
    assert.equal(config.ldap.tls.verify, true);
    assert.equal(config.ldap.allowPlaintextPassword, false);
  });

  test('reads the CA file when the configuration is loaded', () => {
    const config = parseConfig(
      withLdap(
        'url: ldap://127.0.0.1',
        'startTLS: true',
        `tls: { caFile: ${certificates.caFile}, verify: false }`,
      ),
      't.yaml',
    );
    assert.equal(config.ldap.startTLS, true);
    assert.equal(config.ldap.tls.caFile, certificates.caFile);
    assert.match(String(config.ldap.tls.ca), /BEGIN CERTIFICATE/);
    assert.equal(config.ldap.tls.verify, false);
  });

  test('names an unreadable CA file, and one that holds no certificate', () => {
    assert.deepEqual(
      problems(
        withLdap('url: ldaps://127.0.0.1', 'tls: { caFile: /nonexistent.pem }'),
      ),
      ['ldap.tls.caFile: cannot read /nonexistent.pem (ENOENT)'],
    );
    const key = certificates.server.keyFile;
    assert.deepEqual(
      problems(withLdap('url: ldaps://127.0.0.1', `tls: { caFile: ${key} }`)),
      [
        `ldap.tls.caFile: found ${JSON.stringify(key)}, expected a PEM ` +
          'file holding at least one -----BEGIN CERTIFICATE----- block',
      ],
    );
  });

  test('checks the types of the keys and refuses unknown ones', () => {
    assert.deepEqual(
      problems(
        withLdap(
          'url: ldap://127.0.0.1',
          'startTLS: "yes"',
          'tls: { verify: 0, ca: x }',
          'allowPlaintextPassword: maybe',
        ),
      ),
      [
        'ldap.startTLS: found "yes", expected true or false',
        'ldap.tls.verify: found 0, expected true or false',
        'unknown key in ldap.tls: ca',
        'ldap.allowPlaintextPassword: found "maybe", expected true or false',
      ],
    );
  });

  test('refuses StartTLS on an ldaps:// URL', () => {
    const [problem] = problems(
      withLdap('url: ldaps://127.0.0.1', 'startTLS: true'),
    );
    assert.match(problem ?? '', /^ldap\.startTLS: found true with ldap\.url/);
  });

  test('refuses a password sent unencrypted to a host that is not loopback', () => {
    const found = problems(withLdap('url: ldap://192.0.2.1:389', ...BIND));
    assert.equal(found.length, 1);
    const [problem] = found;
    assert.match(problem ?? '', /^ldap\.url, ldap\.startTLS: found /);
    assert.match(problem ?? '', /"ldap:\/\/192\.0\.2\.1:389"/);
    assert.match(problem ?? '', /ldap\.allowPlaintextPassword: true/);
  });

  test('allows the password over ldaps://, StartTLS, loopback, or when allowed', () => {
    for (const lines of [
      ['url: ldaps://192.0.2.1'],
      ['url: ldap://192.0.2.1', 'startTLS: true'],
      ['url: ldap://192.0.2.1', 'allowPlaintextPassword: true'],
      ['url: ldap://127.0.0.53:389'],
      ['url: ldap://localhost'],
      ['url: ldap://[::1]:389'],
    ]) {
      assert.deepEqual(problems(withLdap(...lines, ...BIND)), [], `${lines}`);
    }
    assert.deepEqual(problems(withLdap('url: ldap://192.0.2.1')), []);
  });

  test('knows which hosts are loopback', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', 'LOCALHOST']) {
      assert.equal(isLoopback(host), true, host);
    }
    for (const host of ['192.0.2.1', '128.0.0.1', '::2', 'localhost.test']) {
      assert.equal(isLoopback(host), false, host);
    }
    assert.equal(isLoopback('::ffff:127.0.0.1'), true);
    assert.equal(isLoopback('0:0:0:0:0:0:0:1'), true);
  });

  test('both commands exit 3 naming the keys before connecting', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'pe-tls-config-'));
    const file = path.join(folder, 'config.yaml');
    await writeFile(file, withLdap('url: ldap://192.0.2.1', ...BIND));
    for (const args of [[AGENT], [CLI, '--display']]) {
      const all = [args[0] as string, '--config', file, ...args.slice(1)];
      const error = await promisify(execFile)(process.execPath, all, {
        timeout: 10_000,
      }).then(
        () => assert.fail('accepted'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(error.code, 3, error.stderr);
      assert.match(error.stderr, /ldap\.url, ldap\.startTLS: found/);
    }
  });
});
