/**
 * A throwaway 389 Directory Server on loopback, for the tests: the same
 * shape as scripts/slapd.ts's Slapd, so a fixture can take either.
 *
 * 389-ds is created with `dscreate from-file` in its container mode (the
 * file /data/config/container.inf), which needs no systemd. dscreate leaves
 * the server running as a daemon; this class stops it, installs the
 * project's schema (schema/389ds/99prometheus-eventqueue.ldif) in the
 * instance's schema folder, and starts it again in the foreground
 * (`ns-slapd -d 0`) as a child of this process, in its own process group.
 *
 * Container mode allows one instance, named localhost, on the machine, so
 * `start()` first takes an exclusive lock (the file LOCK_FILE, created with
 * O_EXCL) and `stop()` releases it: test files that run at the same time
 * take turns. The lock names its holder's pid and that process's start
 * time; a lock whose holder is gone (killed with SIGKILL, say) is stale and
 * is removed. Under the lock, an instance left from an earlier run is
 * stopped and removed before a new one is created.
 *
 * LIMITATION: it needs root (dscreate and the ownership of /data/run).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import {
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DIRSRV, ensureInstalled, OPENLDAP } from './packages.js';
import { projectRoot } from './slapd.js';
import { freePort, launchServer } from './loopback.js';

const run = promisify(execFile);

const NS_SLAPD = '/usr/sbin/ns-slapd';
const DSCREATE = '/usr/sbin/dscreate';
const INSTANCE = 'slapd-localhost';
const CONFIG_DIR = `/etc/dirsrv/${INSTANCE}`;
const CONTAINER_INF = '/data/config/container.inf';
const RUN_DIR = '/data/run';
const PID_FILE = `${RUN_DIR}/${INSTANCE}.pid`;
const SCHEMA_FILE = '99prometheus-eventqueue.ldif';

/** Every folder and file an instance named localhost leaves behind. */
const INSTANCE_PATHS = [
  CONFIG_DIR,
  `/var/lib/dirsrv/${INSTANCE}`,
  `/var/log/dirsrv/${INSTANCE}`,
  `/run/lock/dirsrv/${INSTANCE}`,
  PID_FILE,
  `${RUN_DIR}/${INSTANCE}.socket`,
];

/** Held by the process whose Dirsrv exists; see the comment at the top. */
const LOCK_FILE = path.join(tmpdir(), 'pe-dirsrv.lock');
/** A lock file still empty after this long was left by a crashed writer. */
const EMPTY_LOCK_STALE_MS = 5_000;
const LOCK_POLL_MS = 200;

/** How long the server may take to listen, or to exit after SIGTERM. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

export interface DirsrvOptions {
  /** Server-wide size limit for ordinary users (not the root DN). */
  sizeLimit?: number;
  /**
   * How long `start()` waits for another process's instance to be stopped.
   * @default 300_000 (five minutes)
   */
  lockTimeoutMs?: number;
}

export class Dirsrv {
  readonly rootPassword = 'throwaway-secret';
  readonly rootDN = 'cn=Directory Manager';
  readonly suffix = 'dc=example,dc=test';
  #child: ChildProcess | undefined;

