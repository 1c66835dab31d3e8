/**
 * The work connection: adds, deletes and searches through ldapjs.
 *
 * The watch has a connection of its own (see watch/), so that a long
 * persistent search never queues behind, or holds up, ordinary operations.
 */
import ldap, { type Client, type LdapError, type SearchEntry } from 'ldapjs';
import type { LdapConfig } from './config.js';
import type { DirectoryEntry } from './entry.js';

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
}

export class Directory {
  #closed = false;

  private constructor(
    private readonly client: Client,
    readonly url: string,
  ) {
    client.on('close', () => (this.#closed = true));
    client.on('error', () => (this.#closed = true));
  }

  /** False once the connection has dropped; open a new Directory then. */
  get usable(): boolean {
    return !this.#closed;
  }

  /** Connects and, when a bind DN is configured, binds. */
  static async connect(
    config: LdapConfig,
    password: string | undefined,
  ): Promise<Directory> {
    const client = await openClient(config);
    const directory = new Directory(client, config.url);
    if (config.bindDN === undefined) return directory;
    try {
      await directory.bind(config.bindDN, password ?? '');
      return directory;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  private bind(dn: string, password: string): Promise<void> {
    return this.call(
      (done) => this.client.bind(dn, password, done),
      `Cannot bind to ${this.url} as ${dn}`,
      'Check ldap.bindDN and ldap.passwordFile.',
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
      (done) => this.client.modify(dn, ldapChanges, done),
      `Cannot modify ${dn}`,
    );
  }

  /**
   * Renames or moves an entry, keeping its attributes. Only one of several
   * clients moving the same entry succeeds; the others get noSuchObject.
   */
  move(dn: string, newDN: string): Promise<void> {
    return this.call(
      (done) => this.client.modifyDN(dn, newDN, done),
      `Cannot move ${dn} to ${newDN}`,
    );
  }

  delete(dn: string): Promise<void> {
    return this.call(
      (done) => this.client.del(dn, done),
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
    return new Promise((resolve, reject) => {
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
    return new Promise((resolve, reject) => {
      operation((error) => {
        if (error === null) return resolve();
        reject(this.failed(error, what, hint));
      });
    });
  }
}

function openClient(config: LdapConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = ldap.createClient({
      url: config.url,
      connectTimeout: config.connectTimeoutMs,
      timeout: config.operationTimeoutMs,
    });
    const onError = (error: Error) => {
      client.destroy();
      reject(
        new DirectoryError(
          `Cannot connect to ${config.url}: ${error.message}. ` +
            'Check ldap.url and that the server is running.',
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
    code === undefined ? error.message : `${describeCode(error)} (${code})`;
  const next = hint === undefined ? '' : ` ${hint}`;
  return new DirectoryError(`${what}: ${detail}.${next}`, code, {
    cause: error,
  });
}

/** "InvalidCredentialsError" becomes "invalid credentials". */
function describeCode(error: LdapError): string {
  return error.name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}
