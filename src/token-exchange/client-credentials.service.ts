import { Injectable, Logger } from '@nestjs/common';
import { ProblemException } from '../common/problem';
import { TokenEndpointClient, TokenEndpointError, identityProviderProblem } from './token-endpoint.client';

/** Seconds before expiry at which the service-account token is renewed: a quarter of its life, at most 30 s. */
export function refreshMarginS(expiresInS: number): number {
  return Math.min(30, Math.max(1, Math.floor(expiresInS / 4)));
}

/** A token is still handed out after a failed renewal while it has at least this long left. */
const MIN_REMAINING_MS = 5000;

interface ServiceToken {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

/**
 * The BFF's own service-account token (client-credentials grant as BFF_CLIENT_ID), held in
 * memory and renewed shortly before it expires. Concurrent callers share one renewal; when a
 * renewal fails while the current token is still valid, the current token keeps being used.
 * Failures are 503 identity_provider_unavailable (a refusal means the BFF is misconfigured,
 * which a caller cannot fix either).
 */
@Injectable()
export class ClientCredentialsService {
  private readonly log = new Logger('ClientCredentials');
  private current?: ServiceToken;
  private renewal?: Promise<string>;

  constructor(private readonly endpoint: TokenEndpointClient) {}

  async token(): Promise<string> {
    const current = this.current;
    if (current && Date.now() < current.refreshAt) return current.token;
    this.renewal ??= this.renew().finally(() => (this.renewal = undefined));
    return this.renewal;
  }

  private async renew(): Promise<string> {
    const started = Date.now();
    try {
      const { accessToken, expiresIn } = await this.endpoint.clientCredentials();
      const life = Math.max(0, expiresIn);
      this.current = { token: accessToken, expiresAt: started + life * 1000, refreshAt: started + (life - refreshMarginS(life)) * 1000 };
      return accessToken;
    } catch (err) {
      const current = this.current;
      if (current && current.expiresAt - Date.now() > MIN_REMAINING_MS) {
        this.log.warn(
          { event: 'client_credentials', outcome: 'renewal_failed', keptUntil: new Date(current.expiresAt).toISOString() },
          'service-account token renewal failed; the current token is still valid',
        );
        return current.token;
      }
      this.log.error({ event: 'client_credentials', outcome: 'failed', detail: (err as Error).message }, 'service-account token unavailable');
      if (err instanceof TokenEndpointError && err.kind === 'refused') {
        throw new ProblemException(503, 'identity_provider_unavailable', `service-account token: ${err.detail}`);
      }
      throw identityProviderProblem(err, 'service-account token');
    }
  }
}
