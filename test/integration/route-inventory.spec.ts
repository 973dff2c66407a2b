import { Controller, Get } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule } from '../../src/app.module';
import { RouteInventory } from '../../src/auth/route-inventory';
import { loadConfig } from '../../src/config/load-config';
import { createRootLogger } from '../../src/common/logging';
import { SPEC_ENV } from '../../scripts/openapi-spec';

@Controller('forgotten')
class ForgottenController {
  @Get()
  open() {
    return { oops: true };
  }
}

describe('route inventory (deny by default)', () => {
  const config = loadConfig(SPEC_ENV);

  it('every route of the app declares its access policy', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config, createRootLogger(config))] }).compile();
    const app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
    await app.init();
    const routes = app.get(RouteInventory).routes();
    expect(routes.length).toBeGreaterThan(5);
    expect(routes.filter((r) => r.policy === undefined)).toEqual([]);
    expect(routes).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/auth/me', policy: 'authenticated' })]));
    await app.close();
  });

  it('the app refuses to boot when a route declares nothing', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot(config, createRootLogger(config))],
      controllers: [ForgottenController],
    }).compile();
    const app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false, abortOnError: false });
    await expect(app.init()).rejects.toThrow(/GET \/forgotten \(ForgottenController\.open\)/);
    await app.close().catch(() => undefined);
  });
});
