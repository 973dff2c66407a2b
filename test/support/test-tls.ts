import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';

/** A test CA and a server certificate it signed for 127.0.0.1 and localhost (also a client certificate: redis-server presents it on its cluster bus). */
export interface TestTls {
  /** The CA certificate (PEM file): what the BFF trusts (TRINO_CA_FILE). */
  caFile: string;
  key: string;
  cert: string;
}

let made: TestTls | undefined;

/** Made with openssl once per test process, in a temporary directory removed at exit. */
export function testTls(): TestTls {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'bff-test-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ca = ['-subj', '/CN=platform-bff test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-sha256', ...ca, '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', '/CN=127.0.0.1', '-keyout', 'key.pem', '-out', 'server.csr');
  writeFileSync(
    join(dir, 'server.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    'server.cnf',
    '-out',
    'cert.pem',
  );
  made = { caFile: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  return made;
}

/**
 * Trusts the test CA in this process's default CA list (fetch, https, trino-client) beside the usual
 * ones, for clients that take no CA option; returns the undo, for the test's afterAll.
 */
export function trustTestCa(): () => void {
  const before = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...before, readFileSync(testTls().caFile, 'utf8')]);
  return () => tls.setDefaultCACertificates(before);
}
