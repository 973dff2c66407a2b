import type { Principal } from '../auth/principal';
import { MetricsService } from '../common/metrics.service';
import { ProblemException } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { Revocations } from '../auth/revocation.service';
import { StateStore } from '../state/state-store';
import { ExchangedTokenCache, exchangeCacheKey } from './exchanged-token-cache';
import { TokenEndpointError, type TokenEndpointClient, type TokenResponse } from './token-endpoint.client';
import { EXCHANGE_EXPIRY_SKEW_S, TokenExchangeService, exchangeCacheTtlMs } from './token-exchange.service';
import { waitUntil } from '../../test/support/net';

const config = { workspaceId: 'ws', tokenExchange: { cacheTtlS: 180, timeoutMs: 3000 }, revocation: { ttlS: 3600 } } as AppConfig;
const nowS = () => Math.floor(Date.now() / 1000);
const principal = (expiresInS = 300, subject = 'user-1'): Principal => ({
  subject,
  roles: [],
  groups: [],
  issuer: 'https://idp/realms/r',
  audiences: ['platform-bff'],
  expiresAt: nowS() + expiresInS,
  claims: {},
});

/** A token endpoint that answers what the test says, counting calls and seeing every request. */
function fakeEndpoint(answer: (subject: string, audience: string) => Promise<TokenResponse>) {
  const calls: Array<{ subject: string; audience: string }> = [];
  const endpoint = {
    exchange: (subject: string, audience: string) => {
      calls.push({ subject, audience });
      return answer(subject, audience);
    },
    clientCredentials: () => Promise.reject(new Error('not used')),
  } as unknown as TokenEndpointClient;
  return { endpoint, calls };
}

function service(endpoint: TokenEndpointClient) {
  const metrics = new MetricsService();
  const revocations = new Revocations(config, new StateStore({} as AppConfig, new ValkeyClient({} as AppConfig, new ReadinessRegistry())));
  revocations.onModuleInit();
  const cache = new ExchangedTokenCache(new ValkeyClient(config, new ReadinessRegistry()), new ReadinessRegistry(), metrics, revocations);
  return { svc: new TokenExchangeService(config, endpoint, cache, metrics), cache, metrics, revocations };
}

describe('exchangeCacheTtlMs', () => {
  const base = { nowMs: 1_000_000_000, cacheTtlS: 180, exchangedExpiresInS: 300, subjectExpiresAtS: 1_000_000 + 300, skewS: 15 };
  it('is the configured TTL when both tokens live longer', () => {
    expect(exchangeCacheTtlMs(base)).toBe(180_000);
  });
  it("is the exchanged token's remaining life less the skew when that is shorter", () => {
    expect(exchangeCacheTtlMs({ ...base, exchangedExpiresInS: 60 })).toBe(45_000);
  });
  it("is the subject token's remaining life less the skew when that is shorter", () => {
    expect(exchangeCacheTtlMs({ ...base, subjectExpiresAtS: 1_000_000 + 100 })).toBe(85_000);
  });
  it('is whole milliseconds, rounded down, when expires_in is fractional', () => {
    expect(exchangeCacheTtlMs({ ...base, exchangedExpiresInS: 60.0009 })).toBe(45_000);
  });
  it('is zero or less (not cached) for a token about to expire', () => {
    expect(exchangeCacheTtlMs({ ...base, subjectExpiresAtS: 1_000_000 + 10 })).toBeLessThanOrEqual(0);
  });
  it('uses the default skew', () => {
    const { skewS: _skew, ...noSkew } = base;
    expect(exchangeCacheTtlMs({ ...noSkew, exchangedExpiresInS: 100 })).toBe((100 - EXCHANGE_EXPIRY_SKEW_S) * 1000);
  });
});

describe('exchangeCacheKey', () => {
  it('is the audience and the SHA-256 of the subject token, never the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig';
    const key = exchangeCacheKey('ws-trino-gw', token);
    expect(key).toMatch(/^ws-trino-gw:[0-9a-f]{64}$/);
    expect(key).not.toContain(token);
    expect(exchangeCacheKey('ws-ml-agent', token)).not.toBe(key);
    expect(exchangeCacheKey('ws-trino-gw', token + 'x')).not.toBe(key);
  });
});

