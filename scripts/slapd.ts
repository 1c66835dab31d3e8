/**
 * A throwaway OpenLDAP server on loopback, for the tests and the demo.
 *
 * Each server has its own temporary directory, configuration file and port,
 * loads the project's schema from `schema/prometheus-eventqueue.schema`, and
 * has the `syncprov` overlay so that RFC 4533 consumers can watch it. It runs
 * in the foreground as a child of this process (`slapd -d 0`), so stopping
 * this process stops it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, launchServer } from './loopback.js';
import { ensureInstalled, OPENLDAP } from './packages.js';

const run = promisify(execFile);

const SLAPD = '/usr/sbin/slapd';
const SYSTEM_SCHEMA = ['core', 'cosine', 'inetorgperson', 'nis'];

/** The repository's top folder, from dist/scripts or scripts. */
export const projectRoot = findProjectRoot();

export interface SlapdOptions {
  /** Naming context. @default 'dc=example,dc=test' */
  suffix?: string;
  /** Server-wide size limit for ordinary users (not the root DN). */
  sizeLimit?: number;
  /** Keep the database here instead of a new temporary folder. */
  directory?: string;
  /** Extra slapd.conf lines placed after `database mdb` (ACLs, limits). */
  databaseConfig?: string;
  /** Extra lines for the global section, e.g. `security simple_bind=1`. */
  globalConfig?: string;
  /**
   * A certificate for the server: it then offers StartTLS on `url` and
   * also listens on `ldapsUrl`.
   */
  tls?: SlapdTls;
  /**
   * With `tls`: refuse every operation outside TLS (`security tls=1`);
   * this class's own tools (ldapadd, ...) then use StartTLS.
   */
  requireTLS?: boolean;
}

/** PEM files, as slapd.conf's TLSCACertificateFile and friends. */
export interface SlapdTls {
  caFile: string;
  certificateFile: string;
  keyFile: string;
}

export class Slapd {
  readonly rootPassword = 'throwaway-secret';
  #child: ChildProcess | undefined;

  private constructor(
    readonly directory: string,
    readonly port: number,
    readonly suffix: string,
    private readonly ownsDirectory: boolean,
    /** The ldaps:// port, when the server has a certificate. */
    readonly tlsPort?: number,
    readonly tls?: SlapdTls,
    private readonly requireTLS = false,
  ) {}

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** The ldaps:// URL; only for a server started with `tls`. */
  get ldapsUrl(): string {
    if (this.tlsPort === undefined) {
      throw new Error('This slapd was started without tls: no ldaps://');
    }
    return `ldaps://127.0.0.1:${this.tlsPort}`;
  }

  get rootDN(): string {
    return `cn=admin,${this.suffix}`;
  }

  /** A file holding the root password, for `-y` and `passwordFile`. */
  get rootPasswordFile(): string {
    return path.join(this.directory, 'root.secret');
  }

  static async start(options: SlapdOptions = {}): Promise<Slapd> {
    await ensureSlapdInstalled();
    const suffix = options.suffix ?? 'dc=example,dc=test';
    const directory =
      options.directory ?? (await mkdtemp(path.join(tmpdir(), 'pe-slapd-')));
    const port = await freePort();
    const tlsPort =
      options.tls === undefined ? undefined : await otherFreePort(port);
    const slapd = new Slapd(
      directory,
      port,
      suffix,
      options.directory === undefined,
      tlsPort,
      options.tls,
      options.requireTLS,
    );
    await slapd.writeConfig(options);
    await slapd.launch();
    await slapd.ldapAdd(suffixEntry(suffix));
    return slapd;
  }

  /** Stops the server and starts it again on the same port and database. */
  async restart(): Promise<void> {
    await this.halt();
    await this.launch();
  }

  /** Stops the server and removes its temporary folder. */
  async stop(): Promise<void> {
    await this.halt();
    if (this.ownsDirectory) {
      await rm(this.directory, { recursive: true, force: true });
    }
  }

  ldapAdd(ldif: string): Promise<string> {
    return this.tool('ldapadd', [], ldif);
  }

  ldapModify(ldif: string): Promise<string> {
    return this.tool('ldapmodify', [], ldif);
  }

  ldapDelete(dn: string): Promise<string> {
    return this.tool('ldapdelete', [dn]);
  }

