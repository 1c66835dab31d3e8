/**
 * The shipped OpenLDAP access rules (schema/acl/openldap-acl.conf) on a
 * real slapd: operators add events, nobody else does; only the agent
 * modifies, moves and deletes them; the agent, bound as its own identity,
 * runs an operator's event end to end. The cn=config form carries the same
 * rules.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot, Slapd } from '../scripts/slapd.js';
import {
  AgentProcess,
  CLI,
  RECORDER,
  ROLE_EXPANDER,
  waitFor,
  type CommandResult,
} from './support/queue-fixture.js';

const SHIPPED_SUFFIX = 'dc=inf,dc=ed,dc=ac,dc=uk';
const SUFFIX = 'dc=example,dc=test';
const QUEUE = `ou=EventQueue,o=Prometheus,${SUFFIX}`;
const AGENT = `cn=eventqueue,ou=Services,${SUFFIX}`;
const OPERATORS = `cn=eventqueue-operators,ou=Groups,${SUFFIX}`;
const MEMBER = `cn=member,ou=People,${SUFFIX}`;
const STRANGER = `cn=stranger,ou=People,${SUFFIX}`;
const INSUFFICIENT_ACCESS = 50;

/** A bind identity: its DN and a file holding its password. */
interface Identity {
  readonly dn: string;
  readonly passwordFile: string;
}

let slapd: Slapd;
let folder: string;
const identities = new Map<string, Identity>();

