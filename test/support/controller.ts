import type { InjectionToken, Provider, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AccessDecider } from '../../src/auth/access-decider.service';
import { AuthFailure } from '../../src/auth/auth-failure';
import { AuthGuard } from '../../src/auth/auth.guard';
import type { Principal } from '../../src/auth/principal';
import { RoutePolicyResolver } from '../../src/auth/route-policy.resolver';
import { TokenVerifier } from '../../src/auth/token-verifier.service';
import { MetricsService } from '../../src/common/metrics.service';
import { ProblemFilter } from '../../src/common/problem.filter';
import { validationPipe } from '../../src/common/validation';
import { APP_CONFIG, type AppConfig } from '../../src/config/app-config';
import { loadConfig } from '../../src/config/load-config';
import { SPEC_ENV } from '../../scripts/openapi-spec';

/** A stand-in for anything a controller needs: every member is a jest mock function (resolving to undefined unless a test says otherwise). */
export function autoMock<T = Record<string, jest.Mock>>(name = 'mock'): T {
  const members = new Map<PropertyKey, jest.Mock>();
  return new Proxy(
    {},
    {
      get(_t, key) {
        if (key === 'then' || typeof key === 'symbol') return undefined; // not a promise, nothing special
        if (!members.has(key)) members.set(key, jest.fn().mockName(`${name}.${key}`));
        return members.get(key);
      },
    },
  ) as T;
}

/**
 * A test token for controller tests: `Bearer test.<subject>.<ROLE,ROLE>`, accepted by the harness's verifier
 * (only there) as that subject with those roles. The AuthGuard, the AccessDecider and the route's policy
 * are the real ones.
 */
export const testToken = (subject: string, roles: readonly string[] = []) => `Bearer test.${subject}.${roles.join(',') || '-'}`;

function testPrincipal(token: string): Principal | undefined {
  const m = /^test\.([A-Za-z0-9_-]+)\.([A-Z_,-]+)$/.exec(token);
  if (!m) return undefined;
  const roles = m[2] === '-' ? [] : m[2].split(',');
  return { subject: m[1], username: m[1], roles, groups: [], issuer: 'test', audiences: [], expiresAt: 0, claims: {} };
}

export interface ControllerHarness {
  app: NestFastifyApplication;
  /** The stand-in (or the given provider) behind a token the controller injects. */
  get<T>(token: InjectionToken): T;
  close(): Promise<void>;
}

/**
 * One controller as the app serves it — the global AuthGuard, the ValidationPipe and the ProblemFilter of
 * src/pipeline.ts, the route's own decorators — with everything it injects replaced by autoMock stand-ins
 * (or by `providers`; MetricsService is the real one), answered through Fastify's inject (no socket). Cheap enough for every controller.
 */
export async function controllerHarness(controller: Type, opts: { providers?: Provider[]; config?: AppConfig } = {}): Promise<ControllerHarness> {
  const config = opts.config ?? loadConfig(SPEC_ENV);
  const verifier = autoMock<Record<string, jest.Mock>>('TokenVerifier');
  verifier.cached.mockImplementation((t: string) => testPrincipal(t));
  verifier.peek.mockImplementation((t: string) => testPrincipal(t));
  verifier.verify.mockRejectedValue(new AuthFailure(401, 'token_invalid', 'not a test token'));
  const moduleRef = await Test.createTestingModule({
    controllers: [controller],
    providers: [
      { provide: APP_CONFIG, useValue: config },
      { provide: TokenVerifier, useValue: verifier },
      MetricsService,
      AccessDecider,
      RoutePolicyResolver,
      { provide: APP_GUARD, useClass: AuthGuard },
      ...(opts.providers ?? []),
    ],
  })
    .useMocker((token) => autoMock(typeof token === 'function' ? token.name : String(token)))
    .compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  app.useGlobalPipes(validationPipe());
  app.useGlobalFilters(new ProblemFilter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, get: <T>(token: InjectionToken) => moduleRef.get<T>(token, { strict: false }), close: () => app.close() };
}
