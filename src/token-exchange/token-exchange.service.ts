import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Counter } from 'prom-client';
import type { Principal } from '../auth/principal';
import { MetricsService } from '../common/metrics.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { sessionOf } from '../auth/revocation.service';
import { ExchangedTokenCache, exchangeCacheKey, type ExchangeSession } from './exchanged-token-cache';
import { SingleFlight } from './single-flight';
import { TokenEndpointClient, TokenEndpointError, identityProviderProblem } from './token-endpoint.client';

/**
 * A cached token must still be good for this long when it is handed out: the downstream's clock
 * may run ahead of ours, and the request still has to travel.
 */
export const EXCHANGE_EXPIRY_SKEW_S = 15;

/**
 * How long an exchanged token may be served from the cache (ms): the smallest of the configured
 * TOKEN_EXCHANGE_CACHE_TTL, the exchanged token's remaining life and the subject token's
 * remaining life, where both token lives are shortened by the expiry skew (the configured TTL is
 * a policy cap, not an expiry, so it is not). Zero or less: do not cache.
 */
export function exchangeCacheTtlMs(p: {
  nowMs: number;
  cacheTtlS: number;
  /** expires_in of the exchange answer. */
  exchangedExpiresInS: number;
  /** exp of the subject token (epoch seconds). */
  subjectExpiresAtS: number;
  skewS?: number;
}): number {
  const skewMs = (p.skewS ?? EXCHANGE_EXPIRY_SKEW_S) * 1000;
  return Math.floor(Math.min(p.cacheTtlS * 1000, p.exchangedExpiresInS * 1000 - skewMs, p.subjectExpiresAtS * 1000 - p.nowMs - skewMs));
}

/**
 * RFC 8693 token exchange for downstream calls: the caller's token is exchanged at Keycloak for
 * one whose audience is `${WORKSPACE_ID}-${audience}`, and cached (see ExchangedTokenCache) by
 * audience and SHA-256 of the subject token. Concurrent misses for one key share one call to
 * the identity provider. The exchanged token is only ever returned to the caller in-process: it
 * is never logged, and never part of an error.
 */
@Injectable()
export class TokenExchangeService {
  private readonly log = new Logger('TokenExchange');
  private readonly flights = new SingleFlight<string>();
  private readonly outcomes: Counter<'audience' | 'result'>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly endpoint: TokenEndpointClient,
    private readonly cache: ExchangedTokenCache,
    metrics: MetricsService,
  ) {
    this.outcomes = metrics.counter('bff_token_exchange_total', 'Token exchanges by target audience and result (cache_hit, exchanged, denied, unavailable)', [
      'audience',
      'result',
    ]);
  }

  /**
   * An exchanged token still cached for a session (issuer, sid) and a short audience, or undefined: for the
   * clean-up after that session's logout (cancelling its queries), when its own token is refused everywhere.
   */
  async cachedForSession(audience: string, session: ExchangeSession): Promise<string | undefined> {
    const prefix = `${this.targetAudience(audience)}:`;
    for (const [key, entry] of await this.cache.sessionEntries(session)) if (key.startsWith(prefix)) return entry.token;
    return undefined;
  }

  /** The full client id a short audience name stands for (e.g. trino-gw → demo-trino-gw). */
  targetAudience(audience: string): string {
    return `${this.config.workspaceId}-${audience}`;
  }

  /**
   * Exchanges the caller's token for `${WORKSPACE_ID}-${audience}` (RFC 8693), cached.
   * Throws ProblemException 403 token_exchange_denied / 503 identity_provider_unavailable.
   */
  async exchangeFor(audience: string, subjectToken: string, principal: Principal): Promise<string> {
    const target = this.targetAudience(audience);
    const key = exchangeCacheKey(target, subjectToken);
    const local = await this.cache.getLocal(key);
    if (local) {
      this.outcomes.inc({ audience: target, result: 'cache_hit' });
      return local.token;
    }
    return this.flights.run(key, async () => {
      const cached = await this.cache.get(key, sessionFor(principal));
      if (cached) {
        this.outcomes.inc({ audience: target, result: 'cache_hit' });
        return cached.token;
      }
      return this.exchange(key, target, subjectToken, principal);
    });
  }

  private async exchange(key: string, target: string, subjectToken: string, principal: Principal): Promise<string> {
    const started = Date.now();
    let accessToken: string;
    let expiresIn: number;
    try {
      ({ accessToken, expiresIn } = await this.endpoint.exchange(subjectToken, target));
    } catch (err) {
      const refused = err instanceof TokenEndpointError && err.kind === 'refused';
      this.outcomes.inc({ audience: target, result: refused ? 'denied' : 'unavailable' });
      const entry = {
        event: 'token_exchange',
        outcome: refused ? 'denied' : 'unavailable',
        sub: principal.subject,
        azp: principal.clientId,
        audience: target,
        status: err instanceof TokenEndpointError ? err.status : undefined,
        error: err instanceof TokenEndpointError ? err.oauthError : undefined,
        ms: Date.now() - started,
      };
      // 401 from the token endpoint means the BFF's own client credentials are wrong.
      if (err instanceof TokenEndpointError && err.status === 401) this.log.error(entry, 'the identity provider rejected the BFF client credentials');
      else this.log.warn(entry, 'token exchange failed');
      throw identityProviderProblem(err, `token exchange for ${target}`);
    }
    this.outcomes.inc({ audience: target, result: 'exchanged' });
    const now = Date.now();
    const ttlMs = exchangeCacheTtlMs({
      nowMs: now,
      cacheTtlS: this.config.tokenExchange.cacheTtlS,
      exchangedExpiresInS: expiresIn,
      subjectExpiresAtS: principal.expiresAt,
    });
    await this.cache.set(key, accessToken, ttlMs, sessionFor(principal));
    this.log.debug({ event: 'token_exchange', outcome: 'exchanged', sub: principal.subject, audience: target, cacheTtlMs: Math.max(0, ttlMs), ms: now - started });
    return accessToken;
  }
}

/** The identity-provider session a principal's token belongs to (its exchanges are indexed by it). */
function sessionFor(principal: Principal): ExchangeSession | undefined {
  const sid = sessionOf(principal);
  return sid === undefined ? undefined : { issuer: principal.issuer, sid };
}
