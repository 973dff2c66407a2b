import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { problem, ProblemException } from '../common/problem';
import { UpstreamTransport } from '../common/upstream-transport';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Token endpoint answers larger than this are not read (a token response is a few kB). */
const MAX_RESPONSE_BYTES = 256 * 1024;
const OAUTH_ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A token endpoint answer the BFF can use. The token itself is never logged or returned to a client. */
export interface TokenResponse {
  accessToken: string;
  /** Seconds the token is valid for, as the identity provider said when it issued it. */
  expiresIn: number;
}

/**
 * Why the token endpoint gave no token: `refused` (it answered 400/401/403: the exchange or the
 * client is not allowed) or `unavailable` (unreachable, too slow, 5xx, or an unusable answer).
 */
export class TokenEndpointError extends Error {
  constructor(
    readonly kind: 'refused' | 'unavailable',
    /** Safe description: never a token, never a secret. */
    readonly detail: string,
    readonly status?: number,
    /** The OAuth `error` code of a refusal (e.g. access_denied), when it has a sane shape. */
    readonly oauthError?: string,
    /**
     * The identity provider refused the subject token itself (Keycloak: 400 invalid_request "Invalid token"),
     * e.g. because its session ended with a logout: the caller's token is no good any more.
     */
    readonly subjectRejected = false,
  ) {
    super(detail);
    this.name = 'TokenEndpointError';
  }
}

/**
 * The BFF's client of Keycloak's token endpoint (/realms/{realm}/protocol/openid-connect/token): RFC 8693 standard token
 * exchange (V2) and the client-credentials grant, authenticated as BFF_CLIENT_ID with
 * client_secret_basic. Every call is bounded by TOKEN_EXCHANGE_TIMEOUT_MS.
 */
@Injectable()
export class TokenEndpointClient implements OnApplicationShutdown {
  private readonly endpoint: string;
  private readonly clientAuth: string;
  private readonly timeoutMs: number;
  private readonly transport: UpstreamTransport;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.endpoint = config.keycloak.tokenEndpoint;
    // RFC 6749 §2.3.1: client id and secret are form-urlencoded before the Basic encoding.
    const pair = `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`;
    this.clientAuth = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    this.timeoutMs = config.tokenExchange.timeoutMs;
    this.transport = new UpstreamTransport({ name: 'the identity provider', headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.transport.close();
  }

  /**
   * RFC 8693: the subject token exchanged for an access token whose `aud` is `audience` (the full client id).
   * Keycloak only narrows `aud` to audiences the BFF client's own mappers give, so the exchange also asks for
   * the realm's client scope of the same name (an optional scope of the BFF client with that audience mapper):
   * any WORKSPACE_ID's audiences work once the realm has them, and no other token of the BFF carries them.
   */
  exchange(subjectToken: string, audience: string): Promise<TokenResponse> {
    return this.post(
      new URLSearchParams({
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_token_type: ACCESS_TOKEN_TYPE,
        audience,
        scope: audience,
      }),
    );
  }

  /** The BFF's own service-account token. */
  clientCredentials(): Promise<TokenResponse> {
    return this.post(new URLSearchParams({ grant_type: 'client_credentials' }));
  }

  private async post(form: URLSearchParams): Promise<TokenResponse> {
    let res: { status: number; text: string };
    try {
      res = await this.transport.fetchText(
        {
          method: 'POST',
          url: this.endpoint,
          headers: { authorization: this.clientAuth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form.toString(),
        },
        MAX_RESPONSE_BYTES,
      );
    } catch (err) {
      const timeout = err instanceof ProblemException && err.getStatus() === 504;
      if (timeout) throw new TokenEndpointError('unavailable', `the identity provider did not answer within ${this.timeoutMs} ms`);
      throw new TokenEndpointError('unavailable', 'the identity provider is unreachable');
    }
    const text = res.text;
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      const { code, description } = oauthError(text);
      const subjectRejected = res.status === 400 && code === 'invalid_request' && description === SUBJECT_TOKEN_INVALID && form.get('subject_token') !== null;
      throw new TokenEndpointError('refused', `the identity provider refused (${res.status}${code ? ` ${code}` : ''})`, res.status, code, subjectRejected);
    }
    if (res.status !== 200) throw new TokenEndpointError('unavailable', `the identity provider answered ${res.status}`, res.status);
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new TokenEndpointError('unavailable', 'the identity provider answered a malformed body', res.status);
    }
    if (typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      throw new TokenEndpointError('unavailable', 'the identity provider answered without an access token', res.status);
    }
    const expiresIn = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? body.expires_in : 0;
    return { accessToken: body.access_token, expiresIn };
  }
}

/** Keycloak's error_description when it will not exchange the subject token (expired, or its session ended). */
const SUBJECT_TOKEN_INVALID = 'Invalid token';

function oauthError(text: string): { code?: string; description?: string } {
  try {
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
    return {
      code: typeof body?.error === 'string' && OAUTH_ERROR_CODE.test(body.error) ? body.error : undefined,
      description: typeof body?.error_description === 'string' ? body.error_description : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * The problem a client sees when the identity provider gave no token: a refusal is
 * 403 token_exchange_denied, anything else 503 identity_provider_unavailable.
 */
export function identityProviderProblem(err: unknown, what: string): ProblemException {
  if (err instanceof ProblemException) return err;
  if (err instanceof TokenEndpointError && err.subjectRejected) {
    return problem.unauthorized('token_invalid', `${what}: the identity provider no longer accepts the token (its session may have ended): log in again`);
  }
  if (err instanceof TokenEndpointError && err.kind === 'refused') {
    return new ProblemException(403, 'token_exchange_denied', `${what}: ${err.detail}`);
  }
  const detail = err instanceof TokenEndpointError ? err.detail : 'the identity provider failed';
  return new ProblemException(503, 'identity_provider_unavailable', `${what}: ${detail}`);
}
