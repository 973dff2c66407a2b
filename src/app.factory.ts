import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { BASIC_SCHEME, BEARER_SCHEME } from './auth/decorators';
import { hotRoutes } from './auth/hot-routes';
import { createRootLogger, QUIET_PATHS } from './common/logging';
import { withBootLinesAtDebug } from './common/boot-logger';
import { API_TAGS } from './common/api-tags';
import { jsonDepthBodyParser } from './common/json-depth';
import { securityHeaders } from './common/security-headers';
import { clientErrorHandler } from './common/client-error';
import { MetricsService } from './common/metrics.service';
import { ProblemFilter } from './common/problem.filter';
import { documentTransportProblems, PROBLEM_SCHEMAS } from './common/api-problems.decorator';
import { RATE_LIMITED_ROUTES } from './hardening/user-throttler.guard';
import { validationPipe } from './common/validation';
import type { AppConfig } from './config/app-config';

export const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface CreateAppOptions {
  /** Keep Nest's own bootstrap logs (default: buffered into pino). */
  bufferLogs?: boolean;
  /** The root logger (tests pass one writing to a buffer). */
  logger?: ReturnType<typeof createRootLogger>;
}

/** Builds the application (not yet listening): adapter, pipeline, Swagger. Used by main.ts, tests and the spec exporter. */
export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const logger = opts.logger ?? createRootLogger(config);
  const security = securityHeaders();
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request is written by the onResponse hook below (with the credentials scrubbed).
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 512 },
    // 431 / 408 / 400 of the HTTP parser as problem+json, like every other error.
    clientErrorHandler: clientErrorHandler(security),
  });
  // The hot routes' fast path (src/auth/hot-routes.ts). Added before Nest registers its middleware
  // (NestFactory.create does), so it runs after the adapter's own hooks — shutdown 503, CORS,
  // routable target — and before the logging middleware; it answers nothing until bound below.
  let answerHot: ((req: FastifyRequest, reply: FastifyReply) => boolean) | undefined;
  adapter.getInstance().addHook('onRequest', (req, reply, done) => {
    if (answerHot === undefined || !answerHot(req, reply)) done();
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    bufferLogs: opts.bufferLogs ?? true,
    abortOnError: false,
  });
  app.useLogger(withBootLinesAtDebug(app.get(Logger)));
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT_BYTES }, jsonDepthBodyParser(app.getHttpAdapter().getInstance()));
  app.useGlobalPipes(validationPipe());
  app.useGlobalFilters(new ProblemFilter());
  app.enableShutdownHooks();
  if (config.corsOrigins.length > 0) {
    app.enableCors({ origin: config.corsOrigins, credentials: true, exposedHeaders: ['x-request-id'] });
  }

  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', (req, reply, payload, done) => {
    reply.headers(security).header('x-request-id', req.id);
    done(null, payload);
  });
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
  answerHot = hotRoutes(app);

  const document = buildOpenApi(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
    customSiteTitle: 'Platform BFF API',
  });
  return app;
}

export function buildOpenApi(app: NestFastifyApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('Platform BFF')
    .setDescription(
      'Backend-for-frontend of the data and ML platform. Every route needs a Keycloak access token ' +
        '(Authorization: Bearer) unless marked public; errors are application/problem+json with a stable `reason`. ' +
        'Break-glass: the operations that list the `basic` scheme also take HTTP Basic, only while Keycloak is unreachable.',
    )
    .setVersion('1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Keycloak access token' }, BEARER_SCHEME)
    .addApiKey({ type: 'apiKey', in: 'query', name: 'access-token', description: 'Token in the query (WebSocket upgrades and ext-authz only)' }, 'access-token')
    // Declared on exactly the routes marked @AllowBreakGlass (the decorator adds it as an alternative to bearer).
    .addBasicAuth(
      {
        type: 'http',
        scheme: 'basic',
        description:
          'Break-glass only, on the operations that list it (the Trino Gateway admin routes), instead of a Keycloak access token: ' +
          'a user of BREAK_GLASS_USERS (off when unset), accepted only while Keycloak is unreachable; otherwise refused (401). ' +
          'Every use is an audit event at level alert and counted in bff_break_glass_total.',
      },
      BASIC_SCHEME,
    );
  for (const tag of API_TAGS) builder.addTag(tag.name, tag.description);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    extraModels: PROBLEM_SCHEMAS,
    operationIdFactory: (c, m) => `${c.replace(/Controller$/, '')}_${m}`,
  });
  documentTransportProblems(document.paths, RATE_LIMITED_ROUTES);
  return document;
}
