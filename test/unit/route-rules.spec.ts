import type { Type } from '@nestjs/common';
import { GATEWAY_ROUTE_POLICIES, gatewayPolicyFor, ROLE_ADMIN } from '../../src/auth/access-policy';
import type { RouteEntry } from '../../src/auth/route-inventory';
import { loadConfig } from '../../src/config/load-config';
import { SPEC_ENV } from '../../scripts/openapi-spec';
import { appControllers, appRoutes } from '../support/app-controllers';
import { controllerHarness, testToken, type ControllerHarness } from '../support/controller';

const config = loadConfig(SPEC_ENV);
const routes = appRoutes(config);
const line = (r: RouteEntry) => `${r.method} ${r.path}`;
const lines = (rs: RouteEntry[]) => rs.map(line).sort();

describe('the route inventory (every route of the app, from its decorators)', () => {
  it('lists the app (a guard against reading nothing)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(45);
    expect(new Set(routes.map((r) => r.controller)).size).toBe(appControllers(config).length);
  });

  it('every route declares its policy', () => {
    expect(routes.filter((r) => r.policy === undefined).map(line)).toEqual([]);
  });

  it('the public routes are exactly these (probes, the login flow, Trino public info, the back-channel logout)', () => {
    expect(lines(routes.filter((r) => r.policy === 'public'))).toEqual(
      [
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'GET /v1/info',
        'GET /ui/query.html',
        'GET /auth/login',
        'GET /auth/callback',
        'GET /auth/logout',
        'POST /auth/logout',
        'POST /auth/backchannel-logout',
      ].sort(),
    );
  });

  it('the routes that decide for themselves are exactly the gateway-facing ones and the MLflow proxy', () => {
    expect(routes.filter((r) => r.policy?.startsWith('self:')).map((r) => `${line(r)} ${r.policy}`)).toEqual([
      'ALL /api/validate/* self:trino',
      'ALL /api/auth self:gateway-routes',
      'ALL /api/auth/* self:gateway-routes',
      'GET /mlflow self:mlflow',
      'ALL /mlflow/* self:mlflow',
    ]);
  });

  it('every route that changes the shared Trino Gateway needs ADMIN, and only those are ADMIN-only', () => {
    const gatewayAdmin = (r: RouteEntry) => /^\/trino\/(?:gateway|webapp)\//.test(r.path) && r.method !== 'GET';
    expect(routes.filter(gatewayAdmin).length).toBeGreaterThanOrEqual(6);
    for (const r of routes.filter(gatewayAdmin)) expect([line(r), r.roles]).toEqual([line(r), [ROLE_ADMIN]]);
    expect(lines(routes.filter((r) => r.roles?.length === 1 && r.roles[0] === ROLE_ADMIN))).toEqual(lines(routes.filter(gatewayAdmin)));
  });

  it('HTTP Basic break-glass stands in only on the Trino Gateway admin routes', () => {
    const basic = routes.filter((r) => r.breakGlass !== undefined);
    expect(basic.map((r) => r.controller)).toEqual(basic.map(() => 'TrinoGatewayAdminController'));
    expect(basic.length).toBe(routes.filter((r) => r.controller === 'TrinoGatewayAdminController').length);
  });

  it('a route under a gateway route-table prefix has the policy /api/auth applies to it', () => {
    const gated = routes.filter((r) => GATEWAY_ROUTE_POLICIES.some(({ prefix }) => r.path === prefix || r.path.startsWith(`${prefix}/`)));
    expect(gated.length).toBeGreaterThan(0);
    for (const r of gated) expect([line(r), r.policy]).toEqual([line(r), gatewayPolicyFor(r.path).rule]);
  });
});

// Every controller of the app, served alone with its dependencies stood in for: the guard answers before
// anything the controller injects is called, so no upstream is needed.
describe.each(appControllers(config).map((c): [string, Type] => [c.name, c]))('%s (controller harness)', (name) => {
  let h: ControllerHarness;
  const mine = routes.filter((r) => r.controller === name);
  const guarded = mine.filter((r) => r.policy !== 'public' && !r.policy?.startsWith('self:'));
  const url = (r: RouteEntry) => r.path.replace(/:[A-Za-z]+/g, 'x1').replace(/\*/g, 'x2');
  const method = (r: RouteEntry) => (r.method === 'ALL' ? 'GET' : r.method) as 'GET';

  beforeAll(async () => {
    h = await controllerHarness(appControllers(config).find((c) => c.name === name)!);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses every guarded route without a token (401 problem+json)', async () => {
    for (const r of guarded) {
      const res = await h.app.inject({ method: method(r), url: url(r) });
      expect([line(r), res.statusCode, res.headers['content-type']]).toEqual([line(r), 401, expect.stringContaining('application/problem+json')]);
    }
  });

  it('refuses every role-restricted route to a token without the role (403)', async () => {
    for (const r of guarded.filter((x) => x.roles?.length)) {
      const res = await h.app.inject({ method: method(r), url: url(r), headers: { authorization: testToken('nobody', ['OTHER']) } });
      expect([line(r), res.statusCode, res.json<{ reason: string }>().reason]).toEqual([line(r), 403, 'insufficient_role']);
    }
  });
});
