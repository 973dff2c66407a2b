import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { StateStore } from '../../src/state/state-store';
import { cookieHeader, formLogin } from '../platform/browser-login';
import { startTestBff, type TestBff } from '../support/app';
import { httpRequest, waitUntil } from '../support/net';
import { clientPort, startCluster, startSentinelSet, type AclUser, type RedisCluster, type SentinelSet } from '../support/redis-ha';
import { SHARED_VALKEY_ENV, type RedisServer } from '../support/redis';
import { testTls } from '../support/test-tls';

jest.setTimeout(180_000);

/*
 * Highly available Valkey as production runs it: TLS only (the BFF is given nothing but TLS ports and trusts the
 * CA of VALKEY_CA_FILE) and ACL users (VALKEY_USERNAME for the data nodes, VALKEY_SENTINEL_USERNAME for the
 * sentinels; the default user has another password the BFF does not know). Real redis-server processes on loopback.
 * Credentials Valkey refuses and a certificate the BFF does not trust fail the boot, naming the keys, never a secret.
 */

const secret = () => randomBytes(12).toString('hex');
const user = (name: string): AclUser => ({ name, password: secret() });

/** A CA that did not sign the servers' certificate (its PEM file; the directory goes with the test process). */
function otherCa(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bff-other-ca-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=another CA', '-keyout', 'ca.key', '-out', 'ca.pem'], {
    cwd: dir,
    stdio: 'ignore',
  });
  return join(dir, 'ca.pem');
}

/** The ACL user names of the clients connected to a server now. */
async function connectedUsers(server: RedisServer): Promise<string[]> {
  const list = await server.command('CLIENT', 'LIST');
  return [...list.matchAll(/ user=(\S+)/g)].map((m) => m[1]);
}

