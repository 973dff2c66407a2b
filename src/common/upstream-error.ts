import { isAxiosError } from 'axios';
import { ProblemException, problem } from './problem';

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Maps a failed call to an upstream into the problem the client sees: timeouts are 504,
 * refused/reset connections, 5xx answers and unparseable bodies are 502. A 4xx from the
 * upstream is returned as `undefined` so the caller decides (most pass it through).
 */
export function upstreamProblem(err: unknown, upstream: string): ProblemException | undefined {
  if (err instanceof ProblemException) return err;
  if (isAxiosError(err)) {
    if (err.response) {
      const status = err.response.status;
      if (status >= 500) return problem.badGateway(`${upstream} answered ${status}`);
      return undefined;
    }
    if (err.code && TIMEOUT_CODES.has(err.code)) return problem.gatewayTimeout(`${upstream} did not answer in time`);
    return problem.badGateway(`${upstream} is unreachable`);
  }
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
