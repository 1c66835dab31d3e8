/**
 * Certificates made by the tests with the openssl CLI, in a temporary
 * folder: a CA, a server certificate it signs for 127.0.0.1 and localhost,
 * one it signs for another host name only, and a second CA that signed
 * nothing the servers use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface KeyPair {
  certificateFile: string;
  keyFile: string;
}

export interface TestCertificates {
  folder: string;
  /** The CA that signed `server` and `wrongHost`. */
  caFile: string;
  /** For IP:127.0.0.1 and DNS:localhost. */
  server: KeyPair;
  /** Signed by the same CA, for DNS:elsewhere.example only. */
  wrongHost: KeyPair;
  /** A CA that signed neither. */
  otherCaFile: string;
  remove(): void;
}

export function makeCertificates(): TestCertificates {
  const folder = mkdtempSync(path.join(tmpdir(), 'pe-tls-'));
  const ca = makeCa(folder, 'ca', 'Event queue test CA');
  const other = makeCa(folder, 'other-ca', 'Some other CA');
  return {
    folder,
    caFile: ca.certificateFile,
    server: issue(folder, ca, 'server', 'IP:127.0.0.1,DNS:localhost'),
    wrongHost: issue(folder, ca, 'wrong-host', 'DNS:elsewhere.example'),
    otherCaFile: other.certificateFile,
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

function makeCa(folder: string, name: string, commonName: string): KeyPair {
  const pair = files(folder, name);
  openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
    ...['-subj', `/CN=${commonName}`],
    ...['-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ...['-keyout', pair.keyFile, '-out', pair.certificateFile],
  );
  return pair;
}

function issue(
  folder: string,
  ca: KeyPair,
  name: string,
  subjectAltName: string,
): KeyPair {
  const pair = files(folder, name);
  const request = path.join(folder, `${name}.csr`);
  const extensions = path.join(folder, `${name}.ext`);
  writeFileSync(
    extensions,
    [
      `subjectAltName=${subjectAltName}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  openssl(
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`],
    ...['-keyout', pair.keyFile, '-out', request],
  );
  openssl(
    ...['x509', '-req', '-in', request, '-days', '2', '-CA'],
    ...[ca.certificateFile, '-CAkey', ca.keyFile, '-CAcreateserial'],
    ...['-extfile', extensions, '-out', pair.certificateFile],
  );
  return pair;
}

function files(folder: string, name: string): KeyPair {
  return {
    certificateFile: path.join(folder, `${name}.pem`),
    keyFile: path.join(folder, `${name}.key`),
  };
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}
