/**
 * The agent and the CLI over TLS, end to end, against a slapd with a
 * certificate the test made and that refuses every operation outside TLS
 * (`security tls=1`): an event that runs proves that the watch and the
 * work connection both used TLS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Slapd } from '../scripts/slapd.js';
import {
  makeCertificates,
  type TestCertificates,
} from './support/certificates.js';
import {
  QueueFixture,
  ROLE_EXPANDER,
  type QueueServer,
  WATCHING,
} from './support/queue-fixture.js';

const DIRECTORY_ERROR = 5;

let certificates: TestCertificates;
let slapd: Slapd;

before(async () => {
  certificates = makeCertificates();
  slapd = await Slapd.start({
    tls: { caFile: certificates.caFile, ...certificates.server },
    requireTLS: true,
  });
});

after(async () => {
  await slapd?.stop();
  certificates.remove();
});

/** The server, as the queue fixture sees it, reached at `url`. */
function at(url: string): QueueServer {
  return {
    url,
    suffix: slapd.suffix,
    rootDN: slapd.rootDN,
    rootPasswordFile: slapd.rootPasswordFile,
    ldapAdd: (ldif) => slapd.ldapAdd(ldif),
    ldapSearch: (base, filter, ...attributes) =>
      slapd.ldapSearch(base, filter, ...attributes),
  };
}

const trustCa = () => `  tls: { caFile: ${certificates.caFile} }`;

describe('the agent and the CLI over TLS', () => {
  test('the agent over ldaps:// with ldap.tls.caFile runs an event', async (t) => {
    const queue = await QueueFixture.create(at(slapd.ldapsUrl), t, {
      ldap: trustCa(),
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);

    await queue.addUser('juser');
    const [run] = await queue.waitForRuns(1);
    assert.deepEqual(run?.argv, ['--username', 'juser']);
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
  });

  test('the agent over ldap:// with StartTLS runs an event on a server that refuses plaintext', async (t) => {
    const queue = await QueueFixture.create(at(slapd.url), t, {
      ldap: `  startTLS: true\n${trustCa()}`,
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);

    await queue.addUser('juser');
    await queue.waitForRuns(1);
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);
    assert.doesNotMatch(agent.stdout, /ldap\.tls\.verify|certificate/);
  });

  test('the CLI honours StartTLS, and without it this server refuses', async (t) => {
    const queue = await QueueFixture.create(at(slapd.url), t, {
      ldap: `  startTLS: true\n${trustCa()}`,
    });
    const added = await queue.cli(
      ...['--add', ROLE_EXPANDER, '--args', 'username=amy', '--json'],
    );
    assert.equal(added.code, 0, added.stderr);
    const display = await queue.cli('--display', '--json');
    assert.equal(display.code, 0, display.stderr);
    const events = JSON.parse(display.stdout) as { arguments: object }[];
    assert.deepEqual(
      events.map((event) => event.arguments),
      [{ username: 'amy' }],
    );

    const plain = await QueueFixture.create(at(slapd.url), t);
    const refused = await plain.cli('--display');
    assert.equal(refused.code, DIRECTORY_ERROR);
    assert.match(refused.stderr, /confidentiality required \(13\)/);
  });

  test('a certificate the configured CA did not sign stops the agent at start with status 5', async (t) => {
    for (const ldap of [
      `  startTLS: true\n  tls: { caFile: ${certificates.otherCaFile} }`,
      '  startTLS: true',
    ]) {
      const queue = await QueueFixture.create(at(slapd.url), t, { ldap });
      const agent = queue.startAgent(t);
      assert.equal(await agent.exited, DIRECTORY_ERROR, agent.stdout);
      assert.match(agent.stdout, /Cannot start TLS on ldap:\/\/127\.0\.0\.1/);
      assert.match(agent.stdout, /certificate/);

      const cli = await queue.cli('--display');
      assert.equal(cli.code, DIRECTORY_ERROR);
      assert.match(cli.stderr, /The server's certificate must be signed/);
    }
    const queue = await QueueFixture.create(at(slapd.ldapsUrl), t, {
      ldap: `  tls: { caFile: ${certificates.otherCaFile} }`,
    });
    const cli = await queue.cli('--display');
    assert.equal(cli.code, DIRECTORY_ERROR);
    assert.ok(cli.stderr.includes(certificates.otherCaFile), cli.stderr);
  });

  test('ldap.tls.verify: false connects without checking, and says so loudly', async (t) => {
    const queue = await QueueFixture.create(at(slapd.url), t, {
      ldap: '  startTLS: true\n  tls: { verify: false }',
    });
    const agent = queue.startAgent(t);
    await agent.waitForOutput(WATCHING);
    assert.match(
      agent.stdout,
      /warn: ldap\.tls\.verify is false: the certificate of ldap:\/\/127/,
    );
    await queue.addUser('juser');
    await queue.waitUntilEmpty();
    assert.equal(await agent.stop(), 0);

    const cli = await queue.cli('--display');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /Warning: ldap\.tls\.verify is false/);
  });
});
