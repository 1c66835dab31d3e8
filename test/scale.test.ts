/**
 * The agent at scale, in each watch mode, bound as an ordinary identity:
 * a burst of events written while the agent starts runs once each, in the
 * order written, and a backlog larger than the server's size limit runs
 * completely.
 *
 * syncrepl and poll run against a throwaway OpenLDAP, psearch against a
 * throwaway 389 Directory Server. Both servers get a size limit of 500 and
 * an identity `cn=agent,<suffix>` that may read, add and delete in every
 * queue: the root DN is exempt from size limits on both servers, so an
 * agent bound as root would never meet one.
 *
 * What each server does when one search would return more than 500 entries
 * to that identity (checked with ldapsearch and the agent's protocol code):
 *
 *   OpenLDAP 2.5 (`sizelimit 500`): every search stops at 500 entries with
 *   sizeLimitExceeded (4). That includes a syncrepl refresh (no refreshDone,
 *   so the watch never persists) and a paged search, whatever the page size:
 *   a paged search may return no more than the hard limit in total
 *   (`size.prtotal` defaults to it), and `sizelimit 500` sets the hard limit
 *   to 500 too.
 *
 *   389-ds 2.3 (`nsslapd-sizelimit: 500`): an ordinary search and a
 *   persistent search's initial entries stop at 500 with sizeLimitExceeded;
 *   the persistent search ends there and reports no later change. A paged
 *   search applies the limit to each page: pages of 499 read everything,
 *   pages of 500 or more end at the first page with sizeLimitExceeded.
 *
 * So no watch can read a queue of 1,200 here; the reconcile must. Those
 * tests keep the reconcile interval at 2 s so that the backlog runs within
 * the test's time.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Dirsrv } from '../scripts/dirsrv.js';
import { Slapd } from '../scripts/slapd.js';
import {
  AgentProcess,
  QueueFixture,
  RECORDER,
  ROLE_EXPANDER,
  waitFor,
  type QueueServer,
  type Run,
} from './support/queue-fixture.js';

const SIZE_LIMIT = 500;
const BACKLOG = 1200;
const BURST = 100;
const RECONCILE_INTERVAL = '2s';
/** A test fails if this long passes without a new run. */
const STALL_MS = 20_000;

const AGENT_RDN = 'cn=agent';
const AGENT_PASSWORD = 'agent-secret';

type Mode = 'syncrepl' | 'psearch' | 'poll';

describe('the agent at scale on OpenLDAP (syncrepl and poll)', () => {
  let slapd: Slapd;
  before(async () => {
    const agent = `${AGENT_RDN},dc=example,dc=test`;
    slapd = await Slapd.start({
      sizeLimit: SIZE_LIMIT,
      // Lands in the database section, before `overlay syncprov`. The root
      // DN, which the tests write with, is not subject to these rules.
      databaseConfig: [
        'access to attrs=userPassword by anonymous auth by * none',
        `access to * by dn.exact="${agent}" write by * read`,
      ].join('\n'),
    });
    await addAgentIdentity(slapd);
  });
  after(() => slapd?.stop());

  for (const mode of ['syncrepl', 'poll'] as const) {
    test(`${mode}: ${BURST} events written while the agent starts run once each, in the order written`, (t) =>
      burstWhileStarting(t, slapd, mode));
  }
  for (const mode of ['syncrepl', 'poll'] as const) {
    test(`${mode}: ${BACKLOG} pending events over a size limit of ${SIZE_LIMIT} all run once`, (t) =>
      backlogOverSizeLimit(t, slapd, mode));
  }
});

describe('the agent at scale on 389 Directory Server (psearch)', () => {
  let dirsrv: Dirsrv | undefined;
  // Dirsrv.start() waits its turn for the machine's one instance (another
  // test file may hold it), then takes about 10 s to create one.
  before(
    async () => {
      dirsrv = await Dirsrv.start({ sizeLimit: SIZE_LIMIT });
      const agent = `${AGENT_RDN},${dirsrv.suffix}`;
      await addAgentIdentity(dirsrv);
      await dirsrv.ldapModify(
        `dn: ${dirsrv.suffix}\nchangetype: modify\nadd: aci\n` +
          `aci: (targetattr="*")(version 3.0; acl "eventqueue agent"; ` +
          `allow (read, search, compare, add, delete, write, moddn) ` +
          `userdn="ldap:///${agent}";)\n`,
      );
    },
    { timeout: 360_000 },
  );
  after(() => dirsrv?.stop());

  // 389 has no entryCSN: events created in the same second run in DN order,
  // so the burst's entries are named e000 to e099 to make DN order the
  // order they are written in.
  test(`psearch: ${BURST} events written while the agent starts run once each, in the order written`, (t) =>
    burstWhileStarting(t, server(dirsrv), 'psearch'));

  test(`psearch: ${BACKLOG} pending events over a size limit of ${SIZE_LIMIT} all run once`, (t) =>
    backlogOverSizeLimit(t, server(dirsrv), 'psearch'));
});

interface Server extends QueueServer {
  ldapModify(ldif: string): Promise<string>;
}

function server(dirsrv: Dirsrv | undefined): Server {
  assert.ok(dirsrv, 'the 389 Directory Server started');
  return dirsrv;
}

/**
 * Starts the agent and, without waiting for it to say it is watching,
 * writes `BURST` events with one ldapadd.
 */
