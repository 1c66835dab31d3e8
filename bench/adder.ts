/**
 * The benchmark's one ldapjs connection for adds. "Add completed" is the
 * moment ldapjs calls the add's callback, read first thing in it.
 */
import { readFile } from 'node:fs/promises';
import ldap, { type Client } from 'ldapjs';
import { BENCH_CONDUIT } from './agent-process.js';
import type { WallClock } from './clock.js';
import type { ServerAccess } from './consumer.js';

export class Adder {
  private constructor(
    private readonly client: Client,
    private readonly clock: WallClock,
  ) {}

  static async open(server: ServerAccess, clock: WallClock): Promise<Adder> {
    const client = ldap.createClient({ url: server.url });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const password = await readFile(server.rootPasswordFile, 'utf8');
    const adder = new Adder(client, clock);
    await adder.call((done) =>
      client.bind(server.rootDN, password.split('\n')[0] ?? '', done),
    );
    return adder;
  }

  /** Adds event `seq` as `dn`; resolves with the time the add completed. */
  addEvent(dn: string, seq: number): Promise<number> {
    const entry = {
      objectClass: 'prometheusEvent',
      cn: `bench-${seq}`,
      eventConduit: BENCH_CONDUIT,
      eventArgument: `seq=${seq}`,
    };
    return this.call((done) => this.client.add(dn, entry, done));
  }

  /**
   * Resolves once no entry named `cn=bench-<seq>` is left anywhere under
   * `base`: the agent moved it into ou=Running to claim it, then deleted
   * it. Searched for every 5 ms, between measurements only.
   */
  async gone(base: string, seq: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (await this.exists(base, seq)) {
      if (Date.now() > deadline) {
        throw new Error(`still under ${base} after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private exists(base: string, seq: number): Promise<boolean> {
    const options = {
      scope: 'sub' as const,
      filter: `(cn=bench-${seq})`,
      attributes: ['1.1'],
    };
    return new Promise((resolve, reject) => {
      let found = false;
      this.client.search(base, options, (error, response) => {
        if (error !== null) return reject(error);
        response.on('searchEntry', () => (found = true));
        response.on('error', reject);
        response.on('end', () => resolve(found));
      });
    });
  }

  /**
   * The directory writes a claim makes, done back to back and timed: a
   * move of a scratch entry to another container, then a modify of it;
   * the same two operations the agent makes before each run. The scratch
   * entry lives outside the queue, alternating between two containers
   * beside it.
   */
  async claimWrites(base: string, seq: number): Promise<number> {
    const parent = base.slice(base.indexOf(',') + 1);
    if (seq === 0 || this.#scratch === undefined) {
      this.#scratch = await this.makeScratch(parent);
    }
    const from = this.#scratch;
    const to = from.includes('ou=bench-a,')
      ? `cn=scratch,ou=bench-b,${parent}`
      : `cn=scratch,ou=bench-a,${parent}`;
    const start = this.clock.now();
    await this.call((done) => this.client.modifyDN(from, to, done));
    const change = new ldap.Change({
      operation: 'replace',
      modification: { type: 'description', values: [String(seq)] },
    });
    const end = await this.call((done) =>
      this.client.modify(to, [change], done),
    );
    this.#scratch = to;
    return end - start;
  }

  #scratch: string | undefined;

  private async makeScratch(parent: string): Promise<string> {
    for (const name of ['bench-a', 'bench-b']) {
      const entry = { objectClass: 'organizationalUnit', ou: name };
      await this.call((done) =>
        this.client.add(`ou=${name},${parent}`, entry, done),
      ).catch(() => undefined);
    }
    const dn = `cn=scratch,ou=bench-a,${parent}`;
    const entry = {
      objectClass: 'prometheusEvent',
      cn: 'scratch',
      eventConduit: BENCH_CONDUIT,
    };
    await this.call((done) => this.client.add(dn, entry, done)).catch(
      () => undefined,
    );
    return dn;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.client.unbind(() => resolve()));
  }

  private call(
    operation: (done: (error: Error | null) => void) => void,
  ): Promise<number> {
    return new Promise((resolve, reject) =>
      operation((error) => {
        const at = this.clock.now();
        if (error === null) resolve(at);
        else reject(error);
      }),
    );
  }
}
