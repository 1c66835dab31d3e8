/**
 * The directory servers the benchmark measures against: a throwaway
 * OpenLDAP (scripts/slapd.ts) for syncrepl and poll, and a throwaway 389
 * Directory Server (scripts/dirsrv.ts) for Persistent Search.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Dirsrv } from '../scripts/dirsrv.js';
import { Slapd } from '../scripts/slapd.js';
import type { ServerAccess } from './consumer.js';

export interface BenchServer extends ServerAccess {
  readonly name: string;
  readonly suffix: string;
  ldapAdd(ldif: string): Promise<string>;
  stop(): Promise<void>;
}

/** A server, or why it could not be had. */
export type Started =
  { readonly server: BenchServer } | { readonly skipped: string };

export async function startOpenLdap(): Promise<BenchServer> {
  const slapd = await Slapd.start();
  return Object.assign(slapd, { name: 'OpenLDAP' });
}

/**
 * 389-ds needs root, and only one instance can exist on the machine:
 * Dirsrv.start() would remove one that a test is using, so the benchmark
 * waits a while for it to go, then skips.
 */
export async function startDirsrv(): Promise<Started> {
  if (process.getuid?.() !== 0) {
    return { skipped: '389 Directory Server needs root; run as root' };
  }
  const busy = await waitForNoInstance(120_000);
  if (busy !== undefined) {
    return {
      skipped:
        `another 389 Directory Server (ns-slapd pid ${busy}) is running, ` +
        'and only one can exist at a time',
    };
  }
  try {
    const dirsrv = await Dirsrv.start();
    return { server: Object.assign(dirsrv, { name: '389-ds' }) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { skipped: `389 Directory Server did not start: ${reason}` };
  }
}

/** Adds an empty queue under the server's suffix; returns its DN. */
export async function createQueue(
  server: BenchServer,
  name: string,
): Promise<string> {
  const base = `ou=${name},${server.suffix}`;
  await server.ldapAdd(
    `dn: ${base}\nobjectClass: organizationalUnit\nou: ${name}\n`,
  );
  return base;
}

/** Polls until no ns-slapd runs; returns the pid of one still running. */
async function waitForNoInstance(timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let pid = runningNsSlapd();
  if (pid !== undefined) {
    console.error(`Waiting for ns-slapd (pid ${pid}) to finish...`);
  }
  while (pid !== undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    pid = runningNsSlapd();
  }
  return pid;
}

function runningNsSlapd(): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc files are tiny; reading synchronously keeps this simple.
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (command.split('\0')[0]?.endsWith('ns-slapd')) return Number(name);
    } catch {
      // The process has gone.
    }
  }
  return undefined;
}
