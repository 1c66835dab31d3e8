/**
 * One LDAPv3 connection: binds, runs searches that may never end (RFC 4533
 * refreshAndPersist), and routes each response to its operation by
 * messageID.
 *
 * States:
 *   open    - requests may be sent; responses are dispatched.
 *   closing - close() sent an UnbindRequest, or a failure destroyed the
 *             socket; nothing more is sent and responses are ignored.
 *   closed  - the socket is gone. Every outstanding bind and search has
 *             rejected with ConnectionLostError, and 'close' was emitted
 *             once, with the reason unless this client closed it.
 * Any state may go straight to closed: the server ends the connection,
 * sends a Notice of Disconnection, sends bytes that do not decode, or the
 * socket fails.
 */

import { EventEmitter } from 'node:events';
import type net from 'node:net';

import {
  ConnectionLostError,
  LdapResultError,
  NoticeOfDisconnectionError,
  ProtocolError,
} from './errors.js';
import { LdapMessageFramer } from './framer.js';
import { OperationTable, type SearchListener } from './operations.js';
import {
  encodeAbandonRequest,
  encodeBindRequest,
  encodeSearchRequest,
  encodeUnbindRequest,
  type SearchRequest,
} from './requests.js';
import {
  decodeLdapMessage,
  describeProtocolOp,
  type BindResponse,
  type ExtendedResponse,
  type LdapResponse,
  type SearchResultDone,
} from './responses.js';
import { ResultCode } from './result-codes.js';
import {
  openSocket,
  parseLdapUrl,
  type LdapEndpoint,
  type TransportOptions,
} from './transport.js';

export interface ConnectOptions extends TransportOptions {
  /** @default 16 MiB */
  maxMessageBytes?: number;
  /** Receives protocol detail, e.g. responses nobody waits for. */
  onDebug?: (message: string, fields: Record<string, unknown>) => void;
  /**
   * How long close() waits for the server to end the connection after
   * the UnbindRequest before dropping it.
   * @default 1000
   */
  closeTimeoutMs?: number;
}

export interface SearchHandle {
  messageId: number;
  /**
   * The SearchResultDone, whatever its resultCode: a syncrepl consumer must
   * see e-syncRefreshRequired (4096) and the Sync Done control. Rejects
   * with ConnectionLostError, SearchAbandonedError or SearchListenerError.
   * A rejection nobody awaits does not crash the process.
   */
  done: Promise<SearchResultDone>;
  /** Stops the search on the server; a no-op once it has finished. */
  abandon(): void;
}

type State = 'open' | 'closing' | 'closed';

const MAX_MESSAGE_ID = 2 ** 31 - 1;

