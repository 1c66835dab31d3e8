/**
 * Contract test: what this client receives from a real OpenLDAP with the
 * syncprov overlay during an RFC 4533 refreshAndPersist search.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startSlapd, type Slapd } from '../scripts/slapd.js';
import { LdapConnection } from '../agent/protocol/connection.js';
import { LdapResultError } from '../agent/protocol/errors.js';
import type { SearchEvent } from '../agent/protocol/operations.js';
import type { SearchResultEntry } from '../agent/protocol/responses.js';
import {
  decodeSyncInfoMessage,
  findSyncState,
  syncRequestControl,
  type SyncInfoMessage,
  type SyncStateValue,
} from '../agent/protocol/sync.js';

const OPTIONS = { connectTimeoutMs: 5000, keepAliveMs: 30_000 };

type Received =
  | { kind: 'entry'; dn: string; state: SyncStateValue }
  | { kind: 'info'; info: SyncInfoMessage };

/** A refreshAndPersist search that records what the server sends. */
class SyncSession {
  readonly received: Received[] = [];
  cookie: Buffer | undefined;
  #wake: () => void = () => {};

  private constructor(readonly connection: LdapConnection) {}

  static async start(slapd: Slapd, base: string, cookie?: Buffer) {
    const connection = await LdapConnection.connect(slapd.url, OPTIONS);
    await connection.bind(slapd.rootDN, slapd.rootPassword);
    const session = new SyncSession(connection);
    session.cookie = cookie;
    const control = syncRequestControl({
      mode: 'refreshAndPersist',
      ...(cookie === undefined ? {} : { cookie }),
    });
    const request = {
      baseObject: base,
      scope: 'singleLevel',
      filter: '(objectClass=device)',
      attributes: ['cn'],
      controls: [control],
    } as const;
    connection.search(request, (event) => session.#record(event));
    return session;
  }

  entries(): Array<Received & { kind: 'entry' }> {
    return this.received.filter((each) => each.kind === 'entry');
  }

  infos(): SyncInfoMessage[] {
    return this.received.flatMap((each) =>
      each.kind === 'info' ? [each.info] : [],
    );
  }

  refreshDone(): boolean {
    return this.infos().some(
      (info) =>
        (info.kind === 'refreshDelete' || info.kind === 'refreshPresent') &&
        info.refreshDone,
    );
  }

  /** Waits until `test` holds for what was received, or fails. */
  async until(test: () => boolean, timeoutMs: number, what: string) {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`Timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, left).unref();
      });
    }
  }

  #record(event: SearchEvent): void {
    if (event.protocolOp === 'SearchResultEntry') this.#recordEntry(event);
    if (event.protocolOp === 'IntermediateResponse') {
      const info = decodeSyncInfoMessage(event);
      if (info !== undefined) this.received.push({ kind: 'info', info });
      if (info?.cookie) this.cookie = info.cookie;
    }
    this.#wake();
  }

  #recordEntry(entry: SearchResultEntry): void {
    const state = findSyncState(entry);
    assert.ok(state, `entry ${entry.dn} has no Sync State control`);
    this.received.push({ kind: 'entry', dn: entry.dn, state });
    if (state.cookie) this.cookie = state.cookie;
  }
}

/** One line per message received, for the test report. */
function summarize(received: Received[]): string[] {
  return received.map((each) => {
    if (each.kind === 'entry') {
      const cookie = each.state.cookie ? 'with cookie' : 'no cookie';
      return `entry ${each.dn} ${each.state.state} (${cookie})`;
    }
    const { info } = each;
    const fields = Object.entries(info)
      .filter(([key]) => key !== 'kind')
      .map(([key, value]) => `${key}=${describeField(value)}`);
    return `Sync Info ${info.kind} ${fields.join(' ')}`;
  });
}

function describeField(value: unknown): string {
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('latin1'));
  if (Array.isArray(value)) return `[${value.length} UUIDs]`;
  return String(value);
}

function device(dn: string, cn: string): string {
  return `dn: ${dn}\nobjectClass: device\ncn: ${cn}\n\n`;
}

describe('a refreshAndPersist search against OpenLDAP', () => {
  let slapd: Slapd;
  let base: string;
  let session: SyncSession;
  let addedUUID: Buffer | undefined;

  before(async () => {
    slapd = await startSlapd();
    base = `ou=events,${slapd.suffix}`;
    await slapd.ldapAdd(
      `dn: ${base}\nobjectClass: organizationalUnit\nou: events\n\n` +
        ['e1', 'e2', 'e3'].map((cn) => device(`cn=${cn},${base}`, cn)).join(''),
    );
  });

  after(async () => {
    await session?.connection.close();
    await slapd?.stop();
  });

  it('refuses a bad password with resultCode 49', async () => {
    const connection = await LdapConnection.connect(slapd.url, OPTIONS);
    try {
      await assert.rejects(
        connection.bind(slapd.rootDN, 'wrong-password'),
        (error: unknown) =>
          error instanceof LdapResultError &&
          error.resultCode === 49 &&
          !error.message.includes('wrong-password'),
      );
    } finally {
      await connection.close();
    }
  });

  it('refreshes the 3 existing entries, then says refreshDone', async (t) => {
    session = await SyncSession.start(slapd, base);
    await session.until(() => session.refreshDone(), 5000, 'refreshDone');
    summarize(session.received).forEach((line) => t.diagnostic(line));

    const entries = session.entries();
    assert.deepEqual(entries.map((each) => each.dn).sort(), [
      `cn=e1,${base}`,
      `cn=e2,${base}`,
      `cn=e3,${base}`,
    ]);
    for (const { state } of entries) {
      assert.ok(state.state === 'add' || state.state === 'present');
      assert.equal(state.entryUUID.length, 16);
    }
    assert.ok(session.cookie, 'the refresh ended without a cookie');
  });

  it('receives an added entry with state add within a second', async () => {
    await slapd.ldapAdd(device(`cn=x1,${base}`, 'x1'));
    const added = () =>
      session.entries().find((each) => each.dn === `cn=x1,${base}`);
    await session.until(() => added() !== undefined, 1000, 'the add');

    assert.equal(added()?.state.state, 'add');
    assert.ok(added()?.state.cookie, 'a persist-phase change has a cookie');
    addedUUID = added()?.state.entryUUID;
  });

  it('receives the delete with the same entryUUID', async (t) => {
    await slapd.ldapDelete(`cn=x1,${base}`);
    const deleted = () =>
      session.entries().find((each) => each.state.state === 'delete');
    await session.until(() => deleted() !== undefined, 1000, 'the delete');

    assert.equal(deleted()?.dn, `cn=x1,${base}`);
    assert.deepEqual(deleted()?.state.entryUUID, addedUUID);
    summarize(session.received.slice(4)).forEach((l) => t.diagnostic(l));
  });

  it('resumes from the last cookie without resending old ones', async (t) => {
    const cookie = session.cookie;
    await session.connection.close();
    await slapd.ldapAdd(device(`cn=x2,${base}`, 'x2'));

    session = await SyncSession.start(slapd, base, cookie);
    await session.until(() => session.refreshDone(), 5000, 'refreshDone');
    summarize(session.received).forEach((line) => t.diagnostic(line));

    const dns = session.entries().map((each) => each.dn);
    assert.deepEqual(dns, [`cn=x2,${base}`]);
  });

  it('leaves no socket open once every connection is closed', async () => {
    await session.connection.close();
    const sockets = process
      .getActiveResourcesInfo()
      .filter((name) => name.startsWith('TCP'));
    assert.deepEqual(sockets, []);
  });
});
