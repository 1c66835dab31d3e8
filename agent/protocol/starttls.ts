/**
 * The StartTLS extended operation (RFC 4511 section 4.14, RFC 4513
 * section 3): on a new ldap:// connection, before anything else, ask the
 * server to start TLS, wait for its ExtendedResponse, then run the TLS
 * handshake on the same TCP socket. Every later LDAPMessage travels inside
 * TLS, framed as before.
 */

import type net from 'node:net';
import tls from 'node:tls';

import { ConnectError, LdapResultError, ProtocolError } from './errors.js';
import { LdapMessageFramer } from './framer.js';
import { encodeExtendedRequest } from './requests.js';
import {
  decodeLdapMessage,
  describeProtocolOp,
  type LdapResponse,
} from './responses.js';
import { ResultCode } from './result-codes.js';

export const START_TLS_OID = '1.3.6.1.4.1.1466.20037';

/** The first request on the connection; later ones count on from 1 too. */
const START_TLS_MESSAGE_ID = 1;

export interface StartTlsOptions {
  /** The URL, for messages. */
  url: string;
  /** For the whole exchange: request, response and handshake. */
  timeoutMs: number;
  /** Passed to tls.connect with the socket: ca, host, servername, ... */
  tls: tls.ConnectionOptions;
}

/**
 * Upgrades a connected plain socket. Rejects with an LdapResultError when
 * the server refuses (e.g. unavailable: it has no certificate), with a
 * ConnectError when the handshake fails (e.g. a certificate that does not
 * verify) or time runs out; the socket is destroyed then.
 */
export async function startTls(
  socket: net.Socket,
  options: StartTlsOptions,
): Promise<tls.TLSSocket> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(options)), options.timeoutMs);
  });
  try {
    await Promise.race([requestTls(socket, options.url), deadline]);
    return await Promise.race([handshake(socket, options), deadline]);
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Sends the ExtendedRequest and resolves on a success response. */
function requestTls(socket: net.Socket, url: string): Promise<void> {
  const framer = new LdapMessageFramer();
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      try {
        const messages = framer.push(chunk);
        const [message] = messages;
        if (message === undefined) return;
        if (messages.length > 1 || framer.bufferedBytes > 0) {
          throw new ProtocolError(
            `The server ${url} sent more than the StartTLS response ` +
              'before the TLS handshake; reconnect.',
          );
        }
        settle(checkResponse(decodeLdapMessage(message), url));
      } catch (error) {
        settle(error as Error);
      }
    };
    const onError = (cause: Error) => settle(failed(url, cause));
    const onClose = () => settle(failed(url, new Error('connection closed')));

    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(encodeExtendedRequest(START_TLS_MESSAGE_ID, START_TLS_OID));
  });
}

/** undefined for success; else the error to reject with. */
function checkResponse(response: LdapResponse, url: string) {
  if (response.protocolOp !== 'ExtendedResponse') {
    return new ProtocolError(
      `The server ${url} answered StartTLS with a ` +
        `${describeProtocolOp(response)}, not an ExtendedResponse.`,
    );
  }
  if (response.resultCode === ResultCode.success) return undefined;
  return new LdapResultError(
    `Cannot start TLS on ${url}`,
    response,
    'Check that the server has a certificate configured, or use ldaps://.',
  );
}

function handshake(
  socket: net.Socket,
  options: StartTlsOptions,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...options.tls, socket });
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
    const onError = (cause: Error) => {
      secure.destroy();
      reject(
        new ConnectError(
          `Cannot start TLS on ${options.url}: ${cause.message}. Check ` +
            "the server's certificate: it must be signed by a trusted CA " +
            'and name the host of the URL.',
          { cause },
        ),
      );
    };
    secure.once('error', onError);
  });
}

function failed(url: string, cause: Error): ConnectError {
  return new ConnectError(
    `Cannot start TLS on ${url}: ${cause.message} before the server ` +
      'answered the StartTLS request. Check the URL and the server log.',
    { cause },
  );
}

function timedOut(options: StartTlsOptions): ConnectError {
  return new ConnectError(
    `Cannot start TLS on ${options.url} within ${options.timeoutMs} ms. ` +
      'Check that the server is responding, or raise the connect timeout.',
  );
}