  private constructor(
    /** Holds the root password file and dscreate's input. */
    readonly directory: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  /** A file holding the root password, for `-y` and `passwordFile`. */
  get rootPasswordFile(): string {
    return path.join(this.directory, 'root.secret');
  }

  /** The server's error log, where 389-ds says why it failed. */
  get errorLog(): string {
    return `/var/log/dirsrv/${INSTANCE}/errors`;
  }

  /**
   * Creates a new instance (about 8 s), installs the schema, and starts it.
   * An instance left from an earlier run is stopped and removed first.
   */
  static async start(options: DirsrvOptions = {}): Promise<Dirsrv> {
    await ensureDirsrvUsable();
    await instanceLock.acquire(options.lockTimeoutMs ?? 300_000);
    let dirsrv: Dirsrv | undefined;
    try {
      await removeInstance();
      const directory = await mkdtemp(path.join(tmpdir(), 'pe-dirsrv-'));
      dirsrv = new Dirsrv(directory, await freePort());
      await dirsrv.create();
      await haltDaemon();
      await dirsrv.installSchema();
      await dirsrv.launch();
      if (options.sizeLimit !== undefined) {
        await dirsrv.setSizeLimit(options.sizeLimit);
      }
      return dirsrv;
    } catch (error) {
      await (dirsrv?.stop() ?? instanceLock.release());
      throw error;
    }
  }

  /** Stops the server and starts it again on the same port and database. */
  async restart(): Promise<void> {
    await this.halt();
    await this.launch();
  }

  /**
   * Stops the server, removes the instance and its temporary folder, and
   * lets another process start one.
   */
  async stop(): Promise<void> {
    try {
      await this.halt();
      await removeInstance();
      await rm(this.directory, { recursive: true, force: true });
    } finally {
      await instanceLock.release();
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
    return this.tool('ldapsearch', ['-LLL', '-b', base, filter, ...attrs]);
  }

  /** Sends SIGTERM to ns-slapd and waits for it to exit. */
  async halt(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    if (child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  private async create(): Promise<void> {
    await writeFile(this.rootPasswordFile, this.rootPassword, { mode: 0o600 });
    await mkdir(path.dirname(CONTAINER_INF), { recursive: true });
    if (!existsSync(CONTAINER_INF)) await writeFile(CONTAINER_INF, '');
    await mkdir(RUN_DIR, { recursive: true });
    const { uid, gid } = await dirsrvUser();
    await chown(RUN_DIR, uid, gid);

    const inf = path.join(this.directory, 'instance.inf');
    await writeFile(inf, this.instanceInf(), { mode: 0o600 });
    try {
      await run(DSCREATE, ['from-file', inf], { timeout: 120_000 });
    } catch (error) {
      const output = (error as { stdout?: string }).stdout ?? '';
      throw new Error(
        `dscreate could not create the 389-ds instance: ${output.trim()}. ` +
          `See ${this.errorLog}.`,
        { cause: error },
      );
    }
  }

  private instanceInf(): string {
    return [
      '[general]',
      'config_version = 2',
      '[slapd]',
      'instance_name = localhost',
      `port = ${this.port}`,
      `root_dn = ${this.rootDN}`,
      `root_password = ${this.rootPassword}`,
      'self_sign_cert = False',
      '[backend-userroot]',
      `suffix = ${this.suffix}`,
      'create_suffix_entry = True',
      '',
    ].join('\n');
  }

  private async installSchema(): Promise<void> {
    const source = path.join(projectRoot, 'schema/389ds', SCHEMA_FILE);
    const target = path.join(CONFIG_DIR, 'schema', SCHEMA_FILE);
    await copyFile(source, target);
    const { uid, gid } = await dirsrvUser();
    await chown(target, uid, gid);
  }

  private async setSizeLimit(limit: number): Promise<void> {
    await this.ldapModify(
      'dn: cn=config\nchangetype: modify\n' +
        `replace: nsslapd-sizelimit\nnsslapd-sizelimit: ${limit}\n`,
    );
  }

  private async launch(): Promise<void> {
    this.#child = await launchServer({
      name: 'ns-slapd',
      program: NS_SLAPD,
      // -d 0 keeps ns-slapd in the foreground; it logs to its own files.
      args: ['-D', CONFIG_DIR, '-i', PID_FILE, '-d', '0'],
      ports: [this.port],
      timeoutMs: START_TIMEOUT_MS,
      hint: `See ${this.errorLog}.`,
    });
  }

  private async tool(name: string, args: string[], input?: string) {
    const bind = ['-x', '-H', this.url, '-D', this.rootDN];
    const all = [...bind, '-y', this.rootPasswordFile, ...args];
    const child = run(name, all, { maxBuffer: 256 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin?.end(input);
    const { stdout } = await child;
    return stdout;
  }
}

/** 389-ds-base, and ldap-utils for ldapAdd and the other tools. */
async function ensureDirsrvUsable(): Promise<void> {
  const tools = OPENLDAP.filter((each) => each.name === 'ldap-utils');
  await ensureInstalled([...DIRSRV, ...tools]);
  if (process.getuid?.() !== 0) {
    throw new Error(
      'A throwaway 389 Directory Server needs root (dscreate, /data/run); ' +
        'run the tests as root.',
    );
  }
}

/**
 * The machine-wide lock on the one instance: a file created with O_EXCL
 * holding "pid starttime" of its holder (starttime from /proc/PID/stat, so
 * that a reused pid does not keep a stale lock alive).
 */
class InstanceLock {
  #held = false;

  async acquire(timeoutMs: number): Promise<void> {
    if (this.#held) {
      throw new Error(
        'This process already has a 389 Directory Server; stop it first.',
      );
    }
    const deadline = Date.now() + timeoutMs;
    while (!(await this.tryCreate())) {
      if (await removeIfStale()) continue;
      if (Date.now() > deadline) {
        const holder = await readFile(LOCK_FILE, 'utf8').catch(() => '');
        throw new Error(
          `Another process (${holder.trim() || 'unknown'}: pid and start ` +
            `time) has held ${LOCK_FILE} for over ${timeoutMs / 1000} s ` +
            'while using the one 389 Directory Server instance. Wait for ' +
            'it, or remove the file if that process is not a test.',
        );
      }
      await sleep(LOCK_POLL_MS);
    }
    this.#held = true;
    process.once('exit', this.releaseAtExit);
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    process.removeListener('exit', this.releaseAtExit);
    if (isOurs(await readFile(LOCK_FILE, 'utf8').catch(() => ''))) {
      await rm(LOCK_FILE, { force: true });
    }
  }

  /** An exiting process cannot wait; the children die with stopOnExit. */
  private readonly releaseAtExit = (): void => {
    try {
      if (isOurs(readFileSync(LOCK_FILE, 'utf8'))) unlinkSync(LOCK_FILE);
    } catch {
      // Already gone: nothing to release.
    }
  };

  private async tryCreate(): Promise<boolean> {
    try {
      const file = await open(LOCK_FILE, 'wx', 0o644);
      await file.writeFile(`${process.pid} ${startTime(process.pid)}\n`);
      await file.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }
}

const instanceLock = new InstanceLock();

/** Removes the lock file if its holder is gone; true if it did. */
async function removeIfStale(): Promise<boolean> {
  const [text, info] = await Promise.all([
    readFile(LOCK_FILE, 'utf8').catch(() => undefined),
    stat(LOCK_FILE).catch(() => undefined),
  ]);
  if (text === undefined || info === undefined) return true; // just freed
  const [pid, started] = text.trim().split(' ');
  const stale =
    text.trim() === ''
      ? Date.now() - info.mtimeMs > EMPTY_LOCK_STALE_MS
      : startTime(Number(pid)) !== started;
  if (!stale) return false;
  // Only the file read as stale is removed: compare, then unlink.
  const again = await readFile(LOCK_FILE, 'utf8').catch(() => undefined);
  if (again === text) await rm(LOCK_FILE, { force: true });
  return true;
}

function isOurs(text: string): boolean {
  return text.trim() === `${process.pid} ${startTime(process.pid)}`;
}

/**
 * A process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), or undefined if there is no such process.
 */
function startTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; count after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Stops the daemon that dscreate (or an earlier run) left running. */
async function haltDaemon(): Promise<void> {
  const pid = await instancePid();
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isInstanceProcess(pid)) {
    if (Date.now() > deadline) {
      throw new Error(
        `ns-slapd (pid ${pid}) did not exit within ` +
          `${STOP_TIMEOUT_MS / 1000} s of SIGTERM; stop it by hand.`,
      );
    }
    await sleep(50);
  }
}

/** Stops a leftover instance named localhost and deletes its files. */
async function removeInstance(): Promise<void> {
  await haltDaemon();
  await Promise.all(
    INSTANCE_PATHS.map((each) => rm(each, { recursive: true, force: true })),
  );
}

/** The pid in the instance's pid file, if it is a live ns-slapd of it. */
async function instancePid(): Promise<number | undefined> {
  const text = await readFile(PID_FILE, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && isInstanceProcess(pid) ? pid : undefined;
}

/** Whether `pid` is an ns-slapd serving this instance (not a reused pid). */
function isInstanceProcess(pid: number): boolean {
  try {
    // /proc files are tiny; reading synchronously keeps the polling simple.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('ns-slapd') && cmdline.includes(CONFIG_DIR);
  } catch {
    return false;
  }
}

async function dirsrvUser(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    run('id', ['-u', 'dirsrv']),
    run('id', ['-g', 'dirsrv']),
  ]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
