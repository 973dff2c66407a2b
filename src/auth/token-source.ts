import { AuthFailure } from './auth-failure';

/** Where a door accepts a token from (README: Authentication, token sources). */
export interface TokenSources {
  /** The Authorization header (Bearer). Always accepted. */
  authorization?: string | string[];
  /** `access-token` query values: only WebSocket upgrades and the ext-authz endpoints. */
  queryTokens?: Array<string | undefined>;
  /** The `token` JSON body field: only /api/auth. */
  bodyToken?: unknown;
  /**
   * A `?ticket=` of the agent WebSocket upgrade, as a gateway check sees it: only /api/auth (see
   * originalUriCredentials). The decider checks it without consuming it; the upgrade itself redeems it.
   */
  wsTicket?: PresentedWsTicket;
}

/** A ws-ticket shown to /api/auth for the upgrade of one agent's conversation WebSocket. */
export interface PresentedWsTicket {
  agentId: string;
  ticket: string;
  /** More than one ticket value in one URI, or different ones across the URIs: refused as two tokens are. */
  ambiguous: boolean;
  /** The upgrade itself consumes the ticket; a gateway check (unset) only checks it. */
  redeem?: boolean;
}

/** The agent conversation WebSocket, exactly as written: the one path a ws-ticket opens. */
const AGENT_UPGRADE_PATH = /^\/api\/agents\/([A-Za-z0-9-]{1,64})\/react$/;

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

/** The credentials the original request of a gateway check carries in its URI (see originalUriCredentials). */
export interface OriginalUriCredentials {
  /** `access-token` query values. */
  accessTokens: string[];
  wsTicket?: PresentedWsTicket;
}

/**
 * What the original URIs of a gateway check (/api/auth) present as credentials: `access-token` and
 * `ticket` query values count only when the original request is the WebSocket upgrade of
 * /api/agents/:id/react — method GET, and every original URI given (the /api/auth suffix as Envoy
 * appends it, and the one header the configured gateway sets) is that path of one agent, exactly as
 * written (no normalisation: a credential in a URL opens that one path and nothing else). On any
 * other method or path, a REST route included, nothing in the URI counts, and the request is decided
 * on its other credentials (none: 401 token_missing).
 *
 * `uris` are path-and-query strings. `method` is the original method as the gateway gives it. The
 * ticket is matched by its literal name `ticket`, as a proxy matches it (nginx's $arg_ticket), never
 * a percent-encoded spelling: a proxy cannot be made to route a ticket the check saw elsewhere than
 * to the BFF that redeems it.
 */
export function originalUriCredentials(uris: readonly string[], method: string): OriginalUriCredentials {
  if (uris.length === 0 || method.toUpperCase() !== 'GET') return { accessTokens: [] };
  let agentId: string | undefined;
  for (const uri of uris) {
    const m = AGENT_UPGRADE_PATH.exec(uri.split('?')[0]);
    if (!m || (agentId !== undefined && agentId !== m[1])) return { accessTokens: [] };
    agentId = m[1];
  }
  const accessTokens = uris.flatMap((u) => queryValues(u, 'access-token'));
  const tickets = uris.map((u) => literalQueryValues(u, 'ticket'));
  const values = tickets.flat();
  if (values.length === 0) return { accessTokens };
  const ambiguous = tickets.some((here) => here.length > 1) || values.some((v) => v !== values[0]);
  return { accessTokens, wsTicket: { agentId: agentId!, ticket: values[0], ambiguous } };
}

/** Values of a query parameter whose name is written literally (not percent-encoded); values are decoded. */
function literalQueryValues(uri: string, name: string): string[] {
  const q = uri.indexOf('?');
  if (q < 0) return [];
  const out: string[] = [];
  for (const part of uri.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if ((eq < 0 ? part : part.slice(0, eq)) !== name) continue;
    out.push(new URLSearchParams(`v=${eq < 0 ? '' : part.slice(eq + 1)}`).get('v') ?? '');
  }
  return out;
}
