import type { FastifyBodyParser, FastifyInstance } from 'fastify';
import { problem } from './problem';
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './json-bytes';

/**
 * The deepest nesting of objects and arrays accepted in any JSON the BFF reads from a client: request
 * bodies of every route (the MLflow proxy's too) and WebSocket frames. No request of the API nests
 * beyond a handful of levels; deeper input only makes recursive code (DTO transformation and
 * validation) overflow the stack or hold the event loop.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * True when the JSON text opens more than `max` objects/arrays inside one another. One pass over the
 * characters, no recursion and no allocation; it stops at the first level too deep, so a body nested
 * 200,000 deep costs as much as one nested 65 deep. Brackets inside strings (escapes included) are not
 * counted. It only measures nesting: whether the text is valid JSON is the parser's business after it.
 */
export function nestsDeeperThan(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

/** The refusal's words (problem detail and WebSocket error frame alike). */
export function tooDeepDetail(what: string): string {
  return `${what} nests deeper than ${MAX_JSON_DEPTH} levels`;
}

/** 400 validation_failed when the text nests deeper than MAX_JSON_DEPTH. */
export function assertJsonDepth(text: string, what = 'the request body'): void {
  if (nestsDeeperThan(text)) throw problem.badRequest(tooDeepDetail(what));
}

/**
 * The application/json body parser of every route (given to Nest's `useBodyParser`): the nesting is
 * checked before parsing, then the text is parsed exactly as Fastify's own parser does
 * (secure-json-parse, `__proto__` and `constructor` poisoning refused).
 */
export function jsonDepthBodyParser(fastify: FastifyInstance): FastifyBodyParser<Buffer> {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  return (req, body, done) => {
    const text = body.toString('utf8');
    if (nestsDeeperThan(text)) {
      // A plain error with a statusCode, as Fastify's own parser errors are (the problem filter maps it).
      done(Object.assign(new Error(tooDeepDetail('the request body')), { statusCode: 400 }), undefined);
      return;
    }
    parse(req, text, done);
  };
}
