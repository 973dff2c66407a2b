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

/** Builds the principal from verified claims (Keycloak's claim shapes; see DESIGN.md). */
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
