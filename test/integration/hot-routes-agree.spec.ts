import type { ExecutionContext, Type } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { AccessDecider } from '../../src/auth/access-decider.service';
import { AUTHENTICATED_POLICY } from '../../src/auth/access-policy';
import { getAuthContext } from '../../src/auth/auth-context';
import { AuthGuard } from '../../src/auth/auth.guard';
import { PrincipalDto } from '../../src/auth/dto/principal.dto';
import { hotRoutes } from '../../src/auth/hot-routes';
import { Revocations } from '../../src/auth/revocation.service';
import { routesOf, type RouteEntry } from '../../src/auth/route-inventory';
import { RoutePolicyResolver } from '../../src/auth/route-policy.resolver';
import { WsTicketService } from '../../src/auth/ws-ticket.service';
import { ProblemException } from '../../src/common/problem';
import { APP_CONFIG, type AppConfig } from '../../src/config/app-config';
import { appControllers } from '../support/app-controllers';
import { decodePart } from '../support/jwt';
import { startTestBff, type TestBff } from '../support/app';

/**
 * The hot routes' fast path cannot disagree with the guard (issue 19): for every route of the
 * inventory and every request of one set — tokens with and without the roles or the audience, a
 * revoked one, an expired one, malformed or doubled credentials, a ws-ticket, a session cookie,
 * break-glass Basic — the fast path answers exactly when the route would allow the request AND the
 * credential is an already verified bearer token (it never answers what the route refuses, never a
 * route not marked @HotRoute), and then answers exactly what the route answers. The route's answer
 * is the global guard's decision for routes with a policy, and the route's own code for the
 * self-deciding ext-authz checks.
 */
