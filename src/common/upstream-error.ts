import { ProblemException, problem } from './problem';

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Maps an error thrown by a call to an upstream (fetch, undici) into the problem the client sees:
 * timeouts are 504, refused/reset connections and unparseable bodies are 502. HTTP answers (5xx, 4xx)
 * are not errors here: the callers read their status themselves.
 */
export function upstreamProblem(err: unknown, upstream: string): ProblemException {
  if (err instanceof ProblemException) return err;
  if (err instanceof SyntaxError) return problem.badGateway(`${upstream} answered a malformed body`);
  const code = (err as { code?: string })?.code;
  if (code && TIMEOUT_CODES.has(code)) return problem.gatewayTimeout(`${upstream} did not answer in time`);
  // By name, not instanceof: fetch's timeout errors may come from another realm (DOMException).
  const name = (err as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return problem.gatewayTimeout(`${upstream} did not answer in time`);
  }
  return problem.badGateway(`${upstream} failed`);
}
