import { ProblemException, problem } from './problem';

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** A request that could not be sent again after its reused connection was reset: its streamed body already went. */
export class UnreplayableReset extends Error {
  constructor(readonly upstream: string) {
    super(`${upstream} closed the reused connection before answering`);
    this.name = 'UnreplayableReset';
  }
}

/**
 * The one mapping of a failed call to an upstream (undici, fetch) to the problem the client sees:
 * timeouts are 504 (`within timeoutMs` when the caller says which limit it was), refused/reset
 * connections and unparseable bodies are 502. HTTP answers (5xx, 4xx) are not errors here: the
 * callers read their status themselves.
 */
export function upstreamProblem(err: unknown, upstream: string, timeoutMs?: number): ProblemException {
  if (err instanceof ProblemException) return err;
  if (err instanceof SyntaxError) return problem.badGateway(`${upstream} answered a malformed body`);
  if (err instanceof UnreplayableReset) {
    return problem.badGateway(
      `${upstream} closed the reused connection before answering; the request body was streamed, so it cannot be sent again and may not have reached ${upstream}: retry the request`,
    );
  }
  const code = (err as { code?: string })?.code;
  // By name, not instanceof: fetch's timeout errors may come from another realm (DOMException under jest's vm sandbox).
  const name = (err as { name?: string })?.name;
  if ((code && TIMEOUT_CODES.has(code)) || name === 'TimeoutError') {
    return problem.gatewayTimeout(timeoutMs === undefined ? `${upstream} did not answer in time` : `${upstream} did not answer within ${timeoutMs} ms`);
  }
  return problem.badGateway(`${upstream} is unreachable`);
}