async function burstWhileStarting(
  t: TestContext,
  server: Server,
  mode: Mode,
): Promise<void> {
  const queue = await QueueFixture.create(server, t);
  const names = eventNames(BURST, 3);
  const agent = await startAgent(t, queue, mode);
  await server.ldapAdd(events(queue, names));

  await waitForAllRuns(queue, BURST);
  await settle(queue, agent);
  assert.equal(await agent.stop(), 0, agent.stdout);
  assert.deepEqual(usernames(await queue.runs()), names);
}

/**
 * Writes `BACKLOG` events, more than the size limit, then starts the agent
 * and waits for every event to run and leave the queue.
 */
async function backlogOverSizeLimit(
  t: TestContext,
  server: Server,
  mode: Mode,
): Promise<void> {
  const queue = await QueueFixture.create(server, t);
  const names = eventNames(BACKLOG, 4);
  await server.ldapAdd(events(queue, names));

  const agent = await startAgent(t, queue, mode);
  await waitForAllRuns(queue, BACKLOG);
  await settle(queue, agent);
  assert.equal(await agent.stop(), 0, agent.stdout);

  const ran = usernames(await queue.runs());
  assert.equal(ran.length, BACKLOG, 'each event ran once');
  assert.deepEqual([...ran].sort(), names, 'every event ran');
  const inOrder = ran.every((name, index) => name === names[index]);
  t.diagnostic(`ran in the order written: ${inOrder}`);
}

/** `cn=agent,<suffix>`, an ordinary identity: size limits apply to it. */
async function addAgentIdentity(server: QueueServer): Promise<void> {
  await server.ldapAdd(
    [
      `dn: ${AGENT_RDN},${server.suffix}`,
      'objectClass: person',
      'cn: agent',
      'sn: agent',
      `userPassword: ${AGENT_PASSWORD}`,
      '',
    ].join('\n'),
  );
}

/**
 * Starts the agent bound as `cn=agent` (QueueFixture's own configuration
 * binds as the root DN), forced into `mode`; it is killed if the test
 * leaves it running.
 */
async function startAgent(
  t: TestContext,
  queue: QueueFixture,
  mode: Mode,
): Promise<AgentProcess> {
  const secret = path.join(queue.folder, 'agent.secret');
  await writeFile(secret, AGENT_PASSWORD, { mode: 0o600 });
  const file = path.join(queue.folder, 'agent.yaml');
  await writeFile(file, agentConfig(queue, mode, secret));
  const agent = new AgentProcess(file);
  t.after(() => agent.kill());
  return agent;
}

function agentConfig(queue: QueueFixture, mode: Mode, secret: string) {
  return [
    'ldap:',
    `  url: ${queue.slapd.url}`,
    `  bindDN: ${AGENT_RDN},${queue.slapd.suffix}`,
    `  passwordFile: ${secret}`,
    `  queueBase: ${queue.base}`,
    'agent:',
    `  watch: ${mode}`,
    `  reconcileInterval: ${RECONCILE_INTERVAL}`,
    `  stateDirectory: ${queue.folder}/state`,
    `  logFile: ${queue.logFile}`,
    '  logLevel: debug',
    'conduits:',
    `  ${ROLE_EXPANDER}:`,
    `    command: [${RECORDER}, ${queue.folder}/runs]`,
    '    arguments:',
    `      username: '^[a-z][a-z0-9_-]{0,31}$'`,
    '',
  ].join('\n');
}

/** e000, e001, ...: names whose DN order is the order they are written. */
function eventNames(count: number, digits: number): string[] {
  return Array.from(
    { length: count },
    (_, n) => `e${String(n).padStart(digits, '0')}`,
  );
}

/** One LDIF of events named `cn=<name>` with `username=<name>`. */
function events(queue: QueueFixture, names: string[]): string {
  return names
    .map((name) =>
      [
        `dn: cn=${name},${queue.base}`,
        'objectClass: prometheusEvent',
        `cn: ${name}`,
        `eventConduit: ${ROLE_EXPANDER}`,
        `eventArgument: username=${name}`,
        '',
      ].join('\n'),
    )
    .join('\n');
}

/** Waits for `count` runs; fails once STALL_MS pass without a new one. */
async function waitForAllRuns(queue: QueueFixture, count: number) {
  let seen = -1;
  let progressAt = Date.now();
  await waitFor(async () => {
    const runs = (await queue.runs()).length;
    if (runs >= count) return true;
    if (runs !== seen) [seen, progressAt] = [runs, Date.now()];
    if (Date.now() - progressAt < STALL_MS) return undefined;
    const log = await queue.log();
    throw new Error(
      `${runs} of ${count} events ran; none in the last ` +
        `${STALL_MS / 1000} s. The agent's log ends:\n` +
        log.split('\n').slice(-25).join('\n'),
    );
  }, Infinity);
}

/**
 * Waits until the queue is empty and the agent has reconciled once since,
 * so that an event run twice would have been run by now.
 */
async function settle(queue: QueueFixture, agent: AgentProcess) {
  await waitFor(
    async () => ((await queue.entries()) === '' ? true : undefined),
    10_000,
  );
  const reconciled = 'Reconciled present=0';
  const before = agent.stdout.split(reconciled).length;
  await waitFor(
    async () =>
      agent.stdout.split(reconciled).length > before ? true : undefined,
    10_000,
  );
}

function usernames(runs: Run[]): string[] {
  return runs.map((run) => run.argv[1] ?? '');
}
