import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ApplicationConfig } from '@nestjs/core';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config/load-config';
import { FAST_PATH_SKIPS } from '../../src/pipeline';
import { SPEC_ENV } from '../../scripts/openapi-spec';

const SRC = join(__dirname, '../../src');

// What adds to every request's path: Fastify hooks, parsers and plugins, Nest's global enhancers, CORS.
const REGISTERS = [
  /\baddHook\(\s*'(?:onRequest|preParsing|preValidation|preHandler|preSerialization|onSend|onResponse|onError|onTimeout|onRequestAbort)'/,
  /\baddContentTypeParser\(/,
  /\buseBodyParser\(/,
  /\bAPP_(?:GUARD|PIPE|INTERCEPTOR|FILTER)\b/,
  /\buseGlobal(?:Guards|Pipes|Interceptors|Filters)\(/,
  /\benableCors\(/,
  /\bfastify\.register\(|\bregister\(fastify\w+/,
  /\bMiddlewareConsumer\b/,
];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

describe('the request pipeline is registered in src/pipeline.ts only', () => {
  it('no other file of src/ adds a hook, a parser, a plugin or a global enhancer', () => {
    const elsewhere = files(SRC)
      .map((f) => `src/${relative(SRC, f)}`)
      .filter((f) => f !== 'src/pipeline.ts' && f !== 'src/app.module.ts')
      .filter((f) => {
        const text = readFileSync(join(SRC, '..', f), 'utf8');
        return REGISTERS.some((r) => r.test(text));
      });
    expect(elsewhere).toEqual([]);
  });

  it('AppModule provides exactly the global guards of src/pipeline.ts', () => {
    const text = readFileSync(join(SRC, 'app.module.ts'), 'utf8');
    expect(text.match(/APP_\w+/g)?.sort()).toEqual(['APP_GUARD', 'APP_GUARD']);
    expect(text).toContain('GLOBAL_GUARDS.map((guard) => ({ provide: APP_GUARD, useExisting: guard }))');
  });
});

describe('the global enhancers (pinned: the hot routes fast path skips them)', () => {
  it('are these, in this order, and each says why the fast path may skip it', async () => {
    const app = await createApp(loadConfig(SPEC_ENV));
    try {
      await app.init();
      const config = (app as unknown as { config: ApplicationConfig }).config;
      const names = (list: object[]) => list.map((e) => e.constructor.name);
      const enhancers = {
        guards: names(config.getGlobalGuards()),
        requestGuards: config.getGlobalRequestGuards().map((w) => w.name),
        interceptors: names(config.getGlobalInterceptors()),
        requestInterceptors: config.getGlobalRequestInterceptors().map((w) => w.name),
        pipes: names(config.getGlobalPipes()),
        requestPipes: config.getGlobalRequestPipes().map((w) => w.name),
        filters: names(config.getGlobalFilters()),
        requestFilters: config.getGlobalRequestFilters().map((w) => w.name),
      };
      // A new one: apply it on the fast path (src/auth/hot-routes.ts) or say in FAST_PATH_SKIPS why it need not, then pin it here.
      expect(enhancers).toEqual({
        guards: ['AuthGuard', 'UserThrottlerGuard'],
        requestGuards: [],
        interceptors: [],
        requestInterceptors: [],
        pipes: ['BodyValidationPipe'],
        requestPipes: [],
        filters: ['ProblemFilter'],
        requestFilters: [],
      });
      expect(Object.values(enhancers).flat().sort()).toEqual(Object.keys(FAST_PATH_SKIPS).sort());
    } finally {
      await app.close();
    }
  });
});
