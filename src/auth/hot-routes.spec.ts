import type { INestApplicationContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthController } from './auth.controller';
import { ExtAuthzController } from './ext-authz.controller';
import { hotRoutes } from './hot-routes';

/** Which requests the fast path may answer, and by which route's code (anything else: false, the Nest route decides). */
describe('hotRoutes', () => {
  const answered: string[] = [];
  const me = { meNow: jest.fn(() => (answered.push('me'), true)) };
  const extAuthz = {
    validateNow: jest.fn(() => (answered.push('validate'), true)),
    checkNow: jest.fn(() => (answered.push('check'), true)),
  };
  const app = { get: (type: unknown) => (type === AuthController ? me : type === ExtAuthzController ? extAuthz : undefined) } as unknown as INestApplicationContext;
  const fast = hotRoutes(app);
  const reply = {} as FastifyReply;
  const ask = (method: string, url: string | undefined) => {
    answered.length = 0;
    const result = fast({ method, routeOptions: { url } } as unknown as FastifyRequest, reply);
    return `${method} ${url}: ${result ? answered.join(',') : 'not answered'}`;
  };

  it('answers GET /auth/me and the ext-authz checks (any method) by their own routes’ code', () => {
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

  it('passes on the route code’s own refusal to answer (false: Nest decides)', () => {
    extAuthz.checkNow.mockReturnValueOnce(false);
    expect(ask('GET', '/api/auth')).toBe('GET /api/auth: not answered');
  });
});