describe('hot routes: the fast path and the guard agree on every route of the inventory', () => {
  const AGENT = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
  let bff: TestBff;
  let config: AppConfig;
  let fast: ReturnType<typeof hotRoutes>;
  let routes: Array<{ entry: RouteEntry; type: Type; instance: Record<string, unknown> }>;
  /** name → what the request presents, and whether the token in it is an already verified one (the route decides whether it reads it). */
  let requests: Array<{ name: string; headers: Record<string, string>; query?: string; verifiedToken: boolean }>;

  beforeAll(async () => {
    bff = await startTestBff({ AUTH_CLOCK_SKEW_S: '0' });
    config = bff.app.get<AppConfig>(APP_CONFIG);
    fast = hotRoutes(bff.app);
    const resolver = bff.app.get(RoutePolicyResolver);
    routes = appControllers(config).flatMap((type) =>
      routesOf([type], resolver).map((entry) => ({ entry, type, instance: bff.app.get(type, { strict: false }) as Record<string, unknown> })),
    );

    const decider = bff.app.get(AccessDecider);
    const alice = await bff.token('alice');
    const viewer = await bff.token('viewer');
    const admin = await bff.token('admin');
    const aud = decodePart(alice, 1).aud as string | string[];
    const withAudience = await bff.token('alice', { claims: { aud: [...(Array.isArray(aud) ? aud : [aud]), 'x'] } });
    const revoked = await bff.token('alice', { claims: { sid: 'AgreeRevokedSession00001' } });
    const expired = await bff.token('alice', { expiresInS: -60 });
    // Verified (and cached) before: the fast path can answer them.
    for (const t of [alice, viewer, admin, withAudience, revoked]) {
      expect(await decider.decide({ authorization: `Bearer ${t}` }, AUTHENTICATED_POLICY, 'warm-up')).toMatchObject({ allow: true });
    }
    await bff.app.get(Revocations).revoke({ issuer: decodeJwt(revoked).iss!, sid: 'AgreeRevokedSession00001', sub: decodeJwt(revoked).sub });
    const { ticket } = await bff.app.get(WsTicketService).issue(AGENT, alice);
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    requests = [
      { name: 'no credential', headers: {}, verifiedToken: false },
      { name: 'alice (REGULAR)', headers: bearer(alice), verifiedToken: true },
      { name: 'viewer (no role)', headers: bearer(viewer), verifiedToken: true },
      { name: 'admin (ADMIN, REGULAR)', headers: bearer(admin), verifiedToken: true },
      { name: 'alice with audience x', headers: bearer(withAudience), verifiedToken: true },
      { name: 'revoked (logged-out session)', headers: bearer(revoked), verifiedToken: true },
      { name: 'expired', headers: bearer(expired), verifiedToken: false },
      { name: 'malformed Bearer', headers: { authorization: 'Bearer ' }, verifiedToken: false },
      // The guard reads the header alone (a verified token); the ext-authz checks read the query too (400 ambiguous_token).
      { name: 'two different tokens', headers: bearer(alice), query: `access-token=${admin}`, verifiedToken: true },
      { name: 'access-token query', headers: {}, query: `access-token=${alice}`, verifiedToken: true },
      { name: 'ws-ticket', headers: {}, query: `ticket=${ticket}`, verifiedToken: false },
      { name: 'session cookie', headers: { cookie: `${config.session.cookieName}=${'s'.repeat(43)}` }, verifiedToken: false },
      { name: 'break-glass Basic', headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, verifiedToken: false },
    ];
  });
  afterAll(() => bff?.close());

  /** What a reply was given (status, headers, body). */
  function recorder() {
    const seen = { status: 200, headers: {} as Record<string, unknown>, body: undefined as unknown };
    const reply = {
      request: { id: 'agree-1' },
      code: (s: number) => ((seen.status = s), reply),
      header: (k: string, v: unknown) => ((seen.headers[k.toLowerCase()] = v), reply),
      headers: (h: Record<string, unknown>) => (Object.assign(seen.headers, h), reply),
      type: (t: string) => ((seen.headers['content-type'] = t), reply),
      send: (b?: unknown) => ((seen.body = typeof b === 'string' ? b : JSON.stringify(b ?? '')), reply),
    };
    return { seen, reply: reply as unknown as FastifyReply };
  }

  function requestFor(entry: RouteEntry, r: (typeof requests)[number]): FastifyRequest {
    const suffix = entry.path === '/api/auth/*' ? `/api/agents/${AGENT}/react` : entry.path === '/api/validate/*' ? '/v1/statement' : '/x';
    const path = entry.path.replace(/:[A-Za-z]+/g, AGENT).replace(/\/\*$/, suffix);
    const url = r.query ? `${path}?${r.query}` : path;
    return {
      method: entry.method === 'ALL' ? 'GET' : entry.method,
      url,
      headers: { ...r.headers },
      routeOptions: { url: entry.path },
      id: 'agree-1',
    } as unknown as FastifyRequest;
  }

  /** The route's own answer: the guard's decision (and me()'s body), or a self-deciding route's code. */
  async function routeAnswer(route: (typeof routes)[number], req: FastifyRequest): Promise<{ allowed: boolean; answer: string }> {
    if (route.entry.policy?.startsWith('self:')) {
      const { seen, reply } = recorder();
      await (route.instance[route.entry.handler] as (q: FastifyRequest, r: FastifyReply) => Promise<void>).call(route.instance, req, reply);
      return { allowed: seen.status === 200, answer: JSON.stringify(seen) };
    }
    const handler = (route.type.prototype as Record<string, () => unknown>)[route.entry.handler];
    const ctx = { getType: () => 'http', getHandler: () => handler, getClass: () => route.type, switchToHttp: () => ({ getRequest: () => req }) };
    try {
      await bff.app.get(AuthGuard).canActivate(ctx as unknown as ExecutionContext);
    } catch (err) {
      if (!(err instanceof ProblemException)) throw err;
      return { allowed: false, answer: `${err.getStatus()} ${err.reason}` };
    }
    const auth = getAuthContext(req);
    // The one route with a policy on the fast path is GET /auth/me: its answer is the caller's principal.
    return { allowed: true, answer: auth ? JSON.stringify(PrincipalDto.from(auth.principal)) : 'allowed' };
  }

  it('every route × every request: answered fast ⇔ the route allows it with a verified token, and then the same answer', async () => {
    const disagreements: string[] = [];
    const outcomes = new Map<string, Set<string>>();
    for (const route of routes) {
      // The MLflow proxy decides for itself and forwards upstream: not hot, and never answered early.
      const runRoute = route.entry.hot !== undefined || !route.entry.policy?.startsWith('self:');
      for (const r of requests) {
        const name = `${route.entry.method} ${route.entry.path} [${r.name}]`;
        const { seen, reply } = recorder();
        const answered = fast(requestFor(route.entry, r), reply);
        if (!runRoute) {
          if (answered) disagreements.push(`${name}: answered by the fast path`);
          continue;
        }
        const slow = await routeAnswer(route, requestFor(route.entry, r));
        const expected = route.entry.hot !== undefined && slow.allowed && r.verifiedToken;
        outcomes.set(route.entry.path, (outcomes.get(route.entry.path) ?? new Set()).add(answered ? 'fast' : slow.allowed ? 'route allows' : 'route refuses'));
        if (answered !== expected)
          disagreements.push(`${name}: fast ${answered ? 'answered' : 'passed'}, route ${slow.allowed ? 'allows' : 'refuses'} (${slow.answer})`);
        else if (answered) {
          const fastAnswer = route.entry.policy?.startsWith('self:') ? JSON.stringify(seen) : String(seen.body);
          if (fastAnswer !== slow.answer) disagreements.push(`${name}: fast answered ${fastAnswer}, the route ${slow.answer}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
    // Not vacuous: every hot route was answered fast for some requests and refused by its route for others.
    const hot = routes.filter((r) => r.entry.hot !== undefined).map((r) => r.entry.path);
    expect(hot).toEqual(['/auth/me', '/api/validate/*', '/api/auth', '/api/auth/*']);
    for (const path of hot) expect([path, [...outcomes.get(path)!].sort()]).toEqual([path, expect.arrayContaining(['fast', 'route refuses'])]);
    // A route with roles and @Audience-free policies too: the inventory is the whole app.
    expect(routes.length).toBeGreaterThan(40);
  });
});
