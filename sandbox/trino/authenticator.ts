/**
 * How the coordinator authenticates a request, as Trino does: over HTTP (`none`) it trusts X-Trino-User (or a
 * Basic user without password); `basic` checks a password file's users; `jwt` verifies a Bearer token against a
 * JWKS and takes the principal from a claim. A principal may act as another X-Trino-User only when allowed
 * (impersonation rules).
 */
import type * as http from 'node:http';
import * as crypto from 'node:crypto';
import { URL } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { TokenVerification } from '../types';
import { headerValue } from './session';

export type TrinoCoordinatorAuth =
  | { mode: 'none' }
  | {
      mode: 'jwt';
      verify: TokenVerification;
      /** Claim holding the authenticated principal (Trino's jwt.principal-field); default `sub`, as in Trino. */
      principalClaim?: string;
      /** Principals allowed to run queries as another X-Trino-User. */
      impersonators?: string[];
    }
  | { mode: 'basic'; users: Record<string, string>; impersonators?: string[] };

export interface AuthOk {
  ok: true;
  principal: string;
  user: string;
  impersonationDenied: boolean;
}

export interface AuthFail {
  ok: false;
  status: number;
  message: string;
  challenge?: string;
}

export class TrinoAuthenticator {
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly auth: TrinoCoordinatorAuth) {
    if (auth.mode === 'jwt') this.jwks = createRemoteJWKSet(new URL(auth.verify.jwksUri));
  }

  async authenticate(req: http.IncomingMessage): Promise<AuthOk | AuthFail> {
    const headerUser = headerValue(req, 'x-trino-user');
    const authorization = headerValue(req, 'authorization');
    const basic = (): { user: string; password: string } | undefined => {
      const m = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return undefined;
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    };
    const finish = (principal: string, impersonators: string[]): AuthOk => {
      const user = headerUser ?? principal;
      return { ok: true, principal, user, impersonationDenied: user !== principal && !impersonators.includes(principal) };
    };

    const auth = this.auth;
    if (auth.mode === 'none') {
      const b = basic();
      const basicChallenge = 'Basic realm="Trino"';
      if (b) {
        if (b.password !== '') {
          return { ok: false, status: 401, message: 'Password not allowed for insecure authentication', challenge: basicChallenge };
        }
        if (b.user === '') return { ok: false, status: 401, message: 'Basic authentication or X-Trino-User must be sent', challenge: basicChallenge };
        return finish(b.user, []);
      }
      if (!headerUser) {
        return { ok: false, status: 401, message: 'Basic authentication or X-Trino-User must be sent', challenge: basicChallenge };
      }
      return finish(headerUser, []);
    }

    if (auth.mode === 'basic') {
      const challenge = 'Basic realm="Trino"';
      const b = basic();
      if (!b) return { ok: false, status: 401, message: 'Unauthorized', challenge };
      const expected = Object.prototype.hasOwnProperty.call(auth.users, b.user) ? auth.users[b.user] : undefined;
      const a = Buffer.from(b.password);
      const e = Buffer.from(expected ?? '');
      if (expected === undefined || a.length !== e.length || !crypto.timingSafeEqual(a, e)) {
        return { ok: false, status: 401, message: 'Access Denied: Invalid credentials', challenge };
      }
      return finish(b.user, auth.impersonators ?? []);
    }

    const challenge = 'Bearer realm="Trino", token_type="JWT"';
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m || !this.jwks) return { ok: false, status: 401, message: 'Unauthorized', challenge };
    try {
      const { payload } = await jwtVerify(m[1], this.jwks, { issuer: auth.verify.issuer, audience: auth.verify.audience });
      const claim = auth.principalClaim ?? 'sub';
      const principal = payload[claim];
      if (typeof principal !== 'string' || principal === '') {
        return { ok: false, status: 401, message: `Principal field ${claim} is missing or not a string`, challenge };
      }
      return finish(principal, auth.impersonators ?? []);
    } catch (err) {
      return { ok: false, status: 401, message: err instanceof Error ? err.message : 'Unauthorized', challenge };
    }
  }
}
