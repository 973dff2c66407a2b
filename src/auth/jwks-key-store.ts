import { createPublicKey, type KeyObject } from 'node:crypto';
import { JwksClient, type SigningKey } from 'jwks-rsa';
import { readBoundedText } from '../common/read-bounded';
import { AuthFailure, invalid } from './auth-failure';

export const JWKS_MAX_BYTES = 256 * 1024;
export const JWKS_TIMEOUT_MS = 3000;
/** A kid we have not seen triggers at most this many JWKS fetches per minute per issuer. */
export const JWKS_REFETCHES_PER_MINUTE = 10;
/** A fetched key is trusted this long; a key withdrawn from the JWKS stops working within it. */
export const JWKS_CACHE_MS = 5 * 60 * 1000;

/** Fetches a JWKS document bounded in time and size, refusing redirects. */
export async function fetchJwks(uri: string, timeoutMs = JWKS_TIMEOUT_MS): Promise<{ keys: unknown[] }> {
  const res = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
  if (!res.ok || !res.body) throw new Error(`JWKS endpoint answered ${res.status}`);
  const text = await readBoundedText(res, JWKS_MAX_BYTES, () => new Error('JWKS document too large'));
  const doc = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(doc.keys)) throw new Error('JWKS document has no keys array');
  return { keys: doc.keys };
}

/**
 * The signing keys of one asymmetric issuer (jwks-rsa): cached, an unknown kid refetches the
 * JWKS (so a rotated-in key works without a restart), refetches rate-limited, fetch bounded.
 * Also remembers which kids the last fetch listed, so verified-token cache entries signed by
 * a withdrawn key can be dropped.
 */
export class JwksKeyStore {
  private readonly client: JwksClient;
  private knownKids = new Set<string>();
  private lastFetchOk = 0;
  /** Parsed keys by PEM: jwks-rsa hands out PEM strings, and parsing one costs more than the RSA check itself. */
  private readonly parsed = new Map<string, KeyObject>();
  onKeysChanged?: (kids: Set<string>) => void;

  constructor(readonly jwksUri: string) {
    this.client = new JwksClient({
      jwksUri,
      cache: true,
      cacheMaxAge: JWKS_CACHE_MS,
      cacheMaxEntries: 20,
      rateLimit: true,
      jwksRequestsPerMinute: JWKS_REFETCHES_PER_MINUTE,
      timeout: JWKS_TIMEOUT_MS,
      fetcher: async (uri: string) => {
        const doc = await fetchJwks(uri);
        this.lastFetchOk = Date.now();
        const kids = new Set(doc.keys.map((k) => (k as { kid?: string }).kid).filter((k): k is string => typeof k === 'string'));
        const withdrawn = [...this.knownKids].some((k) => !kids.has(k));
        this.knownKids = kids;
        if (withdrawn) this.onKeysChanged?.(kids);
        return doc;
      },
    });
  }

  /** The public key for a kid, or an AuthFailure: unknown key (401) or JWKS unreachable (503). */
  async publicKey(kid: string): Promise<KeyObject> {
    let key: SigningKey;
    try {
      key = await this.client.getSigningKey(kid);
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'SigningKeyNotFoundError') throw invalid('the token was signed by an unknown key');
      if (name === 'JwksRateLimitError') throw invalid('the token was signed by an unknown key (JWKS refetch rate-limited)');
      throw new AuthFailure(503, 'identity_provider_unavailable', 'the identity provider keys cannot be fetched');
    }
    // jwks-rsa caches each key for JWKS_CACHE_MS: once a fetch shows the key withdrawn, refuse it at once.
    if (this.knownKids.size > 0 && !this.knownKids.has(kid)) throw invalid('the token was signed by a withdrawn key');
    const pem = key.getPublicKey();
    let parsed = this.parsed.get(pem);
    if (parsed === undefined) {
      if (this.parsed.size >= 20) this.parsed.clear(); // jwks-rsa keeps at most 20 keys too
      parsed = createPublicKey(pem);
      this.parsed.set(pem, parsed);
    }
    return parsed;
  }

  /** Readiness: the JWKS answered within the last minute, or answers now. */
  async reachable(): Promise<boolean> {
    if (Date.now() - this.lastFetchOk < 60_000) return true;
    try {
      await fetchJwks(this.jwksUri, 2000);
      this.lastFetchOk = Date.now();
      return true;
    } catch {
      return false;
    }
  }
}
