import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/** A probe that gets no HTTP answer within this counts as unreachable. */
export const PROBE_TIMEOUT_MS = 1500;
/** A probe result (either way) is reused this long; concurrent checks share one probe. */
export const PROBE_CACHE_MS = 3000;

/**
 * Whether Keycloak is reachable, for break-glass. "Unreachable" means: a GET of the realm's
 * OpenID discovery document (same server as the token endpoint and the JWKS) got no HTTP answer
 * within 1.5 s — connection refused or reset, DNS failure, timeout — or a 5xx answer. Any other
 * answer means reachable. The result is cached for 3 s, so a burst of break-glass requests costs
 * one probe, and break-glass stops being accepted at most 3 s after Keycloak is back.
 */
@Injectable()
export class IdentityProviderProbe {
  private readonly log = new Logger('IdentityProviderProbe');
  private readonly url: string;
  private last?: { at: number; reachable: boolean };
  private inFlight?: Promise<boolean>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.url = `${config.keycloak.issuer}/.well-known/openid-configuration`;
  }

  async reachable(): Promise<boolean> {
    const last = this.last;
    if (last && Date.now() - last.at < PROBE_CACHE_MS) return last.reachable;
    this.inFlight ??= this.probe().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async probe(): Promise<boolean> {
    let reachable: boolean;
    try {
      const res = await fetch(this.url, { redirect: 'manual', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await res.body?.cancel();
      reachable = res.status < 500;
    } catch {
      reachable = false;
    }
    if (this.last && this.last.reachable !== reachable) {
      this.log.warn({ event: 'identity_provider.probe', reachable }, reachable ? 'Keycloak is reachable again' : 'Keycloak is unreachable');
    }
    this.last = { at: Date.now(), reachable };
    return reachable;
  }
}
