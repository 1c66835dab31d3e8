/**
 * Choosing the watch mode: what the configuration asks for, checked against
 * the controls the server lists in its root DSE.
 *
 *   auto      syncrepl if offered, else Persistent Search, else poll
 *   syncrepl  RFC 4533 Content Synchronization (OpenLDAP's syncprov)
 *   psearch   Persistent Search (389 Directory Server and others)
 *   poll      no notifications: the reconcile at every interval only
 */
import type { Config, WatchMode } from '../config.js';
import type { Directory } from '../directory.js';
import type { Logger } from '../log.js';
import { SYNC_REQUEST_OID } from '../protocol/index.js';
import { PERSISTENT_SEARCH_OID } from '../protocol/psearch.js';
import { CookieStore } from './cookie-store.js';
import { PersistentSearchWatch } from './psearch.js';
import { SyncreplWatch } from './syncrepl.js';
import type { Watch, WatchListener } from './watch.js';

export type ChosenMode = Exclude<WatchMode, 'auto'>;

export class WatchModeError extends Error {
  readonly code = 'EQ_CONFIG';
}

const REQUIRED: Record<Exclude<ChosenMode, 'poll'>, [string, string]> = {
  syncrepl: [SYNC_REQUEST_OID, 'the Sync Request control (RFC 4533)'],
  psearch: [PERSISTENT_SEARCH_OID, 'the Persistent Search control'],
};

/** Picks the mode and logs it, with the reason, once. */
export async function chooseWatchMode(
  config: Config,
  directory: Directory,
  log: Logger,
): Promise<ChosenMode> {
  const offered = new Set(await directory.supportedControls());
  const asked = config.agent.watch;
  if (asked === 'poll') {
    log.info('Watch mode: poll, as configured', { everyMs: interval(config) });
    return 'poll';
  }
  if (asked !== 'auto') {
    const [oid, name] = REQUIRED[asked];
    if (!offered.has(oid)) {
      throw new WatchModeError(
        `agent.watch is ${asked}, but ${config.ldap.url} does not offer ` +
          `${name}, ${oid}, in its root DSE. Set agent.watch to auto.`,
      );
    }
    log.info(`Watch mode: ${asked}, as configured`);
    return asked;
  }
  return chooseAutomatically(offered, config, log);
}

function chooseAutomatically(
  offered: ReadonlySet<string>,
  config: Config,
  log: Logger,
): ChosenMode {
  for (const mode of ['syncrepl', 'psearch'] as const) {
    const [oid, name] = REQUIRED[mode];
    if (offered.has(oid)) {
      log.info(`Watch mode: ${mode}, since the server offers ${name}`);
      return mode;
    }
  }
  log.warn(
    'Watch mode: poll, since the server offers neither syncrepl nor ' +
      'Persistent Search; events wait up to one reconcile interval',
    { everyMs: interval(config) },
  );
  return 'poll';
}

function interval(config: Config): number {
  return config.agent.reconcileIntervalMs;
}

/** Builds the watch for a chosen mode. */
export function createWatch(
  mode: ChosenMode,
  config: Config,
  password: string | undefined,
  listener: WatchListener,
  log: Logger,
): Watch {
  switch (mode) {
    case 'syncrepl': {
      const scope = `${config.ldap.url} ${config.ldap.queueBase}`;
      const cookies = new CookieStore(config.agent.stateDirectory, scope, log);
      return new SyncreplWatch(config, password, listener, log, cookies);
    }
    case 'psearch':
      return new PersistentSearchWatch(config, password, listener, log);
    case 'poll':
      return { start: () => undefined, stop: async () => undefined };
  }
}
