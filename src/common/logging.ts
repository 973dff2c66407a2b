import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { REDACTED, redactDeep, redactUrl } from './redact';

/** Paths that are probed often and carry nothing worth a log line. */
const QUIET = /^\/(health\/|metrics$)/;

/**
 * Structured JSON logs (pino via nestjs-pino). Credentials never reach them: credential
 * headers are censored, credential query values and JWT-shaped strings are scrubbed from
 * every line, whatever the message.
 */
export function loggingParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      quietReqLogger: true,
      autoLogging: { ignore: (req: IncomingMessage) => QUIET.test(req.url ?? '') },
      genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id?: string }).id ?? '',
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
        req: (req: { id?: unknown; method?: string; url?: string; headers?: Record<string, unknown> }) => ({
          id: req.id,
          method: req.method,
          url: req.url ? redactUrl(req.url) : req.url,
          headers: req.headers,
        }),
      },
      formatters: { log: (obj: Record<string, unknown>) => redactDeep(obj) as Record<string, unknown> },
      hooks: {
        logMethod(args: unknown[], method: (...a: unknown[]) => void) {
          method.apply(this, args.map((a) => redactDeep(a)));
        },
      },
    },
  };
}
