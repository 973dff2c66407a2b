/**
 * Who the caller is, as proven by a verified token. The raw token is never part of it:
 * it stays in the request's AuthContext (see auth-context.ts) and off anything serialised or logged.
 */
export interface Principal {
  subject: string;
  username?: string;
  email?: string;
  name?: string;
  roles: readonly string[];
  groups: readonly string[];
  issuer: string;
  /** azp: the client the token was issued to. */
  clientId?: string;
  audiences: readonly string[];
  /** Epoch seconds. */
  expiresAt: number;
  /** Every verified claim, for the few rules that name a claim by configuration (TRINO_USER_CLAIM). */
  claims: Readonly<Record<string, unknown>>;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export const hasControlChars = (v: string): boolean => CONTROL_CHARS.test(v);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Builds the principal from verified claims (Keycloak's claim shapes: preferred_username, email, realm_access.roles, azp). */
export function principalFromClaims(claims: Record<string, unknown>, bffClientId: string): Principal {
  const realmRoles = strings((claims.realm_access as { roles?: unknown } | undefined)?.roles);
  const resourceAccess = (claims.resource_access ?? {}) as Record<string, { roles?: unknown }>;
  const clientRoles = strings(resourceAccess[bffClientId]?.roles);
  const roleClaim = typeof claims.role === 'string' ? [claims.role] : strings(claims.role);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : strings(claims.aud);
  return Object.freeze({
    subject: String(claims.sub),
    username: str(claims.preferred_username),
    email: str(claims.email),
    name: str(claims.name),
    roles: Object.freeze([...new Set([...realmRoles, ...clientRoles, ...roleClaim])]),
    groups: Object.freeze(strings(claims.groups)),
    issuer: String(claims.iss),
    clientId: str(claims.azp),
    audiences: Object.freeze(aud),
    expiresAt: Number(claims.exp),
    claims: Object.freeze({ ...claims }),
  });
}

/** The string claim a downstream identity header is built from, or undefined when absent or unsafe. */
export function identityClaim(principal: Principal, claim: string): string | undefined {
  const v = principal.claims[claim];
  if (typeof v !== 'string' || v.length === 0 || v.length > 256 || hasControlChars(v)) return undefined;
  return v;
}

/** A user name that goes into a header as it is: printable ASCII, no separators a header could split on. */
const HEADER_SAFE_USER = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

/**
 * The user name a downstream gets verbatim in a header (X-Trino-User): the claim when it is
 * header-safe printable ASCII, else undefined (the caller answers 403). Never a transformed look-alike,
 * so two different users can never be given the same name. Every door that names a Trino user uses it.
 */
export function headerSafeUser(principal: Principal, claim: string): string | undefined {
  const user = identityClaim(principal, claim);
  return user !== undefined && HEADER_SAFE_USER.test(user) ? user : undefined;
}

/**
 * An identity claim as a header value, escaped injectively: printable ASCII without `%` is sent as it
 * is; anything else (a `%`, non-ASCII) is percent-encoded whole as UTF-8 (encodeURIComponent), so the
 * two forms never meet (only the escaped one contains `%`) and a receiver decodes a value containing
 * `%` with decodeURIComponent. Undefined for a string that is not well-formed UTF-16 (no UTF-8 form).
 */
export function escapedHeaderValue(value: string): string | undefined {
  if (/^[\x20-\x7e]*$/.test(value) && !value.includes('%')) return value;
  try {
    return encodeURIComponent(value);
  } catch {
    return undefined;
  }
}