/** The boot's error (undefined when it booted: then the BFF is closed). */
async function bootError(env: Record<string, string>, sandbox: Sandbox): Promise<Error | undefined> {
  try {
    const bff = await startTestBff(env, { sandbox });
    await bff.close();
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

const sessionCall = async (bff: TestBff, jar: Parameters<typeof cookieHeader>[0]) =>
  (await httpRequest(`${bff.url}/mlflow/api/2.0/mlflow/experiments/search?max_results=1`, { headers: { cookie: cookieHeader(jar) } })).status;

describe('Valkey behind Sentinel, TLS and ACL users', () => {
  let sandbox: Sandbox;
  let set: SentinelSet;
  const dataUser = user('bff-data');
  const sentinelUser = user('bff-sentinel');

  beforeAll(async () => {
    sandbox = await startSandbox();
    set = await startSentinelSet({ password: secret(), sentinelPassword: secret(), tls: testTls(), user: dataUser, sentinelUser });
  });
  afterAll(async () => {
    await sandbox?.close();
    await set?.stop();
  });

  it('a wrong password of the sentinels’ user or an untrusted CA fails the boot, naming the keys, never a secret', async () => {
    const wrong = secret();
    const sentinelRefused = await bootError({ ...set.env, VALKEY_SENTINEL_PASSWORD: wrong }, sandbox);
    expect(sentinelRefused?.message).toMatch(/^Valkey refused the BFF's credentials .*WRONGPASS/);
    const untrusted = await bootError({ ...set.env, VALKEY_CA_FILE: otherCa() }, sandbox);
    expect(untrusted?.message).toMatch(/^TLS did not trust Valkey's certificate \(VALKEY_CA_FILE\)/);
    for (const err of [sentinelRefused, untrusted]) {
      for (const s of [wrong, dataUser.password, sentinelUser.password]) expect(err?.message).not.toContain(s);
    }
  });

  it('state written before the primary is killed is read from the promoted replica; the BFF logs in as its ACL users over TLS', async () => {
    const bff = await startTestBff({ ...set.env, BFF_SESSION_SECRET: randomBytes(32).toString('base64url'), RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
    try {
      const store = bff.app.get(StateStore);
      await waitUntil(() => store.shared, { timeoutMs: 10_000, what: 'the BFF to reach the primary' });
      const [primary, replica] = set.servers;
      expect(await connectedUsers(primary)).toContain(dataUser.name);
      const sentinelClients = (await Promise.all(set.sentinels.map(connectedUsers))).flat();
      expect(sentinelClients).toContain(sentinelUser.name);

      const admin = sandbox.issuer.users.find((u) => u.username === 'admin')!;
      const jar = await formLogin(bff.url, admin.username, admin.password);
      expect(await sessionCall(bff, jar)).toBe(200);
      await store.setJson('trino:query-owner:before-failover', { owner: 'alice' });
      expect(await primary.command('WAIT', '1', '5000')).toBe(':1');

      await primary.kill();
      await waitUntil(async () => (await set.primaryPort()) === clientPort(replica), { timeoutMs: 60_000, what: 'the sentinels to promote the replica' });
      await waitUntil(
        async () => {
          await store.setJson('failover:probe', { at: Date.now() });
          return store.shared && (await replica.command('EXISTS', 'failover:probe')) === ':1';
        },
        { timeoutMs: 30_000, what: 'the BFF to write to the promoted replica' },
      );
      expect(await replica.command('GET', 'trino:query-owner:before-failover')).toBe('{"owner":"alice"}');
      expect(await store.getJson('trino:query-owner:before-failover')).toEqual({ owner: 'alice' });
      expect(await sessionCall(bff, jar)).toBe(200);
      expect(await connectedUsers(replica)).toContain(dataUser.name);
    } finally {
      await bff.close();
    }
  });
});

describe('Valkey cluster (3 primaries), TLS and an ACL user', () => {
  let sandbox: Sandbox;
  let cluster: RedisCluster;
  const dataUser = user('bff-data');

  beforeAll(async () => {
    sandbox = await startSandbox();
    cluster = await startCluster({ password: secret(), tls: testTls(), user: dataUser });
  });
  afterAll(async () => {
    await sandbox?.close();
    await cluster?.stop();
  });

  it('a wrong password or an untrusted CA fails the boot, naming the keys, never a secret', async () => {
    const wrong = secret();
    const refused = await bootError({ ...cluster.env, VALKEY_PASSWORD: wrong }, sandbox);
    expect(refused?.message).toMatch(/^Valkey refused the BFF's credentials \(VALKEY_USERNAME\/VALKEY_PASSWORD.*WRONGPASS/);
    const untrusted = await bootError({ ...cluster.env, VALKEY_CA_FILE: otherCa() }, sandbox);
    expect(untrusted?.message).toMatch(/^TLS did not trust Valkey's certificate \(VALKEY_CA_FILE\)/);
    for (const err of [refused, untrusted]) for (const s of [wrong, dataUser.password]) expect(err?.message).not.toContain(s);
  });

  it('keys land on all three primaries and read back through a second replica; a session opened on one is served by the other', async () => {
    const env = { ...cluster.env, ...SHARED_VALKEY_ENV, BFF_SESSION_SECRET: randomBytes(32).toString('base64url'), RATE_LIMIT_PER_MINUTE: '0' };
    const a = await startTestBff(env, { sandbox });
    const b = await startTestBff(env, { sandbox });
    try {
      const [sa, sb] = [a.app.get(StateStore), b.app.get(StateStore)];
      for (const s of [sa, sb]) await waitUntil(() => s.shared, { timeoutMs: 10_000, what: 'the BFF to reach the cluster' });
      const owners = new Set<RedisServer>();
      for (let i = 0; owners.size < 3; i++) {
        expect(i).toBeLessThan(100);
        const key = `trino:query-owner:tls-${i}`;
        await sa.setJson(key, { i });
        expect(await sb.getJson(key)).toEqual({ i });
        const owner = await cluster.ownerOf(key);
        expect(await owner.command('GET', key)).toBe(`{"i":${i}}`);
        owners.add(owner);
      }
      for (const n of cluster.nodes) expect(await connectedUsers(n)).toContain(dataUser.name);
      const admin = sandbox.issuer.users.find((u) => u.username === 'admin')!;
      const jar = await formLogin(a.url, admin.username, admin.password);
      expect(await sessionCall(b, jar)).toBe(200);
      expect((await httpRequest(`${a.url}/health/ready`)).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
