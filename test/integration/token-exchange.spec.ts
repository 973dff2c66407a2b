import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { decodeJwt } from 'jose';
import { createApp } from '../../src/app.factory';
import { AuditLog } from '../../src/audit/audit-log.service';
import { TokenVerifier } from '../../src/auth/token-verifier.service';
import { ProblemException } from '../../src/common/problem';
import { createRootLogger } from '../../src/common/logging';
import { loadConfig, type Env } from '../../src/config/load-config';
import { ClientCredentialsService } from '../../src/token-exchange/client-credentials.service';
import { ExchangedTokenCache, TOKEN_CACHE_NAMESPACE } from '../../src/token-exchange/exchanged-token-cache';
import { EXCHANGE_EXPIRY_SKEW_S, TokenExchangeService } from '../../src/token-exchange/token-exchange.service';
import type { TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';
import { SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(45_000);

const ROUTE = '/trino/gateway/backend/all';
const GW_AUDIENCE = 'demo-trino-gw';

/** The Valkey key of an exchange, as ExchangedTokenCache writes it: namespace, audience, SHA-256 of the subject token. */
const valkeyKey = (audience: string, subjectToken: string) => `${TOKEN_CACHE_NAMESPACE}::${audience}:${createHash('sha256').update(subjectToken).digest('hex')}`;

describe('token exchange (RFC 8693) with a Valkey cache', () => {
  let sandbox: Sandbox;
  let redis: RedisServer;
  let gw: TrinoGatewayEmulator;
  const running: TestBff[] = [];

  /** The issuer counts exchanges per (sub, audience) since it started: tests read the count since their own baseline. */
  const total = (token: string, audience: string) => sandbox.issuer.stats.exchanges.get(`${decodeJwt(token).sub}|${audience}`) ?? 0;
  const baseline = new Map<string, number>();
  const exchanges = (token: string, audience = GW_AUDIENCE) => total(token, audience) - (baseline.get(`${decodeJwt(token).sub}|${audience}`) ?? 0);
  const token = (user = 'alice', expiresInS?: number) => sandbox.issuer.issueToken({ user, expiresInS });

  async function bff(env: Env = {}): Promise<TestBff> {
    const b = await startTestBff(env, { sandbox });
    running.push(b);
    return b;
  }
  async function sharedBff(env: Env = {}): Promise<TestBff> {
    const b = await bff({ VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, ...env });
    await waitUntil(() => b.app.get(ExchangedTokenCache).sharedAvailable, { timeoutMs: 5000, what: 'the token cache to reach Valkey' });
    return b;
  }
  const get = async (b: { url: string }, subjectToken: string) => {
    const res = await fetch(`${b.url}${ROUTE}`, { headers: { authorization: `Bearer ${subjectToken}` } });
    return { status: res.status, text: await res.text() };
  };
  const redisGet = (key: string) => redis.command('GET', key);
  const redisPttl = async (key: string) => Number((await redis.command('PTTL', key)).slice(1));

  beforeAll(async () => {
    [sandbox, redis] = await Promise.all([startSandbox(), startRedis()]);
    gw = sandbox.servers.find((s) => s.name === 'trino-gateway')!.server as TrinoGatewayEmulator;
  });
  beforeEach(() => {
    baseline.clear();
    for (const [key, n] of sandbox.issuer.stats.exchanges) baseline.set(key, n);
  });
  afterEach(async () => {
    sandbox.issuer.setAvailability({ down: false, slowMs: 0, held: false });
    for (const b of running.splice(0)) await b.close();
  });
  afterAll(async () => {
    await sandbox?.close();
    await redis?.stop();
  });

  it('miss, then hit: one exchange, cached in Valkey under the audience and the SHA-256 of the subject token, with the TTL rule', async () => {
    const b = await sharedBff();
    const subject = await token('alice');
    expect((await get(b, subject)).status).toBe(200);
    expect(exchanges(subject)).toBe(1);

    const key = valkeyKey(GW_AUDIENCE, subject);
    const stored = await redisGet(key);
    expect(stored).not.toBe('(nil)');
    expect(stored).not.toContain(subject); // the value is the exchanged token, never the caller's
    const exchanged = gw.authorizationHeaders.at(-1)!.slice('Bearer '.length);
    expect(stored).toContain(exchanged);
    // Subject and exchanged token live 300 s: the TTL is TOKEN_EXCHANGE_CACHE_TTL (180 s).
    const pttl = await redisPttl(key);
    expect(pttl).toBeGreaterThan(175_000);
    expect(pttl).toBeLessThanOrEqual(180_000);

    for (let i = 0; i < 5; i++) expect((await get(b, subject)).status).toBe(200);
    expect(exchanges(subject)).toBe(1);
    // Every call carried the same exchanged token.
    expect(new Set(gw.authorizationHeaders.slice(-6))).toEqual(new Set([`Bearer ${exchanged}`]));
  });

  it("the TTL is bounded by the subject token's remaining life, less the skew", async () => {
    const b = await sharedBff();
    const subject = await token('alice', 60);
    expect((await get(b, subject)).status).toBe(200);
    const pttl = await redisPttl(valkeyKey(GW_AUDIENCE, subject));
    expect(pttl).toBeGreaterThan((60 - EXCHANGE_EXPIRY_SKEW_S - 3) * 1000);
    expect(pttl).toBeLessThanOrEqual((60 - EXCHANGE_EXPIRY_SKEW_S) * 1000);
  });

  it('an entry expires after TOKEN_EXCHANGE_CACHE_TTL: the next call exchanges again', async () => {
    // 3 s, not 1: the second call must find the entry still there, and at 1 s a loaded machine could let it expire
    // between the two calls (then two exchanges before the wait below).
    const b = await sharedBff({ TOKEN_EXCHANGE_CACHE_TTL: '3' });
    const subject = await token('alice');
    expect((await get(b, subject)).status).toBe(200);
    expect(await redisPttl(valkeyKey(GW_AUDIENCE, subject))).toBeLessThanOrEqual(3000);
    expect((await get(b, subject)).status).toBe(200);
    expect(exchanges(subject)).toBe(1);
    // Valkey drops the entry when its TTL runs out: wait for that, not for a guessed time.
    await waitUntil(async () => (await redisGet(valkeyKey(GW_AUDIENCE, subject))) === '(nil)', {
      timeoutMs: 10_000,
      what: 'the exchanged token to expire in Valkey',
    });
    expect((await get(b, subject)).status).toBe(200);
    expect(exchanges(subject)).toBe(2);
  });

  it('two BFF instances sharing one Valkey share exchanged tokens', async () => {
    const [one, two] = [await sharedBff(), await sharedBff()];
    const subject = await token('viewer');
    expect((await get(one, subject)).status).toBe(200);
    expect((await get(two, subject)).status).toBe(200);
    expect((await get(two, subject)).status).toBe(200);
    expect(exchanges(subject)).toBe(1);
    const [a, b2, c] = gw.authorizationHeaders.slice(-3);
    expect(a).toBe(b2);
    expect(b2).toBe(c);
  });

  it('200 concurrent cold requests make one IdP exchange', async () => {
    const b = await sharedBff();
    const subject = await token('admin');
    const answers = await Promise.all(Array.from({ length: 200 }, () => get(b, subject)));
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(exchanges(subject)).toBe(1);
  });

  it('a token exchanged for one user or one audience is never served to another', async () => {
    const b = await sharedBff();
    const alice = await token('alice');
    const admin = await token('admin');
    gw.clearRequests();
    // Interleaved, concurrent, cold for both: each call must reach the gateway with its own caller's exchange.
    const calls = Array.from({ length: 40 }, (_, i) => get(b, i % 2 === 0 ? alice : admin));
    expect((await Promise.all(calls)).every((a) => a.status === 200)).toBe(true);
    const subs = gw.authorizationHeaders.map((h) => decodeJwt(h.slice(7)).sub);
    expect(subs.filter((s) => s === decodeJwt(alice).sub)).toHaveLength(20);
    expect(subs.filter((s) => s === decodeJwt(admin).sub)).toHaveLength(20);

    // A second token of the same user is its own cache entry (keyed by the token, not the user).
    const alice2 = await token('alice');
    expect((await get(b, alice2)).status).toBe(200);
    expect(exchanges(alice2)).toBe(2);

    // One subject token, two audiences: two exchanges, two different tokens, each with its own audience.
    const service = b.app.get(TokenExchangeService);
    const principal = await b.app.get(TokenVerifier).verify(alice);
    const forGateway = await service.exchangeFor('trino-gw', alice, principal);
    const forAgent = await service.exchangeFor('ml-agent', alice, principal);
    expect(forGateway).not.toBe(forAgent);
    expect(decodeJwt(forGateway).aud).toBe('demo-trino-gw');
    expect(decodeJwt(forAgent).aud).toBe('demo-ml-agent');
    expect(decodeJwt(forAgent).sub).toBe(decodeJwt(alice).sub);
    expect(await service.exchangeFor('ml-agent', alice, principal)).toBe(forAgent);
    expect(exchanges(alice, 'demo-ml-agent')).toBe(1);
  });

  it('Valkey killed and restarted mid-test: no 500, memory fallback logged once, recovery by itself', async () => {
    const logs = spyNestLogs();
    const logged = await startLoggedBff(sandbox, { VALKEY_URL: redis.url });
    try {
      const cache = logged.app.get(ExchangedTokenCache);
      await waitUntil(() => cache.sharedAvailable, { timeoutMs: 5000, what: 'Valkey' });
      const warm = await token('alice');
      expect((await get(logged, warm)).status).toBe(200);
      expect(await redisGet(valkeyKey(GW_AUDIENCE, warm))).not.toBe('(nil)');

      await redis.kill();
      await waitUntil(() => !cache.sharedAvailable, { timeoutMs: 5000, what: 'the cache to notice Valkey is gone' });
      const cold = await token('admin');
      for (let i = 0; i < 5; i++) {
        expect((await get(logged, warm)).status).toBe(200);
        expect((await get(logged, cold)).status).toBe(200);
      }
      expect(exchanges(warm)).toBe(1);
      expect(exchanges(cold)).toBe(1); // cached in memory meanwhile

      await redis.restart(); // a fresh, empty server on the same port
      await waitUntil(() => cache.sharedAvailable, { timeoutMs: 10_000, what: 'the cache to reconnect to Valkey' });
      const after = await token('viewer');
      expect((await get(logged, after)).status).toBe(200);
      expect(await redisGet(valkeyKey(GW_AUDIENCE, after))).not.toBe('(nil)');
      expect((await get(logged, warm)).status).toBe(200);
      expect(exchanges(warm)).toBe(1);

      expect(logs.events().filter((e) => e === 'token_cache.degraded')).toHaveLength(1);
      expect(logs.events().filter((e) => e === 'token_cache.recovered')).toHaveLength(1);
      expect(logs.calls.filter((c) => c.level === 'error' || c.level === 'fatal')).toEqual([]);
      expect(logged.lines().filter((l) => l.level >= 50)).toEqual([]);
    } finally {
      logs.restore();
      await logged.close();
    }
  });

  it('Valkey hung (SIGSTOP): requests answer within the command timeout from memory, and Valkey is used again once it answers', async () => {
    const b = await sharedBff({ VALKEY_COMMAND_TIMEOUT_MS: '500' }); // the default: this test is about the timeout
    const cache = b.app.get(ExchangedTokenCache);
    const warm = await token('alice');
    expect((await get(b, warm)).status).toBe(200);
    const pid = redis.process!.pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const cold = await token('admin');
      // Answered while Valkey is still stopped: the request did not wait for it.
      expect((await get(b, cold)).status).toBe(200);
      expect(cache.sharedAvailable).toBe(false); // paused after the timed-out command
      expect((await get(b, cold)).status).toBe(200);
      expect((await get(b, warm)).status).toBe(200);
      expect(exchanges(cold)).toBe(1);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitUntil(() => cache.sharedAvailable, { timeoutMs: 5000, what: 'Valkey to be used again' });
    const later = await token('viewer');
    expect((await get(b, later)).status).toBe(200);
    await waitUntil(async () => (await redisGet(valkeyKey(GW_AUDIENCE, later))) !== '(nil)', { what: 'the entry in Valkey' });
  });

  it('IdP down: warm entries keep serving, cold ones get 503 identity_provider_unavailable after the timeout, not after the IdP', async () => {
    // 2 s, not tighter: the warm entry's own exchange, answered at once by the IdP, is made under this limit too.
    const b = await bff({ TOKEN_EXCHANGE_TIMEOUT_MS: '2000' });
    const warm = await token('alice');
    expect((await get(b, warm)).status).toBe(200);

    const admin = await token('admin');
    sandbox.issuer.setAvailability({ held: true });
    const cold = await get(b, admin);
    // Answered while the IdP still holds the exchange: the BFF's own timeout answered.
    expect(sandbox.issuer.heldRequests).toBe(1);
    expect(cold.status).toBe(503);
    expect(JSON.parse(cold.text)).toMatchObject({ reason: 'identity_provider_unavailable', status: 503 });
    expect((await get(b, warm)).status).toBe(200);

    sandbox.issuer.setAvailability({ down: true, slowMs: 0, held: false });
    const refused = await get(b, await token('viewer'));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text).reason).toBe('identity_provider_unavailable');
    expect((await get(b, warm)).status).toBe(200);
    expect(exchanges(warm)).toBe(1);
  });

  it('IdP refusals (400/401/403) are 403 token_exchange_denied', async () => {
    // 401: the BFF's client credentials are wrong.
    const misconfigured = await bff({ BFF_CLIENT_SECRET: 'not-the-secret' });
    const res = await get(misconfigured, await token('alice'));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ reason: 'token_exchange_denied' });

    // 400: an audience the realm does not know.
    const b = await bff();
    const subject = await token('alice');
    const principal = await b.app.get(TokenVerifier).verify(subject);
    const err = await b.app
      .get(TokenExchangeService)
      .exchangeFor('no-such-service', subject, principal)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemException);
    expect((err as ProblemException).getStatus()).toBe(403);
    expect((err as ProblemException).reason).toBe('token_exchange_denied');
    expect((err as ProblemException).detail).toContain('demo-no-such-service');

    // 403: the subject token is not for the BFF (Keycloak V2: the requester must be in its aud).
    const foreign = await sandbox.issuer.issueToken({ user: 'alice', claims: { aud: ['account'], azp: 'someone-else' } });
    const foreignPrincipal = { ...principal, expiresAt: Math.floor(Date.now() / 1000) + 300 };
    const denied = await b.app
      .get(TokenExchangeService)
      .exchangeFor('trino-gw', foreign, foreignPrincipal)
      .catch((e: unknown) => e);
    expect((denied as ProblemException).reason).toBe('token_exchange_denied');
    expect((denied as ProblemException).detail).toContain('403 access_denied');
  });

  it("the BFF's service-account token: client credentials, cached, kept while still valid when the IdP fails", async () => {
    const b = await bff();
    const service = b.app.get(ClientCredentialsService);
    const before = sandbox.issuer.stats.grants.client_credentials ?? 0;
    const [first, second] = await Promise.all([service.token(), service.token()]);
    expect(first).toBe(second);
    expect(await service.token()).toBe(first);
    expect(sandbox.issuer.stats.grants.client_credentials).toBe(before + 1);
    const claims = decodeJwt(first);
    // As Keycloak: the service account is a user of its own (a UUID subject), named service-account-<client id>.
    expect(claims.preferred_username).toBe('service-account-platform-bff');
    expect(claims.azp).toBe('platform-bff');
    expect(claims.aud).toBe('platform-bff');

    const misconfigured = await bff({ BFF_CLIENT_SECRET: 'not-the-secret' });
    const err = await misconfigured.app
      .get(ClientCredentialsService)
      .token()
      .catch((e: unknown) => e);
    expect((err as ProblemException).getStatus()).toBe(503);
    expect((err as ProblemException).reason).toBe('identity_provider_unavailable');
  });

  it('neither the subject token nor the exchanged token appears in any log line or audit event', async () => {
    const logs = spyNestLogs();
    const logged = await startLoggedBff(sandbox, { VALKEY_URL: redis.url });
    try {
      await waitUntil(() => logged.app.get(ExchangedTokenCache).sharedAvailable, { timeoutMs: 5000, what: 'Valkey' });
      const audit: string[] = [];
      logged.app.get(AuditLog).subscribe((e) => audit.push(JSON.stringify(e)));
      const admin = await token('admin');
      gw.clearRequests();
      expect((await get(logged, admin)).status).toBe(200);
      const add = await fetch(`${logged.url}/trino/gateway/backend/modify/update`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'trino-logged', proxyTo: 'http://127.0.0.1:9999' }),
      });
      expect(add.status).toBe(200);
      sandbox.issuer.setAvailability({ down: true });
      expect((await get(logged, await token('viewer'))).status).toBe(503);

      const exchanged = gw.authorizationHeaders.map((h) => h.slice(7));
      expect(exchanged.length).toBeGreaterThan(0);
      const text = logged.raw();
      expect(text).toContain('"channel":"audit"'); // the audit channel writes through the app's root logger
      expect(logs.events()).toEqual(expect.arrayContaining(['token_exchange']));
      const nest = logs.text();
      for (const secret of [admin, ...exchanged]) {
        expect(text).not.toContain(secret);
        expect(nest).not.toContain(secret);
        for (const e of audit) expect(e).not.toContain(secret);
      }
    } finally {
      logs.restore();
      await logged.close();
    }
  });
});

