import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { BASIC_SCHEME, BEARER_SCHEME } from './auth/decorators';
import { createRootLogger } from './common/logging';
import { withBootLinesAtDebug } from './common/boot-logger';
import { API_TAGS } from './common/api-tags';
import { documentTransportProblems, PROBLEM_SCHEMAS } from './common/api-problems.decorator';
import { RATE_LIMITED_ROUTES } from './hardening/user-throttler.guard';
import { documentMlflowPathExamples } from './mlflow/mlflow-openapi';
import type { AppConfig } from './config/app-config';
import { requestPipeline } from './pipeline';

export interface CreateAppOptions {
  /** Keep Nest's own bootstrap logs (default: buffered into pino). */
  bufferLogs?: boolean;
  /** The root logger (tests pass one writing to a buffer). */
  logger?: ReturnType<typeof createRootLogger>;
}

/** Builds the application (not yet listening): the request pipeline (src/pipeline.ts), Swagger. Used by main.ts, tests and the spec exporter. */
export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const logger = opts.logger ?? createRootLogger(config);
  const pipeline = requestPipeline(config, logger);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), pipeline.adapter, {
    bufferLogs: opts.bufferLogs ?? true,
    abortOnError: false,
  });
  app.useLogger(withBootLinesAtDebug(app.get(Logger)));
  app.enableShutdownHooks();
  pipeline.install(app);

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
  documentMlflowPathExamples(document.paths);
  return document;
}
