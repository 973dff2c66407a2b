import type { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Strategy as JwtStrategy } from 'passport-jwt';
import { APP_CONFIG, type AppConfig, type IssuerConfig } from '../config/app-config';
import { AuthFailure, invalid } from './auth-failure';
import { JwksKeyStore } from './jwks-key-store';
import { hasControlChars, principalFromClaims, type Principal } from './principal';

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
const VERIFIED_CACHE_MAX = 20_000;
/** A verified token is re-verified (signature, key still published) at least this often. */
const VERIFIED_CACHE_MAX_AGE_MS = 60_000;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SAFE_KID = /^[A-Za-z0-9_.=+-]{1,128}$/;
/** Header parameters that would let a token name its own key: never honoured, always refused. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'];

interface VerifiedEntry {
  principal: Principal;
  issuer: string;
  kid?: string;
  nbf?: number;
  cachedAt: number;
}

/** base64url segment → object, refusing non-canonical encodings (one token, one cache key). */
function decodeSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw invalid(`the token ${what} is not canonical base64url`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`the token ${what} is not JSON`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid(`the token ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

type VerifyRequest = { token: string };

/**
 * Verifies bearer tokens: the trusted issuers of the configuration, each with its fixed
 * algorithms and key source, signatures and exp/nbf/iss/aud checked by passport-jwt
 * (jsonwebtoken) with keys from jwks-rsa, plus the structural checks passport-jwt does not
 * make. A successful verification is cached by the exact token string until the token
 * expires (at most a minute), so a token costs one signature check, not one per request.
 */
@Injectable()
export class TokenVerifier {
  private readonly issuers = new Map<string, { config: IssuerConfig; strategy: JwtStrategy; keys?: JwksKeyStore }>();
  private readonly verified = new Map<string, VerifiedEntry>();
  private readonly skewS: number;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.skewS = config.auth.clockSkewS;
    for (const iss of config.auth.issuers) this.issuers.set(iss.issuer, this.buildIssuer(iss));
  }

  /** The key store of the Keycloak realm (readiness checks). */
  realmKeys(): JwksKeyStore | undefined {
    return this.issuers.get(this.config.keycloak.issuer)?.keys;
  }

  /**
   * The principal of a token verified before and still valid, without any I/O or await;
   * undefined when it must be (re)verified. Throws AuthFailure when the cached token has expired.
   */
  cached(token: string): Principal | undefined {
    const hit = this.verified.get(token);
    if (!hit) return undefined;
    const state = this.freshness(hit);
    if (state === 'fresh') return hit.principal;
    this.verified.delete(token);
    if (state === 'expired') throw new AuthFailure(401, 'token_expired', 'the token has expired');
    return undefined;
  }

  /**
   * The principal of a token verified before and still fresh, or undefined — never throws and
   * changes nothing (the fast path asks first; anything but a fresh hit is left to decide()).
   */
  peek(token: string): Principal | undefined {
    const hit = this.verified.get(token);
    return hit && this.freshness(hit) === 'fresh' ? hit.principal : undefined;
  }

  private freshness(hit: VerifiedEntry): 'fresh' | 'stale' | 'expired' {
    const now = Date.now();
    const nowS = now / 1000;
    if (nowS > hit.principal.expiresAt + this.skewS) return 'expired';
    if (now - hit.cachedAt < VERIFIED_CACHE_MAX_AGE_MS && (hit.nbf === undefined || nowS + this.skewS >= hit.nbf)) return 'fresh';
    return 'stale';
  }

  /** Tokens in the verified-token cache (metrics and tests). */
  get cachedTokens(): number {
    return this.verified.size;
  }

  async verify(token: string): Promise<Principal> {
    const hit = this.cached(token);
    if (hit) return hit;
    const entry = await this.verifyFully(token);
    // Entries are in verification order, so the stale ones (due for re-verification, useless
    // until then) lead: drop them, and the cache holds about a minute of distinct tokens.
    const now = Date.now();
    for (const [key, e] of this.verified) {
      if (now - e.cachedAt < VERIFIED_CACHE_MAX_AGE_MS) break;
      this.verified.delete(key);
    }
    if (this.verified.size >= VERIFIED_CACHE_MAX) {
      // Map iteration order is insertion order: drop the oldest eighth.
      let n = VERIFIED_CACHE_MAX >> 3;
      for (const key of this.verified.keys()) {
        this.verified.delete(key);
        if (--n === 0) break;
      }
    }
    this.verified.set(token, entry);
    return entry.principal;
  }

  private async verifyFully(token: string): Promise<VerifiedEntry> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid(`the token is longer than ${MAX_TOKEN_LENGTH} characters`);
    if (!COMPACT_JWS.test(token)) throw invalid('the token is not a signed JWT in compact form');
    const [h, p, sig] = token.split('.');
    const header = decodeSegment(h, 'header');
    const payload = decodeSegment(p, 'payload');
    if (Buffer.from(sig, 'base64url').toString('base64url') !== sig) throw invalid('the token signature is not canonical base64url');

    const alg = header.alg;
    if (typeof alg !== 'string') throw invalid('the token header has no algorithm');
    for (const name of KEY_BEARING_HEADERS) {
      if (name in header) throw invalid(`the token header parameter ${name} is not accepted`);
    }
    if ('crit' in header) throw invalid('the token header names critical extensions this server does not understand');
    if (header.typ !== undefined && !(typeof header.typ === 'string' && /^(jwt|at\+jwt|application\/at\+jwt)$/i.test(header.typ))) {
      throw invalid('the token header type is not a JWT');
    }

    const iss = payload.iss;
    if (typeof iss !== 'string') throw new AuthFailure(401, 'issuer_not_trusted', 'the token has no issuer');
    const issuer = this.issuers.get(iss);
    if (!issuer) throw new AuthFailure(401, 'issuer_not_trusted', 'the token issuer is not trusted');
    if (!issuer.config.algorithms.includes(alg)) throw invalid('the token algorithm is not allowed for its issuer');
    const kid = header.kid;
    if (issuer.keys) {
      if (typeof kid !== 'string') throw invalid('the token header has no key id');
      if (!SAFE_KID.test(kid)) throw invalid('the token key id is malformed');
    }
    // Keycloak marks its token kinds: only access tokens (Bearer) are accepted, never Refresh, ID or Offline.
    const typ = payload.typ;
    if (issuer.config.kind === 'keycloak' ? typ !== 'Bearer' : typ !== undefined && typ !== 'Bearer') {
      throw invalid('only access tokens are accepted (token type is not Bearer)');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw invalid('the token has no subject');
    if (typeof payload.exp !== 'number') throw invalid('the token has no expiry');

    const claims = await this.runStrategy(issuer.strategy, token);
    for (const claim of ['preferred_username', 'email', 'name', 'sub', 'azp']) {
      const v = claims[claim];
      if (typeof v === 'string' && hasControlChars(v)) throw invalid(`the token claim ${claim} contains control characters`);
    }
    return {
      principal: principalFromClaims(claims, this.config.clientId),
      issuer: iss,
      kid: typeof kid === 'string' ? kid : undefined,
      nbf: typeof claims.nbf === 'number' ? claims.nbf : undefined,
      cachedAt: Date.now(),
    };
  }

  private buildIssuer(config: IssuerConfig) {
    const keys = config.jwksUri ? new JwksKeyStore(config.jwksUri) : undefined;
    if (keys) keys.onKeysChanged = (kids) => this.dropWithdrawn(config.issuer, kids);
    // jsonwebtoken takes a KeyObject as well as a PEM string (passport-jwt's types say string only).
    const secretOrKeyProvider = (_req: unknown, rawJwt: string, done: (err: unknown, key?: string) => void) => {
      if (!keys) return done(null, config.secret);
      const kid = decodeSegment(rawJwt.split('.')[0], 'header').kid as string;
      keys.publicKey(kid).then(
        (key: KeyObject) => done(null, key as unknown as string),
        (err) => done(err),
      );
    };
    const strategy = new JwtStrategy(
      {
        jwtFromRequest: (req: VerifyRequest) => req.token,
        secretOrKeyProvider,
        issuer: config.issuer,
        audience: this.config.auth.audiences as [string, ...string[]],
        algorithms: config.algorithms as never,
        ignoreExpiration: false,
        jsonWebTokenOptions: { clockTolerance: this.config.auth.clockSkewS },
      },
      (payload: Record<string, unknown>, done: (err: unknown, user?: unknown) => void) => done(null, payload),
    );
    return { config, strategy, keys };
  }

  /** Runs a passport-jwt strategy outside of passport's middleware: success, fail and error become a promise. */
  private runStrategy(strategy: JwtStrategy, token: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const run = Object.create(strategy) as JwtStrategy & {
        success(user: unknown): void;
        fail(info?: unknown): void;
        error(err: unknown): void;
      };
      run.success = (user) => resolve(user as Record<string, unknown>);
      run.fail = (info) => reject(this.mapJwtError(info));
      run.error = (err) => reject(this.mapJwtError(err));
      run.authenticate({ token } as never, {});
    });
  }

  private mapJwtError(err: unknown): AuthFailure {
    if (err instanceof AuthFailure) return err;
    const e = err as { name?: string; message?: string };
    if (e?.name === 'TokenExpiredError') return new AuthFailure(401, 'token_expired', 'the token has expired');
    if (e?.name === 'NotBeforeError') return invalid('the token is not yet valid');
    const msg = e?.message ?? '';
    if (msg.startsWith('jwt audience invalid')) {
      return new AuthFailure(401, 'audience_mismatch', 'the token audience is not accepted by this service');
    }
    if (msg.startsWith('jwt issuer invalid')) return new AuthFailure(401, 'issuer_not_trusted', 'the token issuer is not trusted');
    if (msg === 'invalid signature') return invalid('the token signature is invalid');
    return invalid('the token could not be verified');
  }

  private dropWithdrawn(issuer: string, publishedKids: Set<string>): void {
    for (const [token, entry] of this.verified) {
      if (entry.issuer === issuer && entry.kid && !publishedKids.has(entry.kid)) this.verified.delete(token);
    }
  }
}