before(async () => {
  slapd = await Slapd.start({
    suffix: SUFFIX,
    databaseConfig: [
      await shippedRules(),
      // The site's own rules, after the queue's.
      'access to attrs=userPassword by anonymous auth by * none',
      'access to * by * read',
    ].join('\n'),
  });
  folder = await mkdtemp(path.join(tmpdir(), 'pe-acl-'));
  await slapd.ldapAdd(directoryLdif());
  for (const dn of [AGENT, MEMBER, STRANGER]) {
    const passwordFile = path.join(folder, `${dn.split(',')[0]}.secret`);
    await writeFile(passwordFile, passwordOf(dn), { mode: 0o600 });
    identities.set(dn, { dn, passwordFile });
  }
});
after(async () => {
  await slapd?.stop();
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

/** The shipped slapd.conf lines, comments dropped, for the test suffix. */
async function shippedRules(): Promise<string> {
  const file = path.join(projectRoot, 'schema/acl/openldap-acl.conf');
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n')
    .replaceAll(SHIPPED_SUFFIX, SUFFIX);
}

function passwordOf(dn: string): string {
  return `pw-${dn.split(',')[0]?.slice(3)}-4711`;
}

/** The tree the rules name, with an operator, a stranger and the agent. */
function directoryLdif(): string {
  const person = (dn: string) => [
    `dn: ${dn}`,
    'objectClass: person',
    `cn: ${dn.split(',')[0]?.slice(3)}`,
    'sn: test',
    `userPassword: ${passwordOf(dn)}`,
  ];
  const entries = [
    [
      `dn: o=Prometheus,${SUFFIX}`,
      'objectClass: organization',
      'o: Prometheus',
    ],
    [`dn: ${QUEUE}`, 'objectClass: organizationalUnit', 'ou: EventQueue'],
    // Created here so that a move into them is refused for access, not
    // for a missing parent; the agent finds them at start.
    [
      `dn: ou=Running,${QUEUE}`,
      'objectClass: organizationalUnit',
      'ou: Running',
    ],
    [`dn: ou=Failed,${QUEUE}`, 'objectClass: organizationalUnit', 'ou: Failed'],
    ...['Services', 'Groups', 'People'].map((ou) => [
      `dn: ou=${ou},${SUFFIX}`,
      'objectClass: organizationalUnit',
      `ou: ${ou}`,
    ]),
    person(AGENT),
    person(MEMBER),
    person(STRANGER),
    [
      `dn: ${OPERATORS}`,
      'objectClass: groupOfNames',
      'cn: eventqueue-operators',
      `member: ${MEMBER}`,
    ],
  ];
  return entries.map((lines) => [...lines, ''].join('\n')).join('\n');
}

/** Runs an ldap-utils tool bound as `who`; its exit status is the result. */
function ldapTool(
  who: string,
  tool: string,
  args: string[],
  input?: string,
): Promise<CommandResult> {
  const identity = identities.get(who) as Identity;
  const bind = ['-x', '-H', slapd.url, '-D', who, '-y', identity.passwordFile];
  return new Promise((resolve) => {
    const child = execFile(
      tool,
      [...bind, ...args],
      (error, stdout, stderr) => {
        const code = error === null ? 0 : (error.code as number | null);
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

function eventLdif(rdn: string, username: string): string {
  return [
    `dn: ${rdn},${QUEUE}`,
    'objectClass: prometheusEvent',
    `eventConduit: ${ROLE_EXPANDER}`,
    `eventArgument: username=${username}`,
    '',
  ].join('\n');
}

/** A configuration bound as `who`, recording runs under `runs`. */
async function configFor(who: string, runs: string): Promise<string> {
  const identity = identities.get(who) as Identity;
  const file = path.join(folder, `${who.split(',')[0]}.yaml`);
  await writeFile(
    file,
    [
      'ldap:',
      `  url: ${slapd.url}`,
      `  bindDN: ${who}`,
      `  passwordFile: ${identity.passwordFile}`,
      `  queueBase: ${QUEUE}`,
      'agent:',
      '  reconcileInterval: 1h',
      `  stateDirectory: ${folder}/state`,
      `  logFile: ${folder}/agent.log`,
      '  logLevel: debug',
      'conduits:',
      `  ${ROLE_EXPANDER}:`,
      `    command: [${RECORDER}, ${runs}]`,
      '    arguments:',
      `      username: '^[a-z][a-z0-9_-]{0,31}$'`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

function cli(config: string, ...args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    const all = [CLI, '--config', config, ...args];
    execFile(process.execPath, all, (error, stdout, stderr) => {
      const code = error === null ? 0 : (error.code as number | null);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertRefused(result: CommandResult, what: string): void {
  assert.equal(result.code, INSUFFICIENT_ACCESS, `${what}: ${result.stderr}`);
  assert.match(result.stderr, /Insufficient access \(50\)/, what);
}

describe('the shipped OpenLDAP access rules', () => {
  test('an operator adds an event with ldapadd', async () => {
    const added = await ldapTool(
      MEMBER,
      'ldapadd',
      [],
      eventLdif('cn=by-member', 'amy'),
    );
    assert.equal(added.code, 0, added.stderr);
    await slapd.ldapDelete(`cn=by-member,${QUEUE}`);
  });

  test('someone outside the operators cannot add an event, nor read the queue', async () => {
    const added = await ldapTool(
      STRANGER,
      'ldapadd',
      [],
      eventLdif('cn=by-stranger', 'bob'),
    );
    assertRefused(added, 'add by a non-member');

    await slapd.ldapAdd(eventLdif('cn=hidden', 'cat'));
    const read = await ldapTool(STRANGER, 'ldapsearch', [
      '-LLL',
      '-b',
      QUEUE,
      '(objectClass=*)',
    ]);
    assert.doesNotMatch(read.stdout, /hidden|eventConduit/);
    const member = await ldapTool(MEMBER, 'ldapsearch', [
      '-LLL',
      '-b',
      QUEUE,
      '(cn=hidden)',
      'eventArgument',
    ]);
    assert.match(member.stdout, /eventArgument: username=cat/);
    await slapd.ldapDelete(`cn=hidden,${QUEUE}`);
  });

  test('an operator cannot forge a claim, move, delete or add under Running', async () => {
    await slapd.ldapAdd(eventLdif('cn=target', 'dan'));
    const dn = `cn=target,${QUEUE}`;
    const modify = (type: string, value: string) =>
      ldapTool(
        MEMBER,
        'ldapmodify',
        [],
        `dn: ${dn}\nchangetype: modify\nreplace: ${type}\n${type}: ${value}\n`,
      );
    assertRefused(await modify('eventClaimedBy', 'forger:1'), 'eventClaimedBy');
    assertRefused(
      await modify('eventClaimExpires', '20991231000000Z'),
      'eventClaimExpires',
    );
    assertRefused(await modify('eventAttempts', '9'), 'eventAttempts');
    assertRefused(await modify('eventLastError', 'x'), 'eventLastError');
    assertRefused(
      await modify('eventNotBefore', '20991231000000Z'),
      'eventNotBefore',
    );
    assertRefused(
      await modify('eventArgument', 'username=eve'),
      'eventArgument',
    );
    for (const area of ['Running', 'Failed']) {
      const moved = await ldapTool(
        MEMBER,
        'ldapmodify',
        [],
        `dn: ${dn}\nchangetype: modrdn\nnewrdn: cn=target\n` +
          `deleteoldrdn: 0\nnewsuperior: ou=${area},${QUEUE}\n`,
      );
      assertRefused(moved, `move into ou=${area}`);
    }
    assertRefused(await ldapTool(MEMBER, 'ldapdelete', [dn]), 'delete');
    assertRefused(
      await ldapTool(
        MEMBER,
        'ldapadd',
        [],
        eventLdif('cn=forged,ou=Running', 'eve'),
      ),
      'add under ou=Running',
    );
    assertRefused(
      await ldapTool(
        MEMBER,
        'ldapadd',
        [],
        `dn: ou=Other,${QUEUE}\nobjectClass: organizationalUnit\nou: Other\n`,
      ),
      'add of an entry that is not an event',
    );
    const entry = await slapd.ldapSearch(dn, '(objectClass=*)');
    assert.doesNotMatch(entry, /eventClaimedBy|eventAttempts/);
    await slapd.ldapDelete(dn);
  });

  test("the agent, bound as its own identity, runs an operator's events end to end", async (t) => {
    const runs = path.join(folder, 'runs');
    await mkdir(runs, { recursive: true });
    const agent = new AgentProcess(await configFor(AGENT, runs));
    t.after(() => agent.kill());
    await agent.waitForOutput('Watching the queue');

    const operator = await configFor(MEMBER, runs);
    const added = await cli(
      operator,
      '--add',
      ROLE_EXPANDER,
      '--args',
      'username=fay',
    );
    assert.equal(added.code, 0, added.stderr);
    const byLdapadd = await ldapTool(
      MEMBER,
      'ldapadd',
      [],
      eventLdif('cn=by-hand', 'gus'),
    );
    assert.equal(byLdapadd.code, 0, byLdapadd.stderr);

    const argv = await waitFor(async () => {
      const found = await recordedRuns(runs);
      return found.length >= 2 ? found : undefined;
    }, 10_000);
    assert.deepEqual(argv, [
      ['--username', 'fay'],
      ['--username', 'gus'],
    ]);
    await waitFor(async () => {
      const left = await slapd.ldapSearch(
        QUEUE,
        '(objectClass=prometheusEvent)',
      );
      return left === '' ? true : undefined;
    }, 10_000);
    assert.equal(await agent.stop(), 0, agent.stdout);
    assert.doesNotMatch(agent.stdout, /Insufficient access|error:/);

    // The operator's CLI may read the queue but not delete from it.
    const shown = await cli(operator, '--display', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), []);
  });
});

/** The argv of each run the recording conduit saw, in order. */
async function recordedRuns(folder: string): Promise<string[][]> {
  const { readdir } = await import('node:fs/promises');
  const names = (await readdir(folder)).filter(
    (name) => !name.endsWith('.tmp'),
  );
  return Promise.all(
    names.sort().map(async (name) => {
      const text = await readFile(path.join(folder, name), 'utf8');
      return text.split('\0').slice(0, -1);
    }),
  );
}

describe('the cn=config form of the rules', () => {
  test('carries the same olcAccess rules as the slapd.conf form, in order', async () => {
    const conf = await shippedRules();
    const rules = conf
      .replace(/\n[ \t]+/g, ' ')
      .split('\n')
      .filter((line) => line.startsWith('access to '))
      .map((line) =>
        line
          .replace(/^access /, '')
          .replace(/\s+/g, ' ')
          .trim(),
      );
    const ldifFile = path.join(projectRoot, 'schema/acl/openldap-acl.ldif');
    const ldif = (await readFile(ldifFile, 'utf8'))
      .replaceAll(SHIPPED_SUFFIX, SUFFIX)
      .split('\n')
      .filter((line) => line.startsWith('olcAccess: '));
    assert.equal(rules.length, 3);
    assert.deepEqual(
      ldif,
      rules.map((rule, index) => `olcAccess: {${index}}${rule}`),
    );
  });
});
