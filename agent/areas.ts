/**
 * The queue's three areas, each a container under the queue base:
 *
 *   <queueBase>                  pending events (the watched level)
 *   ou=Running,<queueBase>       events claimed by an agent, being run
 *   ou=Failed,<queueBase>        events that will not run again by themselves
 *
 * An event keeps its RDN (and its entryUUID) as it moves between areas, so
 * `eventHash=<hash>` names it in each. Moves are LDAP modify-DN operations,
 * which the server applies atomically: of several agents moving the same
 * entry, exactly one succeeds.
 */
import type { Directory } from './directory.js';
import { DirectoryError, ResultCode } from './directory.js';

export type Area = 'pending' | 'running' | 'failed';

const CONTAINERS: Record<Exclude<Area, 'pending'>, string> = {
  running: 'Running',
  failed: 'Failed',
};

/** The DN of an area's container. */
export function areaBase(queueBase: string, area: Area): string {
  return area === 'pending' ? queueBase : `ou=${CONTAINERS[area]},${queueBase}`;
}

/**
 * The DN the entry `dn` has once moved into `area`. The RDN is kept exactly
 * as the server wrote it: parsing and printing it again (as @ldapjs/dn
 * 1.1.0 does) loses escaped spaces, what follows `\+`, and backslashes.
 */
export function inArea(dn: string, queueBase: string, area: Area): string {
  return `${firstRdn(dn)},${areaBase(queueBase, area)}`;
}

/** A DN's first RDN as written: up to the first comma not escaped. */
export function firstRdn(dn: string): string {
  for (let at = 0; at < dn.length; at++) {
    if (dn[at] === '\\') at++;
    else if (dn[at] === ',') return dn.slice(0, at);
  }
  return dn;
}

/** Creates the Running and Failed containers where they are missing. */
export async function ensureAreas(
  directory: Directory,
  queueBase: string,
): Promise<void> {
  for (const name of Object.values(CONTAINERS)) {
    const dn = `ou=${name},${queueBase}`;
    try {
      await directory.add(dn, { objectClass: 'organizationalUnit', ou: name });
    } catch (error) {
      const exists =
        error instanceof DirectoryError &&
        error.resultCode === ResultCode.entryAlreadyExists;
      if (!exists) throw error;
    }
  }
}
