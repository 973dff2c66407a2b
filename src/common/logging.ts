import pino, { type Logger as PinoLogger, type LoggerOptions } from 'pino';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { REDACTED, redactDeep, redactUrl } from './redact';

/** Paths that are probed often and carry nothing worth a log line. */
export const QUIET_PATHS = /^\/(health\/|metrics$)/;

/**
 * The one pino logger of the process: Fastify logs requests through it and nestjs-pino
 * routes Nest's own logs to it. Credentials never reach a line: credential headers are
 * censored, and credential query values and JWT-shaped strings are scrubbed from every
 * line, whatever the message.
 */
export function createRootLogger(config: Pick<AppConfig, 'logLevel'>, destination?: pino.DestinationStream): PinoLogger {
  const options: LoggerOptions = {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["proxy-authorization"]',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
        'req.headers["sec-websocket-protocol"]',
        'res.headers["set-cookie"]',
      ],
      censor: REDACTED,
    },
    serializers: {
      req: (req: { id?: unknown; method?: string; url?: string }) => ({ id: req.id, method: req.method, url: req.url ? redactUrl(req.url) : req.url }),
      err: pino.stdSerializers.err,
    },
    formatters: { log: (obj: Record<string, unknown>) => redactDeep(obj) as Record<string, unknown> },
    hooks: {
      logMethod(args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => redactDeep(a)),
        );
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** nestjs-pino on top of Fastify's logger (useExisting): one logger, one configuration. */
export function loggingParams(logger: PinoLogger): Params {
  return { pinoHttp: { logger }, useExisting: true };
}