/**
 * Every call made through Nest's Logger, with its arguments as given (before any redaction).
 * Spied on the class, not read from an output stream: nestjs-pino keeps one root logger per
 * module registry, so Nest's logs of a second app in a test file go to the first app's stream.
 */
function spyNestLogs() {
  const calls: Array<{ level: string; args: unknown[] }> = [];
  const spies = (['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] as const).map((level) =>
    jest.spyOn(Logger.prototype, level).mockImplementation(function (this: Logger, ...args: unknown[]) {
      calls.push({ level, args });
    }),
  );
  return {
    calls,
    events: () => calls.map((c) => (c.args[0] as { event?: string } | undefined)?.event).filter((e): e is string => typeof e === 'string'),
    text: () => calls.map((c) => JSON.stringify(c.args)).join('\n'),
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

/** The BFF in-process with its root logger (LOG_LEVEL=debug: request lines, audit channel) captured. */
async function startLoggedBff(sandbox: Sandbox, env: Env) {
  const chunks: string[] = [];
  const config = loadConfig({ NODE_ENV: 'test', ...sandbox.env, LOG_LEVEL: 'debug', ...env });
  const app: NestFastifyApplication = await createApp(config, { logger: createRootLogger(config, { write: (s: string) => void chunks.push(s) }) });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { level: number; event?: string; msg?: string }),
    close: () => app.close(),
  };
}
