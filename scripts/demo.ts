/**
 * The demo (`npm run demo`, as root): the agent running against a throwaway
 * OpenLDAP server, ready for events added by hand from another terminal.
 *
 * It starts slapd on loopback with the suffix dc=inf,dc=ed,dc=ac,dc=uk,
 * creates the default queue base, writes a configuration with two sample
 * conduits into a temporary folder, prints how to add an event, and runs
 * the agent in the foreground. Both conduits run record-conduit.sh, which
 * appends one line per run to runs.log in that folder. Ctrl-C (SIGINT) or
 * SIGTERM stops the agent, then slapd, and removes the folder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { runAgent } from '../agent/daemon.js';
import { reportFatal } from '../agent/process.js';
import { projectRoot, Slapd } from './slapd.js';

const SUFFIX = 'dc=inf,dc=ed,dc=ac,dc=uk';
const PROMETHEUS = `o=Prometheus,${SUFFIX}`;
/** The same as the agent's default, DEFAULT_QUEUE_BASE. */
const QUEUE_BASE = `ou=EventQueue,${PROMETHEUS}`;
const USERNAME = '^[a-z][a-z0-9_-]{0,31}$';
const PRINCIPAL = '^[a-z][a-z0-9_/-]{0,63}@[A-Z][A-Z0-9.-]*$';

async function main(): Promise<void> {
  const interrupted = holdSignals();
  const folder = await mkdtemp(path.join(tmpdir(), 'pe-demo-'));
  let slapd: Slapd | undefined;
  try {
    slapd = await Slapd.start({ suffix: SUFFIX });
    await slapd.ldapAdd(queueBaseLdif());
    const file = await writeConfig(folder, slapd);
    if (interrupted()) return;
    printInstructions(folder, file);
    process.exitCode = await runAgent(file);
  } finally {
    await slapd?.stop();
    await rm(folder, { recursive: true, force: true });
    console.log(`Stopped slapd and removed ${folder}.`);
  }
}

/**
 * Until the agent takes over the signals, a SIGINT or SIGTERM must not kill
 * this process outright, or slapd would be left running. Returns whether
 * one arrived; the handlers go as soon as it is asked.
 */
function holdSignals(): () => boolean {
  let received = false;
  const note = () => (received = true);
  process.on('SIGINT', note).on('SIGTERM', note);
  return () => {
    process.off('SIGINT', note).off('SIGTERM', note);
    return received;
  };
}

function queueBaseLdif(): string {
  return [
    `dn: ${PROMETHEUS}`,
    'objectClass: organization',
    'o: Prometheus',
    '',
    `dn: ${QUEUE_BASE}`,
    'objectClass: organizationalUnit',
    'ou: EventQueue',
    '',
  ].join('\n');
}

async function writeConfig(folder: string, slapd: Slapd): Promise<string> {
  const script = path.join(projectRoot, 'scripts/record-conduit.sh');
  const runs = path.join(folder, 'runs.log');
  const config = {
    ldap: {
      url: slapd.url,
      bindDN: slapd.rootDN,
      passwordFile: slapd.rootPasswordFile,
      queueBase: QUEUE_BASE,
    },
    agent: {
      logFile: path.join(folder, 'agent.log'),
      stateDirectory: path.join(folder, 'state'),
      reconcileInterval: '60s',
    },
    conduits: {
      'Prometheus::Conduits::RoleExpander': {
        command: [script, runs, 'RoleExpander'],
        arguments: { username: USERNAME },
      },
      'Prometheus::Conduits::SyncToKDC::Conduit': {
        command: [script, runs, 'SyncToKDC'],
        arguments: { username: USERNAME, principal: PRINCIPAL },
      },
    },
  };
  const file = path.join(folder, 'config.yaml');
  // Only the owner may read it, as the agent asks of a configuration.
  await writeFile(file, YAML.stringify(config), { mode: 0o600 });
  return file;
}

function printInstructions(folder: string, file: string): void {
  const cli = `node ${path.join(projectRoot, 'dist/cli/main.js')}`;
  const conduit = 'Prometheus::Conduits::RoleExpander';
  console.log(
    [
      '',
      `The demo is ready. Its files are in ${folder}.`,
      '',
      'From another terminal, add an event:',
      `  ${cli} --config ${file} --add ${conduit} --args username=juser`,
      'List pending events:',
      `  ${cli} --config ${file} --display`,
      'Watch the conduit runs and the agent log:',
      `  tail -F ${path.join(folder, 'runs.log')}`,
      `  tail -F ${path.join(folder, 'agent.log')}`,
      '',
      'Press Ctrl-C here to stop the agent and slapd and remove the folder.',
      '',
    ].join('\n'),
  );
}

main().catch(reportFatal);
