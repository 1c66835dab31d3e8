/**
 * The watch connection's proof of life.
 *
 * A persistent search is quiet while nothing changes, so a connection that
 * a firewall silently dropped looks the same as an idle one. Every interval
 * the heartbeat reads the root DSE on the watch connection; if the previous
 * read has not been answered by then, the connection is destroyed and the
 * watch reconnects. A silent connection is therefore noticed within two
 * intervals, whatever the kernel's TCP keepalive settings.
 */
import type { LdapConnection } from '../protocol/index.js';

export class SilentConnectionError extends Error {
  readonly code = 'EQ_SILENT';
}

export class Heartbeat {
  readonly #timer: NodeJS.Timeout;
  #waiting = false;

  constructor(
    private readonly connection: LdapConnection,
    private readonly intervalMs: number,
  ) {
    this.#timer = setInterval(() => this.beat(), intervalMs);
    connection.once('close', () => clearInterval(this.#timer));
  }

  private beat(): void {
    if (this.#waiting) {
      const seconds = (2 * this.intervalMs) / 1000;
      this.connection.destroy(
        new SilentConnectionError(
          `${this.connection.url} did not answer within ${seconds} s ` +
            '(agent.heartbeat); the connection is presumed dead',
        ),
      );
      return;
    }
    this.#waiting = true;
    const probe = this.connection.search(
      {
        baseObject: '',
        scope: 'baseObject',
        filter: '(objectClass=*)',
        attributes: ['1.1'],
      },
      () => undefined,
    );
    probe.done.then(
      () => (this.#waiting = false),
      () => undefined,
    );
  }
}
