import { Controller, Get, type INestApplicationContext } from '@nestjs/common';
import { MetadataScanner, Reflector, type DiscoveryService } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDecider } from './access-decider.service';
import { AuthController } from './auth.controller';
import { Authenticated, HotRoute, Public } from './decorators';
import { ExtAuthzController } from './ext-authz.controller';
import { hotRoutes } from './hot-routes';
import { RouteInventory } from './route-inventory';
import { RoutePolicyResolver } from './route-policy.resolver';

/** Which requests the fast path may answer, and by which route's code (anything else: false, the Nest route decides). */
describe('hotRoutes', () => {
  const answered: string[] = [];
  // The real controllers' metadata (@HotRoute, the policies), with their fast answers recorded.
  const me = Object.assign(Object.create(AuthController.prototype) as AuthController, { meNow: jest.fn(() => (answered.push('me'), true)) });
  const extAuthz = Object.assign(Object.create(ExtAuthzController.prototype) as ExtAuthzController, {
    validateNow: jest.fn(() => (answered.push('validate'), true)),
    checkNow: jest.fn(() => (answered.push('check'), true)),
  });
  const resolver = new RoutePolicyResolver(new Reflector());
  const discovery = { getControllers: () => [{ instance: me }, { instance: extAuthz }] } as unknown as DiscoveryService;
  const inventory = new RouteInventory(discovery, new MetadataScanner(), new Reflector(), resolver);
  /** The chain's fast answer: only `Bearer ok` is an allowed, already verified caller. */
  const decider = { allowedNow: jest.fn((p: { authorization?: string }) => (p.authorization === 'Bearer ok' ? { allow: true, principal: {} } : undefined)) };
  const services = new Map<unknown, unknown>([
    [AccessDecider, decider],
    [RoutePolicyResolver, resolver],
    [RouteInventory, inventory],
  ]);
  const app = { get: (type: unknown) => services.get(type) } as unknown as INestApplicationContext;
  const fast = hotRoutes(app);
  const reply = {} as FastifyReply;
  const ask = (method: string, url: string | undefined, authorization = 'Bearer ok') => {
    answered.length = 0;
    const result = fast({ method, routeOptions: { url }, headers: { authorization } } as unknown as FastifyRequest, reply);
    return `${method} ${url}: ${result ? answered.join(',') : 'not answered'}`;
  };

  it('the table is read from @HotRoute: GET /auth/me and the ext-authz checks (any method), by their own routes’ code', () => {
    expect(
      inventory
        .routes()
        .filter((r) => r.hot)
        .map((r) => `${r.method} ${r.path} ${r.hot}`),
    ).toEqual(['GET /auth/me meNow', 'ALL /api/validate/* validateNow', 'ALL /api/auth checkNow', 'ALL /api/auth/* checkNow']);
    expect([ask('GET', '/auth/me'), ask('GET', '/api/validate/*'), ask('POST', '/api/validate/*'), ask('GET', '/api/auth'), ask('PUT', '/api/auth/*')]).toEqual([
      'GET /auth/me: me',
      'GET /api/validate/*: validate',
      'POST /api/validate/*: validate',
      'GET /api/auth: check',
      'PUT /api/auth/*: check',
    ]);
  });

  it('leaves every other route, another method of /auth/me, and a request without a route to Nest', () => {
    expect([ask('POST', '/auth/me'), ask('HEAD', '/auth/me'), ask('GET', '/auth/login'), ask('GET', '/api/validate'), ask('GET', undefined)]).toEqual([
      'POST /auth/me: not answered',
      'HEAD /auth/me: not answered',
      'GET /auth/login: not answered',
      'GET /api/validate: not answered',
      'GET undefined: not answered',
    ]);
  });

  it('a route with a policy is decided by the chain first, with the guard’s policy for it; a caller not allowed now goes to Nest', () => {
    decider.allowedNow.mockClear();
    expect(ask('GET', '/auth/me', 'Bearer not-yet-verified')).toBe('GET /auth/me: not answered');
    expect(decider.allowedNow).toHaveBeenCalledWith(
      { authorization: 'Bearer not-yet-verified' },
      (resolver.resolve(AuthController.prototype.me, AuthController) as { policy: unknown }).policy,
    );
  });

  it('passes on the route code’s own refusal to answer (false: Nest decides)', () => {
    extAuthz.checkNow.mockReturnValueOnce(false);
    expect(ask('GET', '/api/auth')).toBe('GET /api/auth: not answered');
  });
});

describe('hotRoutes: a @HotRoute the fast path must not take', () => {
  @Controller('odd')
  class OddController {
    @Get('open')
    @Public()
    @HotRoute('openNow')
    open(): void {}

    openNow = jest.fn(() => true);
  }

  @Controller('broken')
  class BrokenController {
    @Get('me')
    @Authenticated()
    @HotRoute('missing')
    me(): void {}
  }

  const appOf = (...instances: object[]) => {
    const resolver = new RoutePolicyResolver(new Reflector());
    const discovery = { getControllers: () => instances.map((instance) => ({ instance })) } as unknown as DiscoveryService;
    const services = new Map<unknown, unknown>([
      [AccessDecider, { allowedNow: () => ({ allow: true, principal: {} }) }],
      [RoutePolicyResolver, resolver],
      [RouteInventory, new RouteInventory(discovery, new MetadataScanner(), new Reflector(), resolver)],
    ]);
    return { get: (type: unknown) => services.get(type) } as unknown as INestApplicationContext;
  };

  it('a public route reads no credential: never answered fast', () => {
    const odd = new OddController();
    const req = { method: 'GET', routeOptions: { url: '/odd/open' }, headers: { authorization: 'Bearer ok' } } as unknown as FastifyRequest;
    expect(hotRoutes(appOf(odd))(req, {} as FastifyReply)).toBe(false);
    expect(odd.openNow).not.toHaveBeenCalled();
  });

  it('a @HotRoute naming no method of its controller stops the app (a wiring error, not a silent slow path)', () => {
    expect(() => hotRoutes(appOf(new BrokenController()))).toThrow('@HotRoute on BrokenController.me names no method missing');
  });
});
