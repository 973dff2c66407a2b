import type { Principal } from './principal';

/**
 * What a route demands of its caller. Every route declares one (see decorators.ts);
 * one decision function, authorize(), applies it for all three doors: the in-process
 * guard, the ext-authz endpoints (/api/validate, /api/auth) and the WebSocket upgrade.
 */
export type AccessPolicy =
  | { readonly kind: 'public'; readonly rule: string }
  | {
      readonly kind: 'authenticated';
      /** Name of the rule, for the decision log. */
      readonly rule: string;
      /** Any one of these roles is needed (none listed: any valid token). */
      readonly anyRole?: readonly string[];
      /** An audience the token must carry besides AUTH_AUDIENCE. */
      readonly audience?: string;
    };

export const ROLE_REGULAR = 'REGULAR';
export const ROLE_ADMIN = 'ADMIN';

export const PUBLIC_POLICY: AccessPolicy = Object.freeze({ kind: 'public', rule: 'public' });
export const AUTHENTICATED_POLICY: AccessPolicy = Object.freeze({ kind: 'authenticated', rule: 'authenticated' });
/** /api/agents/** — the same object guards the REST routes and is applied by /api/auth for gateways. */
export const AGENTS_POLICY: AccessPolicy = Object.freeze({
  kind: 'authenticated',
  rule: 'agents:regular-or-admin',
  anyRole: Object.freeze([ROLE_REGULAR, ROLE_ADMIN]),
});
export const ADMIN_POLICY: AccessPolicy = Object.freeze({ kind: 'authenticated', rule: 'admin', anyRole: Object.freeze([ROLE_ADMIN]) });

export type AuthzOutcome = { allow: true } | { allow: false; status: 403; reason: 'insufficient_role' | 'audience_mismatch'; detail: string };

/** The authorization half of the decision, for a principal that is already authenticated. */
export function authorize(principal: Principal, policy: AccessPolicy): AuthzOutcome {
  if (policy.kind === 'public') return { allow: true };
  if (policy.audience && !principal.audiences.includes(policy.audience)) {
    return { allow: false, status: 403, reason: 'audience_mismatch', detail: `this route needs audience ${policy.audience}` };
  }
  if (policy.anyRole && policy.anyRole.length > 0 && !policy.anyRole.some((r) => principal.roles.includes(r))) {
    return { allow: false, status: 403, reason: 'insufficient_role', detail: `this route needs one of the roles ${policy.anyRole.join(', ')}` };
  }
  return { allow: true };
}

/**
 * The route-policy table of /api/auth (gateways: Envoy SecurityPolicy, nginx auth_request).
 * Matched on the normalised path, first match wins; anything else needs a valid token.
 */
export const GATEWAY_ROUTE_POLICIES: ReadonlyArray<{ prefix: string; policy: AccessPolicy }> = Object.freeze([{ prefix: '/api/agents', policy: AGENTS_POLICY }]);

export function gatewayPolicyFor(normalisedPath: string): AccessPolicy {
  const lower = normalisedPath.toLowerCase();
  for (const { prefix, policy } of GATEWAY_ROUTE_POLICIES) {
    if (lower === prefix || lower.startsWith(prefix + '/')) return policy;
  }
  return AUTHENTICATED_POLICY;
}
