/**
 * Opens the TCP or TLS socket for an ldap:// or ldaps:// URL (or ldap://
 * upgraded with StartTLS), within a deadline, with TCP keepalive so that a
 * silent persistent search notices a dead peer, and with Nagle's algorithm
 * off so small requests go out at once.
 */

import net from 'node:net';
import tls from 'node:tls';

import { ConnectError, LdapUrlError } from './errors.js';
import { startTls } from './starttls.js';

export interface LdapEndpoint {
  /** The URL without credentials, path or query, for messages. */
  url: string;
  secure: boolean;
  host: string;
  port: number;
}

export interface TlsOptions {
  /** Trusted CA certificates (PEM); the system store when omitted. */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Refuse a certificate that does not verify, or that does not name the
   * URL's host (a DNS name, or an IP address in its subjectAltName).
   * @default true
   */
  rejectUnauthorized?: boolean;
}

export interface TransportOptions {
  connectTimeoutMs: number;
  /** Idle time before the first TCP keepalive probe. */
  keepAliveMs: number;
  /**
   * For an ldap:// URL, send StartTLS and run the TLS handshake before
   * returning the socket. Ignored for ldaps://. @default false
   */
  startTLS?: boolean;
  /** Used for ldaps:// URLs and for StartTLS. */
  tls?: TlsOptions;
}

const DEFAULT_PORTS = { 'ldap:': 389, 'ldaps:': 636 } as const;

export function parseLdapUrl(text: string): LdapEndpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw invalidUrl(text, 'it is not a URL', cause);
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') {
    throw invalidUrl(text, `the scheme ${url.protocol} is not ldap or ldaps`);
  }
  if (url.hostname === '') throw invalidUrl(text, 'it has no host');

  const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    url: `${url.protocol}//${url.host}`,
    secure: url.protocol === 'ldaps:',
    host,
    port,
  };
}

/**
 * Resolves once the socket is connected and, for ldaps:// or StartTLS, TLS
 * is set up. A StartTLS the server refuses rejects with LdapResultError.
 */
export async function openSocket(
  endpoint: LdapEndpoint,
  options: TransportOptions,
): Promise<net.Socket> {
  const socket = await connectSocket(endpoint, options);
  if (endpoint.secure || options.startTLS !== true) return socket;

  return startTls(socket, {
    url: endpoint.url,
    timeoutMs: options.connectTimeoutMs,
    tls: tlsConnectOptions(endpoint, options.tls ?? {}),
  });
}

function connectSocket(
  endpoint: LdapEndpoint,
  options: TransportOptions,
): Promise<net.Socket> {
  const socket = endpoint.secure
    ? tls.connect(tlsConnectOptions(endpoint, options.tls ?? {}))
    : net.connect({ host: endpoint.host, port: endpoint.port });
  const ready = endpoint.secure ? 'secureConnect' : 'connect';

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(
        new ConnectError(
          `Cannot connect to ${endpoint.url} within ` +
            `${options.connectTimeoutMs} ms. Check that the server is ` +
            'running and reachable, or raise the connect timeout.',
        ),
      );
    }, options.connectTimeoutMs);

    const fail = (error: Error) => {
      settle();
      socket.destroy();
      reject(error);
    };
    const onError = (cause: Error) => {
      fail(
        new ConnectError(
          `Cannot connect to ${endpoint.url}: ${cause.message}. Check ` +
            'the URL, that the server is running, and (for ldaps) its ' +
            'certificate.',
          { cause },
        ),
      );
    };
    const onReady = () => {
      settle();
      socket.setKeepAlive(true, options.keepAliveMs);
      socket.setNoDelay(true);
      resolve(socket);
    };
    const settle = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off(ready, onReady);
    };

    socket.once('error', onError);
    socket.once(ready, onReady);
  });
}

/** Host name verification uses `host` (Node checks IP SANs for an IP). */
function tlsConnectOptions(
  endpoint: LdapEndpoint,
  options: TlsOptions,
): tls.ConnectionOptions {
  const connect: tls.ConnectionOptions = {
    host: endpoint.host,
    port: endpoint.port,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
  if (options.ca !== undefined) connect.ca = options.ca;
  // SNI carries host names only (RFC 6066); Node warns about an address.
  if (net.isIP(endpoint.host) === 0) connect.servername = endpoint.host;
  return connect;
}

function invalidUrl(text: string, problem: string, cause?: unknown) {
  return new LdapUrlError(
    `Cannot use the LDAP URL ${JSON.stringify(redact(text))}: ${problem}. ` +
      'Write it as ldap://host:port or ldaps://host:port.',
    cause === undefined ? undefined : { cause },
  );
}

/** Removes a password written into the URL before it is shown. */
function redact(text: string): string {
  return text.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}
