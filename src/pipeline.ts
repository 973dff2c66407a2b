import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { IncomingMessage } from 'node:http';
import type { Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger as PinoLogger } from 'pino';
import { AuthGuard } from './auth/auth.guard';
import { backchannelFormAsText } from './auth/backchannel-logout.controller';
import { hotRoutes } from './auth/hot-routes';
import { clientErrorHandler } from './common/client-error';
import { jsonDepthBodyParser } from './common/json-depth';
import { QUIET_PATHS } from './common/logging';
import { LazyRequestLogger } from './common/request-logger';
import { MetricsService } from './common/metrics.service';
import { ProblemFilter } from './common/problem.filter';
import { securityHeaders } from './common/security-headers';
import { validationPipe } from './common/validation';
import type { AppConfig } from './config/app-config';
import { UserThrottlerGuard } from './hardening/user-throttler.guard';
import { passthroughBodyHook, passthroughBodyParser, PASSTHROUGH_TYPE } from './mlflow/mlflow-body';
import { statementBodyAsText } from './trino-query/statement-body';

/*
 * The request pipeline, registered in this one file in the order a request meets it:
 *
 *   1. Fastify (the adapter below): the HTTP parser's own errors (431, 408, 400) as problem+json, the
 *      request id (X-Request-Id when well-formed, else a UUID), the request logger (made on first use), TRUST_PROXY, the body limit; then the
 *      adapter's own onRequest hooks: 503 while shutting down, CORS (CORS_ORIGINS), unroutable targets.
 *   2. onRequest: the hot routes' fast path (src/auth/hot-routes.ts). It answers the routes marked @HotRoute
 *      (GET /auth/me and the ext-authz checks) for an already verified token the guard's policy and the identity
 *      chain allow, itself, without 3 and 5–10 (FAST_PATH_SKIPS).
 *   3. Nest middleware: nestjs-pino's request logger (LoggerModule, imported by AppModule).
 *   4. onRequest: how the body is to be parsed — POST /v1/statement as text whatever its Content-Type,
 *      the form of POST /auth/backchannel-logout as text, the MLflow proxy's bodies left unparsed — and the cookies.
 *   5. Body parsers: JSON with the depth limit (src/common/json-depth.ts); Fastify's text parser; the MLflow
 *      proxy's unread stream.
 *   6. Guards, in this order: AuthGuard (who is calling, and may they: the route's policy), then
 *      UserThrottlerGuard (per user on the expensive routes, per address on GET /auth/login).
 *   7. Interceptors: none on every route; ExchangeTokenInterceptor on the routes marked @ExchangeTokenFor.
 *   8. Pipes: the ValidationPipe (DTOs; unknown fields refused), then a route's own pipes.
 *   9. The handler.
 *  10. Filters: ProblemFilter (every error as application/problem+json).
 *  11. onSend: the security headers and X-Request-Id on every answer, the fast path's too.
 *  12. onResponse: one access-log line (credentials scrubbed) and the request metrics.
 *
 * Nothing else registers a hook, a guard, a pipe, an interceptor or a filter for every request:
 * test/unit/pipeline.spec.ts keeps it so.
 */

export const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** 6. The global guards in the order they run (AppModule provides them as APP_GUARD, in this order). */
export const GLOBAL_GUARDS: readonly Type[] = [AuthGuard, UserThrottlerGuard];

/**
 * What the fast path (2) leaves out, and why that is the same answer: a new global enhancer must be added
 * here with its reason, or it would silently not apply to the hot routes (test/unit/pipeline.spec.ts).
 */
export const FAST_PATH_SKIPS: Readonly<Record<string, string>> = {
  AuthGuard: 'the fast path decides with the same RoutePolicyResolver and identity chain (AccessDecider), and answers only an allowed, already verified token',
  UserThrottlerGuard: 'the hot routes are not rate-limited (neither RATE_LIMITED_ROUTES nor GET /auth/login)',
  BodyValidationPipe: 'the hot routes take no body and no DTO',
  ProblemFilter: 'the fast path answers only successes; every denial goes through the Nest route',
};

export interface RequestPipeline {
  /** The Fastify adapter with 1 and 2 registered, for NestFactory.create (which registers 3). */
  adapter: FastifyAdapter;
  /** Registers the rest on the created application, before it is initialised. */
  install(app: NestFastifyApplication): void;
}

export function requestPipeline(config: AppConfig, logger: PinoLogger): RequestPipeline {
  const security = securityHeaders();
  // 1.
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request is written by the onResponse hook (12), with the credentials scrubbed.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: false,
    // req.log made on first use (most requests log nothing): src/common/request-logger.ts.
    // (the parent is `logger`, a pino logger: Fastify's type knows only the methods it calls itself)
    childLoggerFactory: (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) =>
      new LazyRequestLogger(parent as PinoLogger, bindings, options),
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 512 },
    clientErrorHandler: clientErrorHandler(security),
  });
  // 2. Added before Nest registers its middleware (NestFactory.create does), so it runs after the
  // adapter's own hooks and before the logging middleware; it answers nothing until bound by install().
  let answerHot: ((req: FastifyRequest, reply: FastifyReply) => boolean) | undefined;
  adapter.getInstance().addHook('onRequest', (req, reply, done) => {
    if (answerHot === undefined || !answerHot(req, reply)) done();
  });

  return {
    adapter,
    install(app) {
      const fastify: FastifyInstance = app.getHttpAdapter().getInstance();
      // 1. (the adapter's CORS hook answers only once enabled)
      if (config.corsOrigins.length > 0) {
        app.enableCors({ origin: config.corsOrigins, credentials: true, exposedHeaders: ['x-request-id'] });
      }
      // 4.
      fastify.addHook('onRequest', statementBodyAsText);
      fastify.addHook('onRequest', backchannelFormAsText);
      fastify.addHook('onRequest', passthroughBodyHook);
      // Unsigned: the session cookie holds only a random id, looked up server-side (src/session).
      void fastify.register(fastifyCookie);
      // 5.
      app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT_BYTES }, jsonDepthBodyParser(fastify));
      fastify.addContentTypeParser(PASSTHROUGH_TYPE, passthroughBodyParser);
      // 8, 10.
      app.useGlobalPipes(validationPipe());
      app.useGlobalFilters(new ProblemFilter());
      // 11.
      fastify.addHook('onSend', (req, reply, payload, done) => {
        reply.headers(security).header('x-request-id', req.id);
        done(null, payload);
      });
      // 12.
      const metrics = app.get(MetricsService);
      fastify.addHook('onResponse', (req, reply, done) => {
        const route = req.routeOptions?.url ?? 'unmatched';
        if (logger.isLevelEnabled('info') && !QUIET_PATHS.test(req.url)) {
          req.log.info(
            { req: { method: req.method, url: req.url }, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime) },
            'request completed',
          );
        }
        metrics.recordRequest(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
        done();
      });
      // 2. bound.
      answerHot = hotRoutes(app);
    },
  };
}
