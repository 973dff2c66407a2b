import { Inject, Injectable, Logger } from '@nestjs/common';
import * as oidc from 'openid-client';
import { problem, ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** Tokens of a browser session, as the identity provider returned them. */
export interface LoginTokens {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Seconds, from `expires_in`. */
  expiresInS?: number;
  /** Seconds, from Keycloak's `refresh_expires_in` (0: no expiry of its own). */
  refreshExpiresInS?: number;
}

/** The identity provider refused a grant (invalid_grant…): the session cannot continue. */
export class LoginRejected extends Error {
  constructor(readonly error: string) {
    super(`the identity provider refused the grant (${error})`);
    this.name = 'LoginRejected';
  }
}

const TIMEOUT_S = 5;

/**
 * The BFF's browser login at the identity provider, with openid-client: discovery, the
 * authorization URL (code flow, PKCE S256, state, nonce), the code and refresh grants, and
 * RP-initiated logout. The client is BFF_LOGIN_CLIENT_ID (default BFF_CLIENT_ID), confidential,
 * authenticated with client_secret_basic. Discovery happens on first use and is retried after a
 * failure, so the BFF boots while the identity provider is down.
 */
@Injectable()
export class OidcLoginClient {
  private readonly log = new Logger('OidcLogin');
  private discovered?: Promise<oidc.Configuration>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async authorizationUrl(p: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<string> {
    const config = await this.configuration();
    return oidc
      .buildAuthorizationUrl(config, {
        redirect_uri: p.redirectUri,
        scope: 'openid profile email',
        response_type: 'code',
        state: p.state,
        nonce: p.nonce,
        code_challenge: p.codeChallenge,
        code_challenge_method: 'S256',
      })
      .toString();
  }

  /** Redeems the code of the callback URL; openid-client checks state, iss, nonce and the ID token. */
  async exchangeCode(callbackUrl: URL, checks: { codeVerifier: string; state: string; nonce: string }): Promise<LoginTokens> {
    const config = await this.configuration();
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      return toLoginTokens(tokens);
    } catch (err) {
      throw this.mapError(err, 'login');
    }
  }

  async refresh(refreshToken: string): Promise<LoginTokens> {
    const config = await this.configuration();
    try {
      return toLoginTokens(await oidc.refreshTokenGrant(config, refreshToken));
    } catch (err) {
      throw this.mapError(err, 'refresh');
    }
  }

  /** Where to send the browser to end its session at the identity provider (undefined when it has no end_session_endpoint). */
  async endSessionUrl(p: { idTokenHint?: string; postLogoutRedirectUri: string }): Promise<string | undefined> {
    let config: oidc.Configuration;
    try {
      config = await this.configuration();
    } catch {
      return undefined;
    }
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { post_logout_redirect_uri: p.postLogoutRedirectUri, client_id: this.config.session.loginClientId };
    if (p.idTokenHint) params.id_token_hint = p.idTokenHint;
    return oidc.buildEndSessionUrl(config, params).toString();
  }

  private configuration(): Promise<oidc.Configuration> {
    if (!this.discovered) {
      const issuer = new URL(this.config.keycloak.issuer);
      const { loginClientId, loginClientSecret } = this.config.session;
      this.discovered = oidc
        .discovery(issuer, loginClientId, { client_secret: loginClientSecret }, oidc.ClientSecretBasic(loginClientSecret), {
          execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
          timeout: TIMEOUT_S,
        })
        .catch((err: unknown) => {
          this.discovered = undefined;
          this.log.warn({ event: 'oidc.discovery_failed', error: (err as Error)?.message }, 'OIDC discovery failed');
          throw problem.unavailable('identity_provider_unavailable', 'the identity provider could not be reached');
        });
    }
    return this.discovered;
  }

  private mapError(err: unknown, what: string): Error {
    if (err instanceof ProblemException) return err;
    if (err instanceof oidc.ResponseBodyError) return new LoginRejected(err.error);
    if (err instanceof oidc.AuthorizationResponseError) return new LoginRejected(err.error);
    const code = (err as { code?: string })?.code;
    if (typeof code === 'string' && code.startsWith('OAUTH_')) {
      // openid-client refused the response itself: state, iss, nonce or ID token checks.
      this.log.warn({ event: `oidc.${what}_invalid`, code }, 'the identity provider response failed validation');
      return new LoginRejected(code);
    }
    this.log.warn({ event: `oidc.${what}_failed`, error: (err as Error)?.message }, 'the identity provider call failed');
    return problem.unavailable('identity_provider_unavailable', 'the identity provider could not be reached');
  }
}

function toLoginTokens(t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): LoginTokens {
  const refreshExpires = (t as { refresh_expires_in?: unknown }).refresh_expires_in;
  return {
    accessToken: t.access_token,
    refreshToken: t.refresh_token,
    idToken: t.id_token,
    expiresInS: t.expiresIn(),
    refreshExpiresInS: typeof refreshExpires === 'number' ? refreshExpires : undefined,
  };
}
