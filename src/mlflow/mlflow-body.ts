import type { Readable } from 'node:stream';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { MLFLOW_MOUNT } from './mlflow-target';

/**
 * The proxy streams request bodies to MLflow (artifact uploads, OTLP exports) instead of having
 * Fastify parse them. On the proxy's routes only, an onRequest hook (which runs before any parser)
 * records the client's Content-Type and declares the body as this private media type, whose
 * parser hands the unread request stream to the handler. No other route's parsing changes, and
 * the parser refuses to run for any other route (a client sending this type elsewhere gets 415).
 * Both are registered in src/pipeline.ts.
 */
export const PASSTHROUGH_TYPE = 'application/x-bff-mlflow-passthrough';
const ORIGINAL_CONTENT_TYPE = Symbol('mlflow.originalContentType');

type Carrier = { [ORIGINAL_CONTENT_TYPE]?: string | null };

const ROUTES: ReadonlySet<string> = new Set([`${MLFLOW_MOUNT}/*`]);

/** The onRequest hook: the proxy's bodies declared PASSTHROUGH_TYPE, the client's Content-Type kept. */
export const passthroughBodyHook: onRequestHookHandler = (req, _reply, done) => {
  if (ROUTES.has(req.routeOptions.url ?? '')) {
    const given = req.headers['content-type'];
    Object.defineProperty(req.raw, ORIGINAL_CONTENT_TYPE, { value: given ?? null, enumerable: false });
    req.headers['content-type'] = PASSTHROUGH_TYPE;
  }
  done();
};

/** The parser of PASSTHROUGH_TYPE: the unread request stream, on the proxy's routes only (elsewhere 415). */
export function passthroughBodyParser(req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void): void {
  if (!ROUTES.has(req.routeOptions.url ?? '')) {
    done(Object.assign(new Error(`Unsupported Media Type: ${PASSTHROUGH_TYPE}`), { statusCode: 415 }), undefined);
    return;
  }
  done(null, payload);
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
