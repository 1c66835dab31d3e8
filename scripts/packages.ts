/**
 * The Debian packages of the directory servers the tests and the demo
 * start. Installed with apt-get when missing and this process is root;
 * otherwise the error says what to run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A package, and a file whose presence shows it is installed. */
export interface ServerPackage {
  readonly name: string;
  readonly provides: string;
}

export const OPENLDAP: readonly ServerPackage[] = [
  { name: 'slapd', provides: '/usr/sbin/slapd' },
  { name: 'ldap-utils', provides: '/usr/bin/ldapadd' },
];

export const DIRSRV: readonly ServerPackage[] = [
  { name: '389-ds-base', provides: '/usr/sbin/ns-slapd' },
];

export async function ensureInstalled(
  packages: readonly ServerPackage[],
): Promise<void> {
  const missing = packages.filter((each) => !existsSync(each.provides));
  if (missing.length === 0) return;
  const names = missing.map((each) => each.name);
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${names.join(', ')} not installed. As root, run: ` +
        `apt-get install -y ${names.join(' ')}`,
    );
  }
  console.error(`Installing ${names.join(', ')} with apt-get...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const options = { env, maxBuffer: 64 * 1024 * 1024 };
  await run('apt-get', ['update'], options);
  await run('apt-get', ['install', '-y', ...names], options);
}

// Run directly (npm test does, before the test files start in parallel),
// it installs every server the tests use, so no two files race for dpkg.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensureInstalled([...OPENLDAP, ...DIRSRV]);
}
