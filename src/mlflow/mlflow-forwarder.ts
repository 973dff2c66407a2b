import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../common/problem';
import type { UpstreamResponse } from '../common/upstream-transport';
import { MlflowClient, PayloadTooLarge, readAll } from './mlflow.client';
import type { Target } from './mlflow-target';

/** Responses the BFF reads to filter (searches) or to learn an id (creations). */
const MAX_JSON_RESPONSE = 32 * 1024 * 1024;

/** Never forwarded to MLflow: hop-by-hop, credentials, the browser's origin signals (the BFF checked them), forwarding claims. */
const REQUEST_HEADERS_DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'content-type',
  'authorization',
  'cookie',
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-request-id',
  'sec-fetch-site',
  'sec-fetch-mode',
  'sec-fetch-dest',
  'sec-fetch-user',
  // MLflow's own routing headers: set by the proxy when it decided on them (OTLP traces), never passed through.
  'x-mlflow-experiment-id',
  'x-mlflow-run-id',
  'x-mlflow-workspace',
]);
/** Never returned from MLflow: hop-by-hop, cookies (the BFF owns the cookie namespace), CORS (the BFF's own policy applies). */
const RESPONSE_HEADERS_DROPPED = /^(?:connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade|set-cookie|access-control-.*)$/i;

/** What the proxy sends MLflow: what it decided on, nothing the client sent besides. */
export interface Forward {
  /** The method MLflow gets (a REST HEAD goes as the GET it mirrors). */
  method: string;
  /** The query string MLflow gets, without `?` (for REST calls: rebuilt from the decided parameters). */
  query: string;
  body?: Readable | Buffer;
  contentType?: string;
  /** Reads a 200 JSON answer and returns what to send instead (undefined: send it unchanged). */
  inspect?: (json: Record<string, unknown>) => Promise<unknown>;
  /** Headers set by the proxy (they replace the client's). */
  headers?: OutgoingHttpHeaders;
}

/** Sends a decided request to MLflow and its answer back: bodies streamed, or read and rewritten when `inspect` says so. */
@Injectable()
export class MlflowForwarder {
  constructor(private readonly client: MlflowClient) {}

  async forward(req: FastifyRequest, reply: FastifyReply, target: Target, plan: Forward): Promise<void> {
    const headers = forwardHeaders(req.headers);
    headers['x-request-id'] = String(req.id);
    if (plan.contentType) headers['content-type'] = plan.contentType;
    // A body the BFF rebuilt is sent as it is, never in the client's Content-Encoding.
    if (Buffer.isBuffer(plan.body)) {
      headers['content-length'] = String(plan.body.length);
      delete headers['content-encoding'];
    } else if (plan.body && req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    if (plan.inspect) headers['accept-encoding'] = 'identity';
    Object.assign(headers, plan.headers);

    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    let res: UpstreamResponse;
    try {
      res = await this.client.send({ method: plan.method, path: target.upstreamPath, query: plan.query, headers, body: plan.body, signal: gone.signal });
    } catch (err) {
      if (gone.signal.aborted) return;
      throw this.client.problemOf(err);
    }
    const status = res.status;
    const out = responseHeaders(res.headers);
    const isJson = /^application\/json\b/i.test(String(res.headers['content-type'] ?? ''));
    const head = req.method === 'HEAD';
    if (!plan.inspect || status !== 200 || !isJson) {
      if (head && plan.method !== 'HEAD') {
        // The GET a HEAD mirrors: its headers, not its body.
        res.body.resume();
        reply.code(status).headers(out).send();
        return;
      }
      reply.code(status).headers(out).send(res.body);
      return;
    }
    let answer: Record<string, unknown>;
    try {
      const text = (await readAll(res.body, MAX_JSON_RESPONSE)).toString('utf8');
      answer = (text.trim() ? JSON.parse(text) : {}) as Record<string, unknown>;
    } catch (err) {
      if (gone.signal.aborted) return;
      throw problem.badGateway(err instanceof PayloadTooLarge ? 'MLflow answered more than the BFF reads' : 'MLflow answered a malformed body');
    }
    const replaced = await plan.inspect(answer);
    const body = Buffer.from(JSON.stringify(replaced ?? answer));
    delete out['content-encoding'];
    // A HEAD gets the headers of this answer (its length included), Node sends no body for it.
    reply
      .code(status)
      .headers({ ...out, 'content-type': 'application/json', 'content-length': String(body.length) })
      .send(head ? undefined : body);
  }
}

function forwardHeaders(given: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || REQUEST_HEADERS_DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function responseHeaders(given: UpstreamResponse['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || RESPONSE_HEADERS_DROPPED.test(name)) continue;
    out[name] = value;
  }
  return out;
}
