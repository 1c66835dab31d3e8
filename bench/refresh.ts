/**
 * The reference for a backlog's first run: how long a bare consumer takes
 * to receive the whole queue as the agent's watch first reads it, an RFC
 * 4533 refreshOnly search with the agent's attributes, on agent/protocol's
 * connection, doing nothing with the entries. An agent that waited for the
 * whole queue before its first run could not start sooner than this (plus
 * its own start-up).
 */
import { readFile } from 'node:fs/promises';
import { EVENT_ATTRIBUTES } from '../agent/entry.js';
import { LdapConnection, syncRequestControl } from '../agent/protocol/index.js';
import { EVENT_FILTER } from '../agent/queue.js';
import type { ServerAccess } from './consumer.js';

/** Ms from sending the search to its end; and how many entries came. */
export async function timeRefresh(server: ServerAccess, base: string) {
  const connection = await LdapConnection.connect(server.url, {
    connectTimeoutMs: 10_000,
    keepAliveMs: 30_000,
  });
  try {
    const password = await readFile(server.rootPasswordFile, 'utf8');
    await connection.bind(server.rootDN, password.split('\n')[0] ?? '');
    let entries = 0;
    const start = performance.now();
    const request = {
      baseObject: base,
      scope: 'singleLevel' as const,
      filter: EVENT_FILTER,
      attributes: EVENT_ATTRIBUTES,
      controls: [syncRequestControl({ mode: 'refreshOnly' })],
    };
    const done = await connection.search(request, (event) => {
      if (event.protocolOp === 'SearchResultEntry') entries++;
    }).done;
    if (done.resultCode !== 0) {
      throw new Error(`The refresh ended with result ${done.resultCode}.`);
    }
    return { ms: performance.now() - start, entries };
  } finally {
    await connection.close();
  }
}
