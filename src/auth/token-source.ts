import { AuthFailure } from './auth-failure';

/** Where a door accepts a token from (DESIGN.md: token sources). */
export interface TokenSources {
  /** The Authorization header (Bearer). Always accepted. */
  authorization?: string | string[];
  /** `access-token` query values: only WebSocket upgrades and the ext-authz endpoints. */
  queryTokens?: Array<string | undefined>;
  /** The `token` JSON body field: only /api/auth. */
  bodyToken?: unknown;
}

const BEARER = /^Bearer ([^\s]+)$/i;

/**
 * The single token a request presents, undefined when none, or an AuthFailure:
 * a malformed Bearer header is 401, two different tokens in one request are 400.
 */
export function extractToken(src: TokenSources): string | undefined {
  const found: string[] = [];
  const auth = Array.isArray(src.authorization) ? src.authorization[0] : src.authorization;
  if (auth !== undefined && auth !== '') {
    const space = auth.indexOf(' ');
    const scheme = space < 0 ? auth : auth.slice(0, space);
    if (scheme.length === 6 && scheme.toLowerCase() === 'bearer') {
      const m = BEARER.exec(auth);
      if (!m) throw new AuthFailure(401, 'token_invalid', 'malformed Authorization header (expected "Bearer <token>")');
      found.push(m[1]);
    }
    // Other schemes (Basic for break-glass) are not token sources.
  }
  for (const q of src.queryTokens ?? []) if (q) found.push(q);
  if (src.bodyToken !== undefined && src.bodyToken !== null && src.bodyToken !== '') {
    if (typeof src.bodyToken !== 'string') throw new AuthFailure(400, 'validation_failed', 'the token body field must be a string');
    found.push(src.bodyToken);
  }
  if (found.length === 0) return undefined;
  if (found.some((t) => t !== found[0])) {
    throw new AuthFailure(400, 'ambiguous_token', 'the request carries more than one different token');
  }
  return found[0];
}

/** All values of one query parameter in a raw URL (or path + query). */
export function queryValues(url: string | undefined, name: string): string[] {
  if (!url) return [];
  const q = url.indexOf('?');
  if (q < 0) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll(name);
}
