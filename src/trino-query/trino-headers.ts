import type { IncomingHttpHeaders } from 'node:http';
import type { AuthContext } from '../auth/auth-context';
import { headerSafeUser, type Principal } from '../auth/principal';
import { problem } from '../common/problem';
import type { TrinoCaller } from './trino.client';

export const TRINO_USER = 'x-trino-user';
export const TRINO_ORIGINAL_USER = 'x-trino-original-user';

/** The headers that say who runs a query: only the BFF sets them, from the verified token. */
const IDENTITY_HEADERS: ReadonlySet<string> = new Set([TRINO_USER, TRINO_ORIGINAL_USER]);
const TRINO_PREFIX = 'x-trino-';
/**
 * The spooling protocol's request header (the CLI and JDBC >= 466 send it by default). Not forwarded: a
 * spooled answer's segment and ack URIs name the coordinator or its object storage, which the BFF neither
 * rewrites nor owner-checks, so the BFF negotiates spooling off and Trino answers inline (`data` rows).
 */
const QUERY_DATA_ENCODING = 'x-trino-query-data-encoding';
/** Non-protocol response headers a Trino client may rely on. */
const RESPONSE_HEADERS: ReadonlySet<string> = new Set(['content-type', 'retry-after', 'cache-control']);
/**
 * The Trino user a principal runs queries as: the TRINO_USER_CLAIM claim of the verified token
 * (preferred_username by default). Undefined when the token has no usable value for it.
 */
export function trinoUserFor(principal: Principal, claim: string): string | undefined {
  return headerSafeUser(principal, claim);
}

/** The Trino identity of a verified caller; a 403 when the token has no usable TRINO_USER_CLAIM claim. */
export function trinoCallerFor(auth: AuthContext, claim: string): TrinoCaller {
  const user = trinoUserFor(auth.principal, claim);
  if (user === undefined) throw problem.forbidden('claim_missing', `the token has no usable '${claim}' claim to name the Trino user`);
  return { user, auth };
}

/**
 * The client's Trino protocol request headers to forward: every X-Trino-* header (source, catalog,
 * schema, path, session, roles, prepared statements, transaction id, client tags and info, time zone,
 * language, trace token, extra credentials, resource estimates, client capabilities...) unchanged,
 * except X-Trino-User and X-Trino-Original-User, which the BFF owns, and X-Trino-Query-Data-Encoding
 * (spooling negotiated off).
 */
export function forwardedRequestHeaders(client: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(client)) {
    if (value === undefined || !name.startsWith(TRINO_PREFIX) || IDENTITY_HEADERS.has(name) || name === QUERY_DATA_ENCODING) continue;
    out[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const agent = client['user-agent'];
  if (typeof agent === 'string') out['user-agent'] = agent;
  return out;
}

/** Identity headers the client sent with a value other than the user the BFF runs it as. */
export function claimedIdentities(client: IncomingHttpHeaders, user: string): Array<{ header: string; value: string }> {
  const out: Array<{ header: string; value: string }> = [];
  for (const header of IDENTITY_HEADERS) {
    const raw = client[header];
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (value !== user) out.push({ header, value });
  }
  return out;
}

/**
 * The coordinator's response headers a client gets: every X-Trino-* header (Set-Catalog, Set-Schema,
 * Set-Path, Set-Session, Clear-Session, Set-Role, Added-Prepare, Deallocated-Prepare,
 * Started-Transaction-Id, Clear-Transaction-Id, Set-Authorization-User...) unchanged, and the content
 * type. Hop-by-hop and length headers are not copied: the body is re-streamed. A header Trino repeats
 * (one X-Trino-Set-Session per property) arrives as the array of its values and stays repeated, never
 * comma-joined (clients would read that as one malformed value).
 */
export function returnedResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue;
    if (name.startsWith(TRINO_PREFIX) || RESPONSE_HEADERS.has(name)) out[name] = value;
  }
  return out;
}
