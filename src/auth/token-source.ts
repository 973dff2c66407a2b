import { AuthFailure } from './auth-failure';

/** Where a door accepts a token from (DESIGN.md: token sources). */
export interface TokenSources {
  /** The Authorization header (Bearer). Always accepted. */
  authorization?: string | string[];
  /** `access-token` query values: only WebSocket upgrades and the ext-authz endpoints. */
  queryTokens?: Array<string | undefined>;
  /** The `token` JSON body field: only /api/auth. */
  bodyToken?: unknown;
  /**
   * A `?ticket=` of the agent WebSocket upgrade, as a gateway check sees it: only /api/auth (see
   * presentedWsTicket). The decider checks it without consuming it; the upgrade itself redeems it.
   */
  wsTicket?: PresentedWsTicket;
}

/** A ws-ticket shown to /api/auth for the upgrade of one agent's conversation WebSocket. */
export interface PresentedWsTicket {
  agentId: string;
  ticket: string;
  /** More than one ticket value in one URI, or different ones across the URIs: refused as two tokens are. */
  ambiguous: boolean;
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

/**
 * The ws-ticket a gateway check is shown: the `ticket` query value of the original request when that
 * request is the WebSocket upgrade of /api/agents/:id/react — method GET, and every original path
 * given (the /api/auth suffix, X-Original-URI, X-Forwarded-Uri) is that path of one agent, exactly as
 * written (no normalisation: a ticket opens that one path and nothing else). Undefined when no ticket
 * is shown, or when it is shown with any other method or path: it then authorises nothing, and the
 * request is decided on its other credentials (none: 401 token_missing).
 *
 * `uris` are path-and-query strings; empty paths (the bare /api/auth) name no path. `method` is the
 * original method (X-Original-Method, else the check's own method, as Envoy keeps it). The parameter
 * is matched by its literal name `ticket`, as a proxy matches it (nginx's $arg_ticket), never a
 * percent-encoded spelling: a proxy cannot be made to route a ticket the check saw elsewhere than
 * to the BFF that redeems it.
 */
export function presentedWsTicket(uris: Array<string | undefined>, method: string | undefined): PresentedWsTicket | undefined {
  let agentId: string | undefined;
  const values: string[] = [];
  let ambiguous = false;
  for (const uri of uris) {
    if (!uri) continue;
    const path = uri.split('?')[0];
    if (path !== '' && path !== '/') {
      const m = AGENT_UPGRADE_PATH.exec(path);
      if (!m || (agentId !== undefined && agentId !== m[1])) return undefined;
      agentId = m[1];
    }
    const here = literalQueryValues(uri, 'ticket');
    if (here.length > 1) ambiguous = true;
    values.push(...here);
  }
  if (values.length === 0 || agentId === undefined || (method ?? 'GET').toUpperCase() !== 'GET') return undefined;
  if (values.some((v) => v !== values[0])) ambiguous = true;
  return { agentId, ticket: values[0], ambiguous };
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
