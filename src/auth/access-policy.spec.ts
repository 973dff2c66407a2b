import {
  ADMIN_POLICY,
  AGENTS_POLICY,
  AUTHENTICATED_POLICY,
  GATEWAY_ROUTE_POLICIES,
  PUBLIC_POLICY,
  authorize,
  gatewayPolicyFor,
  type AccessPolicy,
} from './access-policy';
import { normalisePath } from '../config/request-path';
import type { Principal } from './principal';

const principal = (roles: string[], audiences: string[] = ['platform-bff']): Principal => ({
  subject: 'u-1',
  roles,
  groups: [],
  issuer: 'https://idp.test/realms/platform',
  audiences,
  expiresAt: 0,
  claims: {},
});

describe('gatewayPolicyFor (the route-policy table of /api/auth)', () => {
  it('lists exactly the agents prefix with the agents policy', () => {
    expect(GATEWAY_ROUTE_POLICIES).toEqual([{ prefix: '/api/agents', policy: AGENTS_POLICY }]);
    expect(Object.isFrozen(GATEWAY_ROUTE_POLICIES)).toBe(true);
  });

  it.each(['/api/agents', '/api/agents/x', '/API/Agents/x/react', '/api/agents/a/b/c'])('%s → the agents policy', (path) => {
    expect(gatewayPolicyFor(path)).toBe(AGENTS_POLICY);
  });

  it.each(['/api/agentsx', '/api/agent', '/x/api/agents', '/api', '/', '/api/mlflow/x'])('%s → any valid token', (path) => {
    expect(gatewayPolicyFor(path)).toBe(AUTHENTICATED_POLICY);
  });

  it('a backslash path is refused before it can fall through to the "any valid token" policy', () => {
    // Without the refusal, /api\agents/x normalises to one segment and gets AUTHENTICATED_POLICY.
    expect(normalisePath('/api\\agents/x')).toBeUndefined();
  });
});

describe('the policy objects', () => {
  it('are what the routes declare', () => {
    expect(PUBLIC_POLICY).toEqual({ kind: 'public', rule: 'public' });
    expect(AUTHENTICATED_POLICY).toEqual({ kind: 'authenticated', rule: 'authenticated' });
    expect(AGENTS_POLICY).toEqual({ kind: 'authenticated', rule: 'agents:regular-or-admin', anyRole: ['REGULAR', 'ADMIN'] });
    expect(ADMIN_POLICY).toEqual({ kind: 'authenticated', rule: 'admin', anyRole: ['ADMIN'] });
    for (const p of [PUBLIC_POLICY, AUTHENTICATED_POLICY, AGENTS_POLICY, ADMIN_POLICY]) expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen((AGENTS_POLICY as { anyRole: readonly string[] }).anyRole)).toBe(true);
    expect(Object.isFrozen((ADMIN_POLICY as { anyRole: readonly string[] }).anyRole)).toBe(true);
  });
});

describe('authorize', () => {
  it('allows anyone on a public route', () => {
    expect(authorize(principal([], []), PUBLIC_POLICY)).toEqual({ allow: true });
  });

  it('allows any valid token where no role is listed (or an empty list)', () => {
    expect(authorize(principal([]), AUTHENTICATED_POLICY)).toEqual({ allow: true });
    expect(authorize(principal([]), { kind: 'authenticated', rule: 'r', anyRole: [] })).toEqual({ allow: true });
  });

  it('needs any one of the listed roles', () => {
    expect(authorize(principal(['REGULAR']), AGENTS_POLICY)).toEqual({ allow: true });
    expect(authorize(principal(['ADMIN']), AGENTS_POLICY)).toEqual({ allow: true });
    expect(authorize(principal(['OTHER', 'ADMIN']), ADMIN_POLICY)).toEqual({ allow: true });
    expect(authorize(principal(['REGULAR']), ADMIN_POLICY)).toMatchObject({ allow: false, status: 403, reason: 'insufficient_role' });
    expect(authorize(principal([]), AGENTS_POLICY)).toMatchObject({ allow: false, status: 403, reason: 'insufficient_role' });
  });

  it('needs the route audience besides the roles, audience first', () => {
    const policy: AccessPolicy = { kind: 'authenticated', rule: 'aud', anyRole: ['ADMIN'], audience: 'trino-gateway' };
    expect(authorize(principal(['ADMIN'], ['platform-bff', 'trino-gateway']), policy)).toEqual({ allow: true });
    expect(authorize(principal(['ADMIN'], ['platform-bff']), policy)).toMatchObject({ allow: false, status: 403, reason: 'audience_mismatch' });
    expect(authorize(principal([], ['platform-bff']), policy)).toMatchObject({ allow: false, status: 403, reason: 'audience_mismatch' });
    expect(authorize(principal([], ['trino-gateway']), policy)).toMatchObject({ allow: false, status: 403, reason: 'insufficient_role' });
  });
});
