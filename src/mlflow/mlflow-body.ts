import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * The proxy streams request bodies to MLflow (artifact uploads, OTLP exports) instead of having
 * Fastify parse them. On the proxy's routes only, an onRequest hook (which runs before any parser)
 * records the client's Content-Type and declares the body as this private media type, whose
 * parser hands the unread request stream to the handler. No other route's parsing changes, and
 * the parser refuses to run for any other route (a client sending this type elsewhere gets 415).
 */
export const PASSTHROUGH_TYPE = 'application/x-bff-mlflow-passthrough';
const ORIGINAL_CONTENT_TYPE = Symbol('mlflow.originalContentType');

type Carrier = { [ORIGINAL_CONTENT_TYPE]?: string | null };

export function registerPassthroughBody(fastify: FastifyInstance, routes: ReadonlySet<string>): void {
  fastify.addContentTypeParser(PASSTHROUGH_TYPE, (req, payload, done) => {
    if (!routes.has(req.routeOptions.url ?? '')) {
      done(Object.assign(new Error(`Unsupported Media Type: ${PASSTHROUGH_TYPE}`), { statusCode: 415 }), undefined);
      return;
    }
    done(null, payload);
  });
  fastify.addHook('onRequest', (req, _reply, done) => {
    if (routes.has(req.routeOptions.url ?? '')) {
      const given = req.headers['content-type'];
      Object.defineProperty(req.raw, ORIGINAL_CONTENT_TYPE, { value: given ?? null, enumerable: false });
      req.headers['content-type'] = PASSTHROUGH_TYPE;
    }
    done();
  });
}

/** The Content-Type the client sent (undefined when none). */
export function originalContentType(req: FastifyRequest): string | undefined {
  return (req.raw as Carrier)[ORIGINAL_CONTENT_TYPE] ?? undefined;
}

/** The unread request body stream, when the request has a body. */
export function bodyStream(req: FastifyRequest): Readable | undefined {
  const body = req.body as Readable | undefined | null;
  return body && typeof body.pipe === 'function' ? body : undefined;
}
