import { Controller, Get, Param, ParseIntPipe, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { setAuthContext } from '../auth/auth-context';
import type { Principal } from '../auth/principal';
import { ProblemException } from '../common/problem';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { LazyExchangedToken } from './exchange-context';
import { ExchangedToken, ExchangeTokenFor } from './exchange-token-for.decorator';
import { ExchangeTokenInterceptor } from './exchange-token.interceptor';
import { TokenExchangeService } from './token-exchange.service';

const principal = { subject: 'user-1', roles: [], groups: [], issuer: 'i', audiences: [], expiresAt: 0, claims: {} } as Principal;

/** Stands in for the global AuthGuard: a bearer caller on every request except /anonymous. */
class FakeAuthGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<{ url: string }>();
    if (!req.url.startsWith('/anonymous')) setAuthContext(req, { principal, token: 'subject-token' });
    return true;
  }
}

@Controller()
class MethodLevelController {
  @Get('method')
  @ExchangeTokenFor('ml-agent')
  async method(@ExchangedToken() token: LazyExchangedToken) {
    return { token: await token.get(), again: await token.get() };
  }

  @Get('anonymous')
  @ExchangeTokenFor('ml-agent')
  async anonymous(@ExchangedToken() token: LazyExchangedToken) {
    return { token: await token.get() };
  }

  @Get('validated/:n')
  @ExchangeTokenFor('ml-agent')
  async validated(@ExchangedToken() token: LazyExchangedToken, @Param('n', ParseIntPipe) n: number) {
    return { n, token: await token.get() };
  }

  @Get('unused')
  @ExchangeTokenFor('ml-agent')
  unused(@ExchangedToken() token: LazyExchangedToken) {
    return { audience: token.audience };
  }

  @Get('plain')
  plain() {
    return { ok: true };
  }
}

@Controller('class')
@ExchangeTokenFor((config) => config.trinoGateway.audience)
class ClassLevelController {
  @Get()
  async get(@ExchangedToken() token: LazyExchangedToken) {
    return { token: await token.get() };
  }
}

describe('@ExchangeTokenFor / @ExchangedToken', () => {
  let app: NestFastifyApplication;
  const calls: Array<[string, string, Principal]> = [];
  let fail: ProblemException | undefined;

  beforeAll(async () => {
    const exchange = {
      exchangeFor: async (audience: string, subjectToken: string, p: Principal) => {
        calls.push([audience, subjectToken, p]);
        if (fail) throw fail;
        return `exchanged-for-${audience}`;
      },
    };
    const moduleRef = await Test.createTestingModule({
      controllers: [MethodLevelController, ClassLevelController],
      providers: [
        { provide: TokenExchangeService, useValue: exchange },
        { provide: APP_CONFIG, useValue: { trinoGateway: { audience: 'trino-gw' } } as AppConfig },
        { provide: APP_GUARD, useClass: FakeAuthGuard },
        ExchangeTokenInterceptor,
      ],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await (app as INestApplication | undefined)?.close();
  });
  beforeEach(() => {
    calls.length = 0;
    fail = undefined;
  });

  const get = async (url: string) => {
    const res = await app.getHttpAdapter().getInstance().inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it('gives the handler the token exchanged for the method-level audience, from the verified caller, exchanged once', async () => {
    expect(await get('/method')).toEqual({ status: 200, body: { token: 'exchanged-for-ml-agent', again: 'exchanged-for-ml-agent' } });
    expect(calls).toEqual([['ml-agent', 'subject-token', principal]]);
  });

  it('exchanges only when asked: a request the pipes refuse, or a handler that never asks, costs no exchange', async () => {
    expect((await get('/validated/not-a-number')).status).toBe(400);
    expect(await get('/unused')).toEqual({ status: 200, body: { audience: 'ml-agent' } });
    expect(calls).toEqual([]);
    expect(await get('/validated/7')).toEqual({ status: 200, body: { n: 7, token: 'exchanged-for-ml-agent' } });
    expect(calls).toHaveLength(1);
  });

  it('resolves a class-level audience from the config', async () => {
    expect(await get('/class')).toEqual({ status: 200, body: { token: 'exchanged-for-trino-gw' } });
    expect(calls.map((c) => c[0])).toEqual(['trino-gw']);
  });

  it('does nothing on routes without the decorator', async () => {
    expect(await get('/plain')).toEqual({ status: 200, body: { ok: true } });
    expect(calls).toEqual([]);
  });

  it('when the exchange fails, its problem is the answer', async () => {
    fail = new ProblemException(403, 'token_exchange_denied', 'refused');
    const res = await get('/method');
    expect(res.status).toBe(403);
  });

  it('fails closed when there is no bearer caller to exchange for', async () => {
    const res = await get('/anonymous');
    expect(res.status).toBe(500);
    expect(calls).toEqual([]);
  });
});