export class LdapConnection extends EventEmitter<{
  close: [reason: Error | undefined];
}> {
  readonly url: string;
  #state: State = 'open';
  #reason: Error | undefined;
  #lastMessageId = 0;
  readonly #socket: net.Socket;
  readonly #framer: LdapMessageFramer;
  readonly #operations = new OperationTable();
  readonly #options: ConnectOptions;
  readonly #closed: Promise<void>;

  private constructor(
    endpoint: LdapEndpoint,
    socket: net.Socket,
    options: ConnectOptions,
  ) {
    super();
    this.url = endpoint.url;
    this.#socket = socket;
    this.#options = options;
    this.#framer = new LdapMessageFramer(options);
    this.#closed = new Promise((resolve) =>
      this.once('close', () => resolve()),
    );

    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(socketFailed(this.url, error)));
    socket.on('close', () => this.#finish());
  }

  /** Connects to an ldap:// or ldaps:// URL. Rejects with ConnectError. */
  static async connect(
    url: string,
    options: ConnectOptions,
  ): Promise<LdapConnection> {
    const endpoint = parseLdapUrl(url);
    const socket = await openSocket(endpoint, options);
    return new LdapConnection(endpoint, socket, options);
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /**
   * Simple bind. Rejects with an LdapResultError carrying the resultCode
   * when the server refuses. The password never appears in any error.
   */
  async bind(dn: string, password: string): Promise<BindResponse> {
    const messageId = this.#nextMessageId();
    const response = await new Promise<BindResponse>((resolve, reject) => {
      if (!this.#send(encodeBindRequest(messageId, dn, password), reject)) {
        return;
      }
      this.#operations.addBind(messageId, { resolve, reject });
    });
    if (response.resultCode === ResultCode.success) return response;

    throw new LdapResultError(
      `Cannot bind to ${this.url} as ${dn}`,
      response,
      response.resultCode === ResultCode.invalidCredentials
        ? 'Check the bind DN and its password.'
        : '',
    );
  }

  /**
   * Starts a search. Each SearchResultEntry, SearchResultReference and
   * IntermediateResponse is given to `listener` in arrival order. Throws a
   * FilterError at once when the filter cannot be encoded.
   */
  search(request: SearchRequest, listener: SearchListener): SearchHandle {
    const messageId = this.#nextMessageId();
    const encoded = encodeSearchRequest(messageId, request);

    const done = new Promise<SearchResultDone>((resolve, reject) => {
      if (!this.#send(encoded, reject)) return;
      this.#operations.addSearch(messageId, { resolve, reject, listener });
    });
    // The caller may abandon and never await; see SearchHandle.done.
    done.catch(() => {});

    return { messageId, done, abandon: () => this.#abandon(messageId) };
  }

  /**
   * Sends an UnbindRequest and ends the connection. Outstanding operations
   * reject with ConnectionLostError. Resolves once the socket is closed.
   */
  close(): Promise<void> {
    if (this.#state !== 'open') return this.#closed;

    this.#state = 'closing';
    this.#socket.end(encodeUnbindRequest(this.#nextMessageId()));
    // The server should close at once; do not wait on one that does not.
    const timeout = this.#options.closeTimeoutMs ?? 1000;
    const timer = setTimeout(() => this.#socket.destroy(), timeout);
    return this.#closed.finally(() => clearTimeout(timer));
  }

  /**
   * Drops the connection at once, without an UnbindRequest: for a peer
   * that no longer answers. Outstanding operations reject with `reason`.
   */
  destroy(reason: Error): void {
    this.#fail(reason);
  }

  #abandon(messageId: number, error?: Error): void {
    if (!this.#operations.abandon(messageId, error)) return;

    const request = encodeAbandonRequest(this.#nextMessageId(), messageId);
    this.#send(request, () => {});
  }

  /** Writes a request, or rejects it when the connection is not open. */
  #send(request: Buffer, reject: (error: Error) => void): boolean {
    if (this.#state !== 'open') {
      reject(lostError(this.url, this.#reason));
      return false;
    }
    this.#socket.write(request);
    return true;
  }

  #receive(chunk: Buffer): void {
    try {
      for (const message of this.#framer.push(chunk)) {
        if (this.#state !== 'open') return;
        this.#dispatch(decodeLdapMessage(message));
      }
    } catch (error) {
      this.#fail(asProtocolError(error));
    }
  }

  #dispatch(response: LdapResponse): void {
    if (response.messageId === 0) return this.#unsolicited(response);

    const outcome = this.#operations.deliver(response, (id, error) =>
      this.#abandon(id, error),
    );
    if (outcome === 'delivered') return;

    if (outcome === 'unknown messageID') {
      this.#debug('Ignored a response for no outstanding operation.', {
        messageId: response.messageId,
        protocolOp: describeProtocolOp(response),
      });
      return;
    }
    throw new ProtocolError(
      `Received a ${describeProtocolOp(response)} for message ` +
        `${response.messageId}, which is a ${outcome}. The server ` +
        'answered out of turn; reconnect.',
    );
  }

  /** Unsolicited notifications (messageID 0, RFC 4511 section 4.4). */
  #unsolicited(response: LdapResponse): void {
    if (response.protocolOp !== 'ExtendedResponse') {
      throw new ProtocolError(
        `Received an unsolicited ${describeProtocolOp(response)}; only ` +
          'an ExtendedResponse may have messageID 0.',
      );
    }
    this.#fail(noticeOfDisconnection(this.url, response));
  }

  /** Closes at once; later responses, even in the same chunk, are dropped. */
  #fail(reason: Error): void {
    this.#reason ??= reason;
    if (this.#state === 'open') this.#state = 'closing';
    this.#socket.destroy();
  }

  #finish(): void {
    if (this.#state === 'closed') return;

    // Still open here means the server ended the connection unasked.
    if (this.#state === 'open') this.#reason = serverClosed(this.url);
    this.#state = 'closed';

    this.#operations.rejectAll(lostError(this.url, this.#reason));
    this.emit('close', this.#reason);
  }

  #nextMessageId(): number {
    this.#lastMessageId = (this.#lastMessageId % MAX_MESSAGE_ID) + 1;
    return this.#lastMessageId;
  }

  #debug(message: string, fields: Record<string, unknown>): void {
    this.#options.onDebug?.(message, { url: this.url, ...fields });
  }
}

function lostError(url: string, reason: Error | undefined) {
  if (reason === undefined) {
    return new ConnectionLostError(
      `The connection to ${url} was closed by this client before the ` +
        'operation finished.',
    );
  }
  return new ConnectionLostError(
    `The connection to ${url} was lost: ${reason.message}`,
    { cause: reason },
  );
}

function serverClosed(url: string): ConnectionLostError {
  return new ConnectionLostError(
    `The server ${url} closed the connection. Reconnect; if this ` +
      'repeats, check the server log for the reason.',
  );
}

function socketFailed(url: string, cause: Error): ConnectionLostError {
  return new ConnectionLostError(
    `The connection to ${url} failed (${cause.message}). Reconnect.`,
    { cause },
  );
}

function noticeOfDisconnection(url: string, response: ExtendedResponse) {
  return new NoticeOfDisconnectionError(
    `The server ${url} is closing the connection`,
    response,
    'Reconnect, later if the server is busy or shutting down.',
  );
}

function asProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  return new ProtocolError(
    'Could not decode a message from the server. The connection is ' +
      'closed; reconnect, and report this if it repeats.',
    { cause: error },
  );
}
