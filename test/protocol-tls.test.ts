import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';

import { LdapConnection } from '../agent/protocol/connection.js';
import { ConnectError } from '../agent/protocol/errors.js';

const OPTIONS = { connectTimeoutMs: 2000, keepAliveMs: 60_000 };

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI. */
function selfSignedCertificate(folder: string) {
  const key = path.join(folder, 'key.pem');
  const cert = path.join(folder, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

describe('LdapConnection over ldaps://', () => {
  let folder: string;
  let cert: Buffer;
  let server: tls.Server;
  let url: string;

  before(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'protocol-tls-'));
    const pair = selfSignedCertificate(folder);
    cert = pair.cert;
    // Reading is what lets the server see the client's FIN after Unbind.
    server = tls.createServer(pair, (socket) => {
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    const { port } = server.address() as { port: number };
    url = `ldaps://127.0.0.1:${port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(folder, { recursive: true, force: true });
  });

  it('refuses an untrusted certificate by default', async () => {
    await assert.rejects(
      LdapConnection.connect(url, OPTIONS),
      (error: unknown) =>
        error instanceof ConnectError && /certificate/.test(error.message),
    );
  });

  it('connects when the certificate is signed by the given ca', async () => {
    const connection = await LdapConnection.connect(url, {
      ...OPTIONS,
      tls: { ca: cert },
    });
    assert.equal(connection.isOpen, true);
    await connection.close();
  });

  it('accepts any certificate when rejectUnauthorized is false', async () => {
    const connection = await LdapConnection.connect(url, {
      ...OPTIONS,
      tls: { rejectUnauthorized: false },
    });
    await connection.close();
  });
});
