/**
 * A throwaway OpenLDAP whose queue already holds a backlog of events,
 * written offline with slapadd: 100,000 adds over LDAP would take minutes,
 * slapadd takes seconds. The server is stopped, the events are loaded into
 * its database, and it is started again on the same port.
 *
 * slapadd gives each entry the operational attributes an add over LDAP
 * would (entryUUID, entryCSN, createTimestamp, creatorsName), in the order
 * of the LDIF, so event `seq` is the seq-th oldest. `-w` then sets the
 * suffix's contextCSN to the newest of them, as adds over LDAP would;
 * without it, syncprov leaves out of a refresh every entry newer than the
 * contextCSN it has.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LdapConfig } from '../agent/config.js';
import { Directory } from '../agent/directory.js';
import { Slapd } from '../scripts/slapd.js';
import type { BenchServer } from './servers.js';

const run = promisify(execFile);

export interface BacklogServer {
  readonly slapd: Slapd;
  readonly server: BenchServer;
  readonly queueBase: string;
}

/** A work connection of the agent's own class, bound as the root DN. */
export function connectAsRoot(backlog: BacklogServer): Promise<Directory> {
  const { slapd } = backlog;
  const config: LdapConfig = {
    url: slapd.url,
    bindDN: slapd.rootDN,
    passwordFile: slapd.rootPasswordFile,
    queueBase: backlog.queueBase,
    connectTimeoutMs: 10_000,
    operationTimeoutMs: 120_000,
    startTLS: false,
    tls: { caFile: undefined, ca: undefined, verify: true },
    allowPlaintextPassword: true,
  };
  return Directory.connect(config, slapd.rootPassword);
}

/** Where the floor's events are, and where they are moved to. */
export function floorAreas(backlog: BacklogServer) {
  const suffix = backlog.slapd.suffix;
  return { from: `ou=Floor,${suffix}`, to: `ou=FloorDone,${suffix}` };
}

/** Starts a slapd whose queue `ou=<name>` holds `count` pending events. */
export async function startWithBacklog(
  name: string,
  count: number,
  conduit: string,
  /** Events also put in ou=Floor, beside the queue, for floor timings. */
  floor = 0,
): Promise<BacklogServer> {
  const slapd = await Slapd.start();
  const queueBase = `ou=${name},${slapd.suffix}`;
  const floorBase = `ou=Floor,${slapd.suffix}`;
  const units = [name, 'Floor', 'FloorDone'].map(
    (ou) => `dn: ou=${ou},${slapd.suffix}\nobjectClass: organizationalUnit\n`,
  );
  await slapd.ldapAdd(units.join('\n'));
  await slapd.halt();
  const ldif = path.join(slapd.directory, 'backlog.ldif');
  await writeFile(
    ldif,
    backlogLdif(queueBase, count, conduit) +
      '\n' +
      backlogLdif(floorBase, floor, conduit),
  );
  const config = path.join(slapd.directory, 'slapd.conf');
  await run('/usr/sbin/slapadd', ['-q', '-w', '-f', config, '-l', ldif]);
  await slapd.restart();
  const server = Object.assign(slapd, { name: 'OpenLDAP' });
  return { slapd, server, queueBase };
}

/** Event `seq` is `cn=ev-<seq>` with the argument `seq=<seq>`. */
export function backlogLdif(base: string, count: number, conduit: string) {
  const parts: string[] = [];
  for (let seq = 0; seq < count; seq++) {
    parts.push(
      `dn: cn=ev-${seq},${base}\nobjectClass: prometheusEvent\n` +
        `cn: ev-${seq}\neventConduit: ${conduit}\neventArgument: seq=${seq}\n`,
    );
  }
  return parts.join('\n');
}
