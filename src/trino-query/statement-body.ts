import type { onRequestHookHandler } from 'fastify';

/** The route the SQL text is posted to. */
export const STATEMENT_ROUTE = '/v1/statement';
const TEXT_PLAIN = /^text\/plain\s*(?:;|$)/i;

/**
 * Trino takes the SQL of POST /v1/statement as the raw body whatever its content type: the CLI and JDBC
 * send text/plain, trino-client (axios) sends application/x-www-form-urlencoded, Python's requests
 * sends none. For that one route (and only it), this onRequest hook declares the body text/plain before
 * Fastify picks a parser, so Fastify's own text parser reads it, with the app's body limit. No parser is
 * added and no other route's content types change.
 */
export const statementBodyAsText: onRequestHookHandler = (req, _reply, done) => {
  if (req.method === 'POST' && req.routeOptions.url === STATEMENT_ROUTE) {
    const type = req.headers['content-type'];
    if (type === undefined || !TEXT_PLAIN.test(type)) req.headers['content-type'] = 'text/plain; charset=utf-8';
  }
  done();
};