describe('TokenExchangeService', () => {
  it('exchanges for `${WORKSPACE_ID}-${audience}` once, then serves the cache', async () => {
    const { endpoint, calls } = fakeEndpoint(async () => ({ accessToken: 'exchanged-1', expiresIn: 300 }));
    const { svc } = service(endpoint);
    expect(await svc.exchangeFor('trino-gw', 'subject-a', principal())).toBe('exchanged-1');
    expect(await svc.exchangeFor('trino-gw', 'subject-a', principal())).toBe('exchanged-1');
    expect(calls).toEqual([{ subject: 'subject-a', audience: 'ws-trino-gw' }]);
  });

  it('a logged-out session loses its cached exchanges (every audience); another session of the user keeps its own', async () => {
    const { endpoint, calls } = fakeEndpoint(async (subject, audience) => ({ accessToken: `${audience}/${subject}`, expiresIn: 300 }));
    const { svc, revocations } = service(endpoint);
    const inSession = (sid: string): Principal => ({ ...principal(), claims: { sid } });
    await svc.exchangeFor('trino', 'subject-1', inSession('sid-1'));
    await svc.exchangeFor('ml-agent', 'subject-1', inSession('sid-1'));
    await svc.exchangeFor('trino', 'subject-2', inSession('sid-2'));
    expect(await svc.cachedForSession('trino', { issuer: 'https://idp/realms/r', sid: 'sid-1' })).toBe('ws-trino/subject-1');
    await revocations.revoke({ issuer: 'https://idp/realms/r', sid: 'sid-1' });
    expect(await svc.cachedForSession('trino', { issuer: 'https://idp/realms/r', sid: 'sid-1' })).toBeUndefined();
    expect(await svc.cachedForSession('trino', { issuer: 'https://idp/realms/r', sid: 'sid-2' })).toBe('ws-trino/subject-2');
    calls.length = 0;
    await svc.exchangeFor('trino', 'subject-1', inSession('sid-1'));
    await svc.exchangeFor('ml-agent', 'subject-1', inSession('sid-1'));
    await svc.exchangeFor('trino', 'subject-2', inSession('sid-2'));
    expect(calls).toEqual([
      { subject: 'subject-1', audience: 'ws-trino' },
      { subject: 'subject-1', audience: 'ws-ml-agent' },
    ]);
  });

  it('shares one identity-provider call between concurrent misses for one key, not across keys', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { endpoint, calls } = fakeEndpoint(async (subject, audience) => {
      await gate;
      return { accessToken: `${audience}/${subject}`, expiresIn: 300 };
    });
    const { svc } = service(endpoint);
    const all = [
      ...Array.from({ length: 50 }, () => svc.exchangeFor('trino-gw', 'subject-a', principal())),
      ...Array.from({ length: 50 }, () => svc.exchangeFor('trino-gw', 'subject-b', principal())),
      ...Array.from({ length: 50 }, () => svc.exchangeFor('ml-agent', 'subject-a', principal())),
    ];
    // The three flights (one per key) have reached the identity provider, and every caller has joined one.
    await waitUntil(() => calls.length >= 3, { what: 'the identity-provider calls to start' });
    release();
    const tokens = await Promise.all(all);
    expect(calls).toHaveLength(3);
    expect(new Set(tokens.slice(0, 50))).toEqual(new Set(['ws-trino-gw/subject-a']));
    expect(new Set(tokens.slice(50, 100))).toEqual(new Set(['ws-trino-gw/subject-b']));
    expect(new Set(tokens.slice(100))).toEqual(new Set(['ws-ml-agent/subject-a']));
  });

  it('maps a refusal to 403 token_exchange_denied and does not cache it', async () => {
    const { endpoint, calls } = fakeEndpoint(async () => {
      throw new TokenEndpointError('refused', 'the identity provider refused (403 access_denied)', 403, 'access_denied');
    });
    const { svc } = service(endpoint);
    for (let i = 0; i < 2; i++) {
      const err = (await svc.exchangeFor('trino-gw', 'subject-a', principal()).catch((e: unknown) => e)) as ProblemException;
      expect(err).toBeInstanceOf(ProblemException);
      expect(err.getStatus()).toBe(403);
      expect(err.reason).toBe('token_exchange_denied');
      expect(err.detail).toBe('token exchange for ws-trino-gw: the identity provider refused (403 access_denied)');
    }
    expect(calls).toHaveLength(2);
  });

  it('maps an unavailable identity provider to 503 identity_provider_unavailable', async () => {
    const { endpoint } = fakeEndpoint(async () => {
      throw new TokenEndpointError('unavailable', 'the identity provider did not answer within 3000 ms');
    });
    const { svc } = service(endpoint);
    const err = (await svc.exchangeFor('trino-gw', 'subject-a', principal()).catch((e: unknown) => e)) as ProblemException;
    expect(err.getStatus()).toBe(503);
    expect(err.reason).toBe('identity_provider_unavailable');
  });

  it('does not cache an exchange for a subject token about to expire', async () => {
    const { endpoint, calls } = fakeEndpoint(async () => ({ accessToken: 'short', expiresIn: 5 }));
    const { svc } = service(endpoint);
    await svc.exchangeFor('trino-gw', 'subject-a', principal(5));
    await svc.exchangeFor('trino-gw', 'subject-a', principal(5));
    expect(calls).toHaveLength(2);
  });

  it('counts hits and exchanges per target audience', async () => {
    const { endpoint } = fakeEndpoint(async () => ({ accessToken: 't', expiresIn: 300 }));
    const { svc, metrics } = service(endpoint);
    await svc.exchangeFor('trino-gw', 'subject-a', principal());
    await svc.exchangeFor('trino-gw', 'subject-a', principal());
    const text = await metrics.registry.metrics();
    expect(text).toContain('bff_token_exchange_total{audience="ws-trino-gw",result="exchanged"} 1');
    expect(text).toContain('bff_token_exchange_total{audience="ws-trino-gw",result="cache_hit"} 1');
  });
});
