/**
 * A scripted LDAP server on loopback, for the few behaviours a real
 * directory server cannot be made to show on demand (a malformed message,
 * a Notice of Disconnection, e-syncRefreshRequired). It records each
 * request and answers with whatever the test writes, either later through
 * `send()` or at once through the `answer` callback. It accepts any number
 * of connections, one after another; `send()` and `dropClient()` act on
 * the newest.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

import { BerCursor, decodeInteger } from '../../agent/protocol/ber.js';
import {
  CONTROLS_TAG,
  decodeControls,
  type Control,
} from '../../agent/protocol/controls.js';
import { LdapMessageFramer } from '../../agent/protocol/framer.js';

export interface Request {
  messageId: number;
  /** The protocolOp tag, e.g. 0x60 for a BindRequest. */
  tag: number;
  /** The request's controls, values still encoded. */
  controls: Control[];
  /** Which connection it came on, counting from 0 in order of arrival. */
  connection: number;
  /** When it arrived, as `performance.now()`. */
  receivedAt: number;
}

/** Writes responses on the connection a request came on. */
export interface Reply {
  send(...messages: Buffer[]): void;
}

/** Called for each request as it arrives, after it is recorded. */
export type Answer = (request: Request, reply: Reply) => void;

export class FakeServer {
  readonly requests: Request[] = [];
  #server = net.createServer((socket) => this.#accept(socket));
  #sockets = new Set<net.Socket>();
  #socket: net.Socket | undefined;
  #connections = 0;
  #waiters: Array<() => void> = [];

  constructor(private readonly answer?: Answer) {}

  async listen(): Promise<string> {
    await new Promise<void>((resolve) =>
      this.#server.listen(0, '127.0.0.1', resolve),
    );
    const address = this.#server.address() as net.AddressInfo;
    return `ldap://127.0.0.1:${address.port}`;
  }

  /** The first request with `tag`, waiting for one if none came yet. */
  async request(tag: number): Promise<Request> {
    for (;;) {
      const found = this.requests.find((each) => each.tag === tag);
      if (found) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Writes to the newest connection. */
  send(...messages: Buffer[]): void {
    this.#socket?.write(Buffer.concat(messages));
  }

  /** Drops the newest connection without a word. */
  dropClient(): void {
    this.#socket?.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(socket: net.Socket): void {
    const connection = this.#connections++;
    this.#socket = socket;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));

    const framer = new LdapMessageFramer();
    const reply: Reply = {
      send: (...messages) => socket.write(Buffer.concat(messages)),
    };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const message of framer.push(chunk)) {
        this.#record(message, connection, reply);
      }
    });
  }

  #record(message: Buffer, connection: number, reply: Reply): void {
    const request = { ...decodeRequest(message), connection };
    this.requests.push(request);
    this.#waiters.splice(0).forEach((wake) => wake());
    this.answer?.(request, reply);
  }
}

function decodeRequest(message: Buffer): Omit<Request, 'connection'> {
  const receivedAt = performance.now();
  const outer = new BerCursor(message, 'LDAPMessage');
  const fields = new BerCursor(outer.next('LDAPMessage', 0x30).value, 'LDAP');
  const messageId = decodeInteger(fields.next('messageID', 0x02), 'ID');
  const { tag } = fields.next('protocolOp');
  const controls = fields.nextIf('controls', CONTROLS_TAG);
  return {
    messageId,
    tag,
    controls: controls === undefined ? [] : decodeControls(controls),
    receivedAt,
  };
}
