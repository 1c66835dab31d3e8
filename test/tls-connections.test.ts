/**
 * Both connections over TLS against a real slapd whose certificate the
 * test made: the watch's (agent/protocol, StartTLS of its own) and the work
 * connection (ldapjs). The server requires TLS for every operation
 * (`security tls=1`), so an operation that succeeds went over TLS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseConfig, type LdapConfig } from '../agent/config.js';
import { Directory, DirectoryError } from '../agent/directory.js';
import {
  ConnectError,
  LdapConnection,
  LdapResultError,
  type ConnectOptions,
} from '../agent/protocol/index.js';
import { Slapd } from '../scripts/slapd.js';
import {
  makeCertificates,
  type TestCertificates,
} from './support/certificates.js';

const CONFIDENTIALITY_REQUIRED = 13;

let certificates: TestCertificates;
/** Requires TLS; its certificate names 127.0.0.1. */
let slapd: Slapd;
/** Its certificate, from the same CA, names another host. */
let wrongHost: Slapd;
/** Has no certificate at all. */
let plain: Slapd;

before(async () => {
  certificates = makeCertificates();
  const { caFile } = certificates;
  [slapd, wrongHost, plain] = await Promise.all([
    Slapd.start({
      tls: { caFile, ...certificates.server },
      requireTLS: true,
    }),
    Slapd.start({ tls: { caFile, ...certificates.wrongHost } }),
    Slapd.start(),
  ]);
});

after(async () => {
  const servers = [slapd, wrongHost, plain] as (Slapd | undefined)[];
  await Promise.all(servers.map((server) => server?.stop()));
  certificates.remove();
});

/** Protocol options trusting `caFile`, with StartTLS unless told. */
function watchOptions(caFile: string, startTLS = true): ConnectOptions {
  const { ca } = ldapConfig(slapd.url, `tls: { caFile: ${caFile} }`).tls;
  return {
    connectTimeoutMs: 5000,
    keepAliveMs: 60_000,
    startTLS,
    tls: ca === undefined ? {} : { ca },
  };
}

/** The ldap section of a configuration file, as the commands load it. */
function ldapConfig(url: string, ...lines: string[]): LdapConfig {
  const source = [
    'ldap:',
    `  url: ${url}`,
    `  bindDN: ${slapd.rootDN}`,
    `  passwordFile: ${slapd.rootPasswordFile}`,
    ...lines.map((line) => `  ${line}`),
    'conduits: {}',
  ].join('\n');
  return parseConfig(source, 'test.yaml').ldap;
}

async function connectDirectory(config: LdapConfig): Promise<Directory> {
  return Directory.connect(config, slapd.rootPassword);
}

describe('the watch connection (agent/protocol)', () => {
  test('a plain bind is refused by this server: it requires TLS', async () => {
    const connection = await LdapConnection.connect(
      slapd.url,
      watchOptions(certificates.caFile, false),
    );
    await assert.rejects(
      connection.bind(slapd.rootDN, slapd.rootPassword),
      (error: unknown) =>
        error instanceof LdapResultError &&
        error.resultCode === CONFIDENTIALITY_REQUIRED,
    );
    await connection.close();
  });

  test('binds and searches after StartTLS', async () => {
    const connection = await LdapConnection.connect(
      slapd.url,
      watchOptions(certificates.caFile),
    );
    await connection.bind(slapd.rootDN, slapd.rootPassword);
    const dns: string[] = [];
    const search = connection.search(
      { baseObject: slapd.suffix, scope: 'baseObject', filter: '(o=*)' },
      (event) => {
        if (event.protocolOp === 'SearchResultEntry') dns.push(event.dn);
      },
    );
    assert.equal((await search.done).resultCode, 0);
    assert.deepEqual(dns, [slapd.suffix]);
    await connection.close();
  });

  test('binds over ldaps://', async () => {
    const connection = await LdapConnection.connect(
      slapd.ldapsUrl,
      watchOptions(certificates.caFile, false),
    );
    await connection.bind(slapd.rootDN, slapd.rootPassword);
    await connection.close();
  });

  test('refuses a certificate that the given CA did not sign', async () => {
    for (const [url, startTLS] of [
      [slapd.url, true],
      [slapd.ldapsUrl, false],
    ] as const) {
      await assert.rejects(
        LdapConnection.connect(
          url,
          watchOptions(certificates.otherCaFile, startTLS),
        ),
        (error: unknown) =>
          error instanceof ConnectError &&
          /certificate/.test(error.message) &&
          error.message.includes(url),
        url,
      );
    }
  });

  test('refuses a certificate for another host name after StartTLS', async () => {
    await assert.rejects(
      LdapConnection.connect(wrongHost.url, watchOptions(certificates.caFile)),
      (error: unknown) =>
        error instanceof ConnectError &&
        /Cannot start TLS on .*IP: 127\.0\.0\.1 is not in the cert's list/.test(
          error.message,
        ),
    );
  });

  test('accepts any certificate when rejectUnauthorized is false', async () => {
    const options = watchOptions(certificates.otherCaFile);
    const connection = await LdapConnection.connect(wrongHost.url, {
      ...options,
      tls: { ...options.tls, rejectUnauthorized: false },
    });
    await connection.bind(wrongHost.rootDN, wrongHost.rootPassword);
    await connection.close();
  });

  test('a server without a certificate refuses StartTLS with its result', async () => {
    await assert.rejects(
      LdapConnection.connect(plain.url, watchOptions(certificates.caFile)),
      (error: unknown) => {
        assert.ok(error instanceof LdapResultError, String(error));
        assert.notEqual(error.resultCode, 0);
        assert.match(error.message, /^Cannot start TLS on ldap:\/\/127\.0\.0/);
        assert.match(error.message, /or use ldaps:\/\//);
        return true;
      },
    );
  });
});

