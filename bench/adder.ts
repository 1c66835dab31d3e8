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