  ldapSearch(base: string, filter: string, ...attrs: string[]) {
    const options = ['-LLL', '-o', 'ldif-wrap=no', '-b', base];
    return this.tool('ldapsearch', [...options, filter, ...attrs]);
  }

  /** Sends SIGTERM and waits for the server to exit. */
  async halt(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    // A server that died of a signal (a crash) has no exit code either.
    if (child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  private async writeConfig(options: SlapdOptions): Promise<void> {
    await mkdir(path.join(this.directory, 'db'), { recursive: true });
    await writeFile(this.rootPasswordFile, this.rootPassword, { mode: 0o600 });
    await writeFile(this.configFile, this.config(options));
  }

  private get configFile(): string {
    return path.join(this.directory, 'slapd.conf');
  }

  private config(options: SlapdOptions): string {
    const schema = SYSTEM_SCHEMA.map(
      (name) => `include /etc/ldap/schema/${name}.schema`,
    );
    const ours = path.join(projectRoot, 'schema/prometheus-eventqueue.schema');
    const limit = options.sizeLimit;
    const tls = options.tls;
    return [
      ...schema,
      `include ${ours}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload syncprov',
      `pidfile ${path.join(this.directory, 'slapd.pid')}`,
      `argsfile ${path.join(this.directory, 'slapd.args')}`,
      limit === undefined ? '' : `sizelimit ${limit}`,
      ...(tls === undefined
        ? []
        : [
            `TLSCACertificateFile ${tls.caFile}`,
            `TLSCertificateFile ${tls.certificateFile}`,
            `TLSCertificateKeyFile ${tls.keyFile}`,
            options.requireTLS === true ? 'security tls=1' : '',
          ]),
      options.globalConfig ?? '',
      'database mdb',
      'maxsize 1073741824',
      `suffix "${this.suffix}"`,
      `rootdn "${this.rootDN}"`,
      `rootpw ${this.rootPassword}`,
      `directory ${path.join(this.directory, 'db')}`,
      'index objectClass eq',
      'index entryCSN,entryUUID eq',
      options.databaseConfig ?? '',
      'overlay syncprov',
      'syncprov-checkpoint 100 10',
      'syncprov-sessionlog 10000',
      '',
    ].join('\n');
  }

  private async launch(): Promise<void> {
    const listen =
      this.tlsPort === undefined
        ? `${this.url}/`
        : `${this.url}/ ${this.ldapsUrl}/`;
    this.#child = await launchServer({
      name: 'slapd',
      program: SLAPD,
      args: ['-d', '0', '-f', this.configFile, '-h', listen],
      ports:
        this.tlsPort === undefined ? [this.port] : [this.port, this.tlsPort],
      timeoutMs: 15_000,
    });
  }

  private async tool(name: string, args: string[], input?: string) {
    const bind = ['-x', '-H', this.url, '-D', this.rootDN];
    const tls = this.requireTLS ? this.tls : undefined;
    const startTLS = tls === undefined ? [] : ['-ZZ'];
    const all = [...bind, ...startTLS, '-y', this.rootPasswordFile, ...args];
    const env =
      tls === undefined
        ? process.env
        : { ...process.env, LDAPTLS_CACERT: tls.caFile };
    const child = run(name, all, { maxBuffer: 256 * 1024 * 1024, env });
    if (input !== undefined) child.child.stdin?.end(input);
    const { stdout } = await child;
    return stdout;
  }
}

/** Installs Debian's slapd and ldap-utils when missing (see packages.ts). */
export function ensureSlapdInstalled(): Promise<void> {
  return ensureInstalled(OPENLDAP);
}

/** A free port other than `taken`, which is free too until slapd binds it. */
async function otherFreePort(taken: number): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port !== taken) return port;
  }
}

function suffixEntry(suffix: string): string {
  const [rdn] = suffix.split(',');
  const [type, value] = (rdn ?? '').split('=');
  const objectClass = type === 'o' ? 'organization' : 'dcObject';
  const extra =
    type === 'dc' ? ['objectClass: organization', `o: ${value}`] : [];
  return [
    `dn: ${suffix}`,
    `objectClass: ${objectClass}`,
    `${type}: ${value}`,
    ...extra,
    '',
  ].join('\n');
}

function findProjectRoot(): string {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error('package.json not found');
    folder = parent;
  }
  return folder;
}

export function startSlapd(options?: SlapdOptions): Promise<Slapd> {
  return Slapd.start(options);
}