describe('the work connection (ldapjs)', () => {
  const caFile = () => `tls: { caFile: ${certificates.caFile} }`;

  test('a plain bind is refused by this server: it requires TLS', async () => {
    await assert.rejects(
      connectDirectory(ldapConfig(slapd.url)),
      (error: unknown) =>
        error instanceof DirectoryError &&
        error.resultCode === CONFIDENTIALITY_REQUIRED,
    );
  });

  test('binds and reads after StartTLS', async () => {
    const directory = await connectDirectory(
      ldapConfig(slapd.url, 'startTLS: true', caFile()),
    );
    assert.ok(await directory.read(slapd.suffix, ['o']));
    await directory.close();
  });

  test('binds and reads over ldaps://', async () => {
    const directory = await connectDirectory(
      ldapConfig(slapd.ldapsUrl, caFile()),
    );
    assert.ok(await directory.read(slapd.suffix, ['o']));
    await directory.close();
  });

  test('refuses a certificate that the configured CA did not sign', async () => {
    const other = `tls: { caFile: ${certificates.otherCaFile} }`;
    for (const config of [
      ldapConfig(slapd.url, 'startTLS: true', other),
      ldapConfig(slapd.ldapsUrl, other),
    ]) {
      await assert.rejects(connectDirectory(config), (error: unknown) => {
        assert.ok(error instanceof DirectoryError);
        assert.equal(error.resultCode, undefined);
        assert.match(error.message, /certificate/);
        assert.ok(error.message.includes(certificates.otherCaFile));
        return true;
      });
    }
  });

  test('refuses a certificate for another host name', async () => {
    const host = /IP: 127\.0\.0\.1 is not in the cert's list/;
    await assert.rejects(
      Directory.connect(
        ldapConfig(wrongHost.url, 'startTLS: true', caFile()),
        wrongHost.rootPassword,
      ),
      (error: unknown) =>
        error instanceof DirectoryError && host.test(`${error.message}`),
    );
    await assert.rejects(
      Directory.connect(
        ldapConfig(wrongHost.ldapsUrl, caFile()),
        wrongHost.rootPassword,
      ),
      (error: unknown) =>
        error instanceof DirectoryError && host.test(error.message),
    );
  });

  test('a server without a certificate refuses StartTLS with its result', async () => {
    await assert.rejects(
      Directory.connect(
        ldapConfig(plain.url, 'startTLS: true', caFile()),
        plain.rootPassword,
      ),
      (error: unknown) => {
        assert.ok(error instanceof DirectoryError);
        assert.notEqual(error.resultCode, undefined);
        assert.match(error.message, /^Cannot start TLS on /);
        return true;
      },
    );
  });
});
