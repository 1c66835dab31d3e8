/**
 * The watch's own connection: opened and bound the same way in every
 * watch mode, separately from the work connection.
 */
import type { Config } from '../config.js';
import { tlsOptionsOf, unverifiedTlsWarning } from '../directory.js';
import type { Logger } from '../log.js';
import {
  LdapConnection,
  ResultCode,
  type SearchResultDone,
} from '../protocol/index.js';
import { Heartbeat } from './heartbeat.js';

/** TCP keepalive probes start after this much idle time. */
export const KEEPALIVE_MS = 30_000;

let warnedUnverified = false;

/**
 * Connects (with StartTLS when ldap.startTLS is set) and, when a bind DN is
 * configured, binds; closes on failure.
 */
export async function openWatchConnection(
  config: Config,
  password: string | undefined,
  log: Logger,
): Promise<LdapConnection> {
  const { ldap } = config;
  warnIfUnverified(config, log);
  const connection = await LdapConnection.connect(ldap.url, {
    connectTimeoutMs: ldap.connectTimeoutMs,
    keepAliveMs: KEEPALIVE_MS,
    startTLS: ldap.startTLS,
    tls: tlsOptionsOf(ldap),
    onDebug: (message, fields) => log.debug(message, fields),
  });
  new Heartbeat(connection, config.agent.heartbeatMs);
  if (ldap.bindDN === undefined) return connection;
  try {
    await connection.bind(ldap.bindDN, password ?? '');
    return connection;
  } catch (error) {
    await connection.close();
    throw error;
  }
}

/** Logs, once per process, that the server's certificate is not checked. */
function warnIfUnverified(config: Config, log: Logger): void {
  const warning = unverifiedTlsWarning(config.ldap);
  if (warning === undefined || warnedUnverified) return;
  warnedUnverified = true;
  log.warn(warning);
}

/**
 * Why a watch's search ended, as an error. A size limit gets its remedy:
 * the watch cannot read a queue larger than the limit, so until it is
 * lifted new events wait for the reconcile.
 */
export function searchEnded(what: string, done: SearchResultDone): Error {
  if (done.resultCode === ResultCode.success) {
    return new Error(`the server ended the ${what}`);
  }
  const detail = done.diagnosticMessage ? `: ${done.diagnosticMessage}` : '';
  const remedy =
    done.resultCode === ResultCode.sizeLimitExceeded
      ? '; the queue holds more events than the size limit of the bind ' +
        'identity, so events wait for the reconcile until it is lifted ' +
        '(OpenLDAP: limits ... size=unlimited; 389: nsSizeLimit: -1)'
      : '';
  const message =
    `the server ended the ${what} with result ${done.resultCode}` +
    detail +
    remedy;
  return done.resultCode === ResultCode.sizeLimitExceeded
    ? new SizeLimitedError(message)
    : new Error(message);
}

/**
 * The watch's search hit the server's size limit: the queue is larger than
 * the limit, so searching again before it has drained fails the same way.
 */
export class SizeLimitedError extends Error {
  readonly code = 'EQ_SIZE_LIMITED';
}
