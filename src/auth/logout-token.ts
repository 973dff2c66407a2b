import { Inject, Injectable } from '@nestjs/common';
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { AuthFailure } from './auth-failure';
import { TokenVerifier, MAX_TOKEN_LENGTH } from './token-verifier.service';
import { createHash } from 'node:crypto';

/** The event a logout token carries (OpenID Connect Back-Channel Logout 1.0, §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token issued longer ago than this is refused (Keycloak gives them two minutes). */
export const LOGOUT_TOKEN_MAX_AGE_S = 120;

/** What a verified logout token asks for: end session `sid`, or every session of user `sub`. */
export interface LogoutRequest {
  issuer: string;
  sid?: string;
  sub?: string;
  /** Epoch seconds. */
  iat: number;
  /** The client it was sent for. */
  audience: string;
}

const refused = (detail: string) => new AuthFailure(400, 'token_invalid', detail);

/**
 * Verifies a back-channel logout token like any token of the realm — the realm's issuer, signature
 * by a key of its JWKS (the same key store as access tokens), the realm's algorithms — plus the
 * spec's own rules (§2.6): `typ` logout+jwt, an `events` claim with the back-channel logout event,
 * `sid` and/or `sub`, no `nonce`, `iat` within LOGOUT_TOKEN_MAX_AGE_S, `exp` when present, `aud` one
 * of BACKCHANNEL_LOGOUT_CLIENTS, and `jti` used once (recorded in the StateStore, so a token replayed
 * to another replica is refused too).
 */
@Injectable()
export class LogoutTokenVerifier {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly verifier: TokenVerifier,
    private readonly state: StateStore,
  ) {}

  async verify(token: string): Promise<LogoutRequest> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw refused('logout_token is missing or too long');
    const keys = this.verifier.realmKeys();
    const realm = this.config.auth.issuers.find((i) => i.issuer === this.config.keycloak.issuer);
    if (!keys || !realm) throw refused('this BFF has no realm whose logouts it takes');
    let payload: JWTPayload;
    let header: JWTHeaderParameters;
    try {
      ({ payload, protectedHeader: header } = await jwtVerify(
        token,
        async (h) => {
          if (typeof h.kid !== 'string') throw refused('the logout token header has no key id');
          return keys.publicKey(h.kid);
        },
        {
          issuer: realm.issuer,
          audience: this.config.revocation.backchannelClients,
          algorithms: realm.algorithms,
          typ: 'logout+jwt',
          maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
          clockTolerance: this.config.auth.clockSkewS,
          requiredClaims: ['iat', 'jti'],
        },
      ));
    } catch (err) {
      throw this.mapError(err);
    }
    for (const name of ['jku', 'x5u', 'jwk', 'x5c', 'crit']) if (name in header) throw refused(`the logout token header parameter ${name} is not accepted`);
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' && !Array.isArray(events) ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw refused('the logout token has no back-channel logout event');
    if ('nonce' in payload) throw refused('a logout token carries no nonce');
    const sid = nonEmpty(payload.sid);
    const sub = nonEmpty(payload.sub);
    if (sid === undefined && sub === undefined) throw refused('the logout token names neither a session (sid) nor a user (sub)');
    const jti = nonEmpty(payload.jti);
    if (jti === undefined) throw refused('the logout token has no jti');
    const aud = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).find(
      (a) => typeof a === 'string' && this.config.revocation.backchannelClients.includes(a),
    )!;
    // Single use, across replicas: the first to count the jti takes it; it is remembered as long as the token could be fresh.
    const jtiKey = `logout-token:jti:${createHash('sha256').update(`${realm.issuer}\n${jti}`).digest('hex')}`;
    const uses = await this.state.incrBy(jtiKey, 1, (LOGOUT_TOKEN_MAX_AGE_S + 2 * this.config.auth.clockSkewS) * 1000);
    if (uses !== 1) throw refused('this logout token was already used');
    return { issuer: realm.issuer, sid, sub, iat: payload.iat!, audience: aud };
  }

  private mapError(err: unknown): AuthFailure {
    if (err instanceof AuthFailure) return err.status === 503 ? err : refused(err.detail.replace(/^the token/, 'the logout token'));
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'aud') return refused('the logout token is not for a client whose back-channel logout this BFF serves');
      if (err.claim === 'iss') return refused('the logout token issuer is not the realm');
      if (err.claim === 'typ') return refused('the logout token type is not logout+jwt');
      if (err.claim === 'iat') return refused('the logout token is too old or not yet valid');
      return refused(`the logout token claim ${err.claim} is not valid`);
    }
    if (err instanceof errors.JWTExpired) return refused('the logout token has expired');
    if (err instanceof errors.JOSEAlgNotAllowed) return refused('the logout token algorithm is not allowed for the realm');
    if (err instanceof errors.JWSSignatureVerificationFailed) return refused('the logout token signature is invalid');
    return refused('the logout token could not be verified');
  }
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : undefined);
