/**
 * The work connection: adds, deletes and searches through ldapjs.
 *
 * The watch has a connection of its own (see watch/), so that a long
 * persistent search never queues behind, or holds up, ordinary operations.
 */
import ldap, { type Client, type LdapError, type SearchEntry } from 'ldapjs';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { LdapConfig } from './config.js';
import { firstRdn } from './areas.js';
import type { DirectoryEntry } from './entry.js';
import type { TlsOptions } from './protocol/transport.js';

/** LDAP result codes this project acts on (RFC 4511, appendix A). */
export const ResultCode = {
  success: 0,
  sizeLimitExceeded: 4,
  noSuchAttribute: 16,
  noSuchObject: 32,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  entryAlreadyExists: 68,
} as const;

export class DirectoryError extends Error {
  readonly code = 'EQ_LDAP';
  constructor(
    message: string,
    /** The LDAP result code, or undefined when the connection failed. */
    readonly resultCode: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One change of a modify (RFC 4511 section 4.6). */
export interface Modification {
  readonly operation: 'add' | 'delete' | 'replace';
  readonly type: string;
  /** For delete, the values to remove; none removes the attribute. */
  readonly values: readonly string[];
}

export interface SearchOptions {
  scope: 'base' | 'one' | 'sub';
  filter: string;
  attributes: string[];
  /** Page with RFC 2696 so that a server size limit does not cut results. */
  pageSize?: number;
  /** At most this many entries; more fail with sizeLimitExceeded (4). */
  sizeLimit?: number;
}

/**
 * The connection's life: open, then closed, either by close() or because
 * the connection was lost. Once closed, every operation fails at once,
 * and those outstanding when it was lost fail too: ldapjs would otherwise
 * queue them for a reconnect that never comes, and they would never end.
 */
export class Directory {
  #closed = false;
  /** Rejects each outstanding operation; see #lost. */
  readonly #outstanding = new Set<() => void>();

  private constructor(
    private readonly client: Client,
    readonly url: string,
  ) {
    client.on('close', () => this.#lost());
    client.on('error', () => this.#lost());
  }

  /** False once the connection has dropped; open a new Directory then. */
  get usable(): boolean {
    return !this.#closed;
  }

  /**
   * Connects, starts TLS when ldap.startTLS is set, and, when a bind DN is
   * configured, binds. Nothing is sent before TLS is up.
   */
  static async connect(
    config: LdapConfig,
    password: string | undefined,
  ): Promise<Directory> {
    warnIfUnverified(config);
    const client = await openClient(config);
    const directory = new Directory(client, config.url);
    try {
      if (config.startTLS) await directory.startTLS(config);
      if (config.bindDN === undefined) return directory;
      await directory.bind(config.bindDN, password ?? '');
      return directory;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  private startTLS(config: LdapConfig): Promise<void> {
    const what = `Cannot start TLS on ${this.url}`;
    return new Promise((resolve, reject) => {
      this.client.starttls(startTlsOptions(config), [], (error) => {
        if (error === null) return resolve();
        // A result code means the server refused; else the handshake failed.
        const hint =
          resultCodeOf(error) === undefined
            ? certificateAdvice(config)
            : 'Check that the server offers StartTLS (it needs a ' +
              'certificate), or use ldaps://.';
        reject(this.failed(error, what, hint));
      });
    });
  }

  private bind(dn: string, password: string): Promise<void> {
    return this.call(
      (done) => this.client.bind(dn, password, done),
      `Cannot bind to ${this.url} as ${dn}`,
      BIND_HINT,
    );
  }

  add(dn: string, attributes: Record<string, string | string[]>) {
    return this.call(
      (done) => this.client.add(dn, attributes, done),
      `Cannot add ${dn}`,
    );
  }

  /** Applies changes to one entry atomically: all or none. */
  modify(dn: string, changes: readonly Modification[]): Promise<void> {
    const ldapChanges = changes.map(
      ({ operation, type, values }) =>
        new ldap.Change({ operation, modification: { type, values } }),
    );
    return this.call(
      (done) =>
        this.client.modify(
          verbatim(dn) as unknown as string,
          ldapChanges,
          done,
        ),
      `Cannot modify ${dn}`,
    );
  }

  /**
   * Renames or moves an entry, keeping its attributes. Only one of several
   * clients moving the same entry succeeds; the others get noSuchObject.
   */
  move(dn: string, newDN: string): Promise<void> {
    const rdn = firstRdn(newDN);
    const { ModifyDNRequest } = ldap as unknown as RawMessages;
    const request = new ModifyDNRequest({
      entry: verbatim(dn),
      newRdn: verbatim(rdn),
      newSuperior: verbatim(newDN.slice(rdn.length + 1)),
      deleteOldRdn: true,
    });
    // LIMITATION: ldapjs's modifyDN() parses both DNs with @ldapjs/dn
    // 1.1.0, which drops what follows an escaped `+`, trims escaped edge
    // spaces and unescapes backslashes; so the request is built here and
    // sent through the client's internal _send, which exists in the pinned
    // ldapjs 3.0.7 (the special-character tests against slapd guard it).
    const client = this.client as unknown as RawClient;
    return this.call(
      (done) => client._send(request, [ResultCode.success], null, done),
      `Cannot move ${dn} to ${newDN}`,
    );
  }

  delete(dn: string): Promise<void> {
    return this.call(
      (done) => this.client.del(verbatim(dn) as unknown as string, done),
      `Cannot delete ${dn}`,
    );
  }

  /** Runs a search, handing each entry to `onEntry` as it arrives. */
  search(
    base: string,
    options: SearchOptions,
    onEntry: (entry: DirectoryEntry) => void,
  ): Promise<void> {
    const what = `Search of ${base} for ${options.filter} failed`;
    return this.track(what, (resolve, reject) => {
      const fail = (error: LdapError) => reject(this.failed(error, what));
      this.client.search(base, ldapjsOptions(options), (error, response) => {
        if (error !== null) return fail(error);
        response.on('searchEntry', (entry) => onEntry(toDirectoryEntry(entry)));
        response.on('error', fail);
        response.on('end', (result) => {
          const status = result?.status ?? ResultCode.success;
          if (status === ResultCode.success) return resolve();
          reject(new DirectoryError(`${what} (${status})`, status));
        });
      });
    });
  }

  /** Reads one entry, or undefined if there is none at `dn`. */
  async read(
    dn: string,
    attributes: string[],
  ): Promise<DirectoryEntry | undefined> {
    let found: DirectoryEntry | undefined;
    const options = { scope: 'base' as const, filter: '(objectClass=*)' };
    try {
      await this.search(dn, { ...options, attributes }, (entry) => {
        found = entry;
      });
    } catch (error) {
      const missing =
        error instanceof DirectoryError &&
        error.resultCode === ResultCode.noSuchObject;
      if (!missing) throw error;
    }
    return found;
  }

  /** The root DSE's supportedControl values (OIDs). */
  async supportedControls(): Promise<string[]> {
    const oids: string[] = [];
    const options = {
      scope: 'base' as const,
      filter: '(objectClass=*)',
      attributes: ['supportedControl'],
    };
    await this.search('', options, (entry) => {
      const values = entry.attributes.get('supportedcontrol') ?? [];
      oids.push(...values.map((value) => value.toString('utf8')));
    });
    return oids;
  }

  /**
   * Wraps an error. One without an LDAP result code (a timeout, a lost
   * connection) leaves this connection in doubt: it is dropped, and the
   * next operation opens another.
   */
  private failed(error: LdapError, what: string, hint?: string) {
    if (resultCodeOf(error) === undefined && !this.#closed) {
      this.#closed = true;
      this.client.destroy();
    }
    return wrap(error, what, hint);
  }

  /** Ends the connection; safe to call more than once. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.client.unbind(() => resolve()));
  }

  private call(
    operation: (done: (error: LdapError | null) => void) => void,
    what: string,
    hint?: string,
  ): Promise<void> {
    return this.track(what, (resolve, reject) => {
      operation((error) => {
        if (error === null) return resolve();
        // The hint is for what the server refused; a lost connection or a
        // timeout says nothing about, say, the credentials.
        const refused = resultCodeOf(error) !== undefined;
        reject(this.failed(error, what, refused ? hint : undefined));
      });
    });
  }

  /**
   * Runs one operation as a promise that settles however the connection
   * ends: at once if it is closed already, and when it is lost if the
   * operation is still outstanding then.
   */
  private track(
    what: string,
    start: (resolve: () => void, reject: (error: Error) => void) => void,
  ): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.url, what));
    return new Promise<void>((resolve, reject) => {
      const lose = () => reject(lostError(what));
      this.#outstanding.add(lose);
      const settle = () => this.#outstanding.delete(lose);
      start(
        () => (settle(), resolve()),
        (error) => (settle(), reject(error)),
      );
    });
  }

  /** The connection closed or failed: nothing outstanding will end well. */
  #lost(): void {
    const outstanding = [...this.#outstanding];
    this.#outstanding.clear();
    if (!this.#closed) {
      this.#closed = true;
      // Fails the requests ldapjs has queued, and any reconnect.
      this.client.destroy();
    }
    for (const lose of outstanding) lose();
  }
}

const BIND_HINT = 'Check ldap.bindDN and ldap.passwordFile.';

/** An operation asked of a connection that is closed already. */
function closedError(url: string, what: string): DirectoryError {
  return new DirectoryError(
    `${what}: the connection to ${url} is closed (it was lost or ended ` +
      'before this operation).',
    undefined,
  );
}

/** An operation outstanding when the connection was lost. */
function lostError(what: string): DirectoryError {
  return new DirectoryError(
    `${what}: the server closed the connection, or it was lost, before ` +
      'answering.',
    undefined,
  );
}

/** The TLS settings of ldap.tls, for either connection. */
export function tlsOptionsOf(config: LdapConfig): TlsOptions {
  const options: TlsOptions = { rejectUnauthorized: config.tls.verify };
  if (config.tls.ca !== undefined) options.ca = config.tls.ca;
  return options;
}

/** Whether the connection is to be encrypted: ldaps:// or StartTLS. */
export function usesTls(config: LdapConfig): boolean {
  return config.startTLS || /^ldaps:/i.test(config.url);
}

/** What to say, once, when ldap.tls.verify is false; undefined if not. */
export function unverifiedTlsWarning(config: LdapConfig): string | undefined {
  if (config.tls.verify || !usesTls(config)) return undefined;
  return (
    `ldap.tls.verify is false: the certificate of ${config.url} is not ` +
    'checked, so anyone on the path can pose as the directory and read ' +
    'the bind password. Set ldap.tls.caFile to the CA that signed it and ' +
    'remove ldap.tls.verify.'
  );
}

let warnedUnverified = false;

/** Prints the warning on stderr once per process (as Node warnings are). */
function warnIfUnverified(config: LdapConfig): void {
  const warning = unverifiedTlsWarning(config);
  if (warning === undefined || warnedUnverified) return;
  warnedUnverified = true;
  process.emitWarning(warning, { code: 'EQ_TLS_UNVERIFIED' });
}

/**
 * For ldapjs's starttls, which hands these to tls.connect with the socket:
 * without `host` Node would check the certificate against "localhost".
 * SNI takes host names only (RFC 6066), so not for an IP address.
 */
function startTlsOptions(config: LdapConfig): ConnectionOptions {
  const host = new URL(config.url).hostname.replace(/^\[(.*)\]$/, '$1');
  const options: ConnectionOptions = { ...tlsOptionsOf(config), host };
  if (net.isIP(host) === 0) options.servername = host;
  return options;
}

function certificateAdvice(config: LdapConfig): string {
  const ca =
    config.tls.caFile === undefined
      ? 'the system CA store'
      : `ldap.tls.caFile (${config.tls.caFile})`;
  return (
    "The server's certificate must be signed by a CA in " +
    `${ca} and name the host of ldap.url.`
  );
}

/**
 * A DN that ldapjs sends exactly as written: it takes any object tagged
 * LdapDn and writes its toString().
 */
function verbatim(dn: string) {
  return { [Symbol.toStringTag]: 'LdapDn', toString: () => dn };
}

interface RawMessages {
  ModifyDNRequest: new (options: object) => unknown;
}

interface RawClient {
  _send(
    request: unknown,
    expect: number[],
    emitter: null,
    done: (error: LdapError | null) => void,
  ): void;
}

function openClient(config: LdapConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = ldap.createClient({
      url: config.url,
      connectTimeout: config.connectTimeoutMs,
      timeout: config.operationTimeoutMs,
      tlsOptions: tlsOptionsOf(config),
    });
    const onError = (error: Error) => {
      client.destroy();
      const hint =
        'Check ldap.url and that the server is running.' +
        (/^ldaps:/i.test(config.url) ? ` ${certificateAdvice(config)}` : '');
      reject(
        new DirectoryError(
          `Cannot connect to ${config.url}: ${error.message}. ${hint}`,
          undefined,
          { cause: error },
        ),
      );
    };
    client.once('error', onError);
    client.once('connectTimeout', onError);
    client.once('connect', () => {
      client.removeListener('error', onError);
      resolve(client);
    });
  });
}

function ldapjsOptions(options: SearchOptions) {
  return {
    scope: options.scope,
    filter: options.filter,
    attributes: options.attributes,
    sizeLimit: options.sizeLimit ?? 0,
    paged:
      options.pageSize === undefined
        ? false
        : { pageSize: options.pageSize, pagePause: false },
  };
}

function toDirectoryEntry(entry: SearchEntry): DirectoryEntry {
  const attributes = new Map<string, Buffer[]>();
  for (const attribute of entry.attributes) {
    attributes.set(attribute.type.toLowerCase(), attribute.buffers);
  }
  return { dn: entry.objectName.toString(), attributes };
}

/** ldapjs's own failures that no server sent, though they carry code 80. */
const CLIENT_FAILURES = new Set(['ConnectionError', 'TimeoutError']);

/** The result code the server sent, or undefined if none was received. */
function resultCodeOf(error: LdapError): number | undefined {
  if (CLIENT_FAILURES.has(error.name)) return undefined;
  return typeof error.code === 'number' ? error.code : undefined;
}

function wrap(error: LdapError, what: string, hint?: string): DirectoryError {
  const code = resultCodeOf(error);
  const detail =
    code === undefined
      ? describeClientFailure(error)
      : `${describeCode(error)} (${code})`;
  const next = hint === undefined ? '' : ` ${hint}`;
  return new DirectoryError(`${what}: ${detail}.${next}`, code, {
    cause: error,
  });
}

/**
 * A failure no server sent, in words: ldapjs says "1__ldap://host:389
 * closed" for a lost connection and "request timeout (client interrupt)"
 * when ldap.operationTimeout passed.
 */
function describeClientFailure(error: LdapError): string {
  switch (error.name) {
    case 'ConnectionError':
      return 'the server closed the connection, or it was lost';
    case 'TimeoutError':
      return 'the server did not answer within ldap.operationTimeout';
    default:
      return error.message;
  }
}

/** "InvalidCredentialsError" becomes "invalid credentials". */
function describeCode(error: LdapError): string {
  return error.name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}
