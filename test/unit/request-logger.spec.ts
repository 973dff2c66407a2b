import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pino from 'pino';
import { createApp } from '../../src/app.factory';
import { createRootLogger } from '../../src/common/logging';
import { LazyRequestLogger } from '../../src/common/request-logger';
import { loadConfig } from '../../src/config/load-config';
import { SPEC_ENV } from '../../scripts/openapi-spec';

/** A root logger writing JSON lines into memory, with its child() counted. */
function memoryLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createRootLogger({ logLevel: level } as never, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const child = jest.spyOn(logger, 'child');
  return { logger, lines, child };
}

describe('the request logger is made on first use', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const boot = async (level: 'warn' | 'info', logger: pino.Logger) => {
    app = await createApp(loadConfig({ ...SPEC_ENV, LOG_LEVEL: level }), { logger });
    await app.init();
    return app.getHttpAdapter().getInstance();
  };

  it('a request that logs nothing makes no child logger (before: one pino child per request)', async () => {
    const { logger, lines, child } = memoryLogger('warn');
    const fastify = await boot('warn', logger);
    child.mockClear();
    for (let i = 0; i < 5; i++) expect((await fastify.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it('a line written through req.log carries the request id, as before', async () => {
    const { logger, lines, child } = memoryLogger('info');
    const fastify = await boot('info', logger);
    child.mockClear();
    const res = await fastify.inject({ method: 'GET', url: '/no-such-route', headers: { 'x-request-id': 'rid-lazy-1' } });
    expect(res.statusCode).toBe(404);
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed).toEqual([expect.objectContaining({ reqId: 'rid-lazy-1', level: 30, res: { statusCode: 404 } })]);
    expect(child).toHaveBeenCalledWith({ reqId: 'rid-lazy-1' }, {});
  });
});

describe('LazyRequestLogger', () => {
  it('makes the child once, on the first line at or above the level, with the bindings and options given', () => {
    const { logger, lines, child } = memoryLogger('info');
    const lazy = new LazyRequestLogger(logger, { reqId: 'r1' }, {});
    lazy.debug('below the level');
    lazy.silent('nothing');
    expect(child).not.toHaveBeenCalled();
    expect(lazy.level).toBe('info');
    expect(lazy.isLevelEnabled('debug')).toBe(false);
    lazy.info({ a: 1 }, 'one');
    lazy.warn('two');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.reqId, l.msg, l.level])).toEqual([
      ['r1', 'one', 30],
      ['r1', 'two', 40],
    ]);
  });

  it('child(), bindings() and a level of its own go to the real child', () => {
    const { logger, lines } = memoryLogger('info');
    const lazy = new LazyRequestLogger(logger, { reqId: 'r2' }, { level: 'debug' });
    expect(lazy.level).toBe('debug');
    expect(lazy.isLevelEnabled('debug')).toBe(true);
    lazy.child({ user: 'alice' }).debug('nested');
    expect(lazy.bindings()).toEqual({ reqId: 'r2' });
    lazy.level = 'error';
    lazy.warn('dropped');
    expect(lines.map((l) => [l.reqId, l.user, l.msg])).toEqual([['r2', 'alice', 'nested']]);
  });
});
