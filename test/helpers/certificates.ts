/** Self-signed certificates for the tests that put TLS in front of a node (HAProxy, nginx), made by openssl. */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificate {
  /** The certificate (PEM), to trust as a CA. */
  cert: string;
  certFile: string;
  keyFile: string;
  /** The certificate followed by its key, as HAProxy loads them. */
  pemFile: string;
}

/** A certificate for 127.0.0.1 and localhost, valid for a day, in `dir`. */
export function selfSignedCertificate(dir: string): TestCertificate {
  const keyFile = join(dir, 'chat.key');
  const certFile = join(dir, 'chat.crt');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  const cert = readFileSync(certFile, 'utf8');
  const pemFile = join(dir, 'chat.pem');
  writeFileSync(pemFile, cert + readFileSync(keyFile, 'utf8'));
  return { cert, certFile, keyFile, pemFile };
}
