/**
 * A TCP proxy on loopback that a test can break the way networks break:
 * reset every connection, or silently stop forwarding on the connections
 * that are open (a firewall dropping an idle flow), while new connections
 * still pass. It is not a directory server: the real server is behind it.
 */
import net from 'node:net';

interface Pair {
  client: net.Socket;
  server: net.Socket;
  dropping: boolean;
}

export class TcpProxy {
  readonly #pairs = new Set<Pair>();

  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.forward(client, targetPort));
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    return proxy;
  }

  get url(): string {
    const address = this.server.address() as net.AddressInfo;
    return `ldap://127.0.0.1:${address.port}`;
  }

  /** Sends a TCP reset on both sides of every open connection. */
  reset(): void {
    for (const pair of this.#pairs) {
      pair.client.resetAndDestroy();
      pair.server.resetAndDestroy();
    }
  }

  /** Open connections stay up but nothing more crosses them. */
  blackhole(): void {
    for (const pair of this.#pairs) pair.dropping = true;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(client: net.Socket, targetPort: number): void {
    const server = net.connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, server, dropping: false };
    this.#pairs.add(pair);
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (!pair.dropping) to.write(chunk);
      });
    relay(client, server);
    relay(server, client);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const socket of [client, server]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }
}
