import { ProblemException, problem } from './problem';
import { readBoundedText } from './read-bounded';
import { upstreamProblem } from './upstream-error';

/** The most of a JSON answer the BFF reads from an upstream REST API. */
export const MAX_UPSTREAM_RESPONSE_BYTES = 4 * 1024 * 1024;

/** An upstream's answer, read whole (bounded): its status and its body text. */
export interface UpstreamAnswer {
  status: number;
  text: string;
}

/**
 * One request to an upstream REST API (ML-Agent, Trino Gateway) with fetch: no redirects followed,
 * headers and body within `timeoutMs`, at most `maxBytes` (MAX_UPSTREAM_RESPONSE_BYTES) read. Failures become the
 * problem the client sees: 504 when the upstream is too slow, 502 when it is unreachable or answers
 * too much. Any status is returned; the caller maps it.
 */
export async function fetchUpstream(
  upstream: string,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  timeoutMs: number,
  maxBytes = MAX_UPSTREAM_RESPONSE_BYTES,
): Promise<UpstreamAnswer> {
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const tooLarge = () => new ProblemException(502, 'upstream_error', `${upstream} answered more than ${maxBytes} bytes`);
    return { status: res.status, text: await readBoundedText(res, maxBytes, tooLarge) };
  } catch (err) {
    if (err instanceof ProblemException) throw err;
    // fetch rejects with a TimeoutError (AbortSignal.timeout, also while the body is read) or a TypeError
    // ("fetch failed") for refused or reset connections. Matched by name: undici's errors come from another
    // realm under jest's vm sandbox.
    const name = (err as { name?: unknown })?.name;
    if (name === 'TimeoutError' || name === 'AbortError') throw problem.gatewayTimeout(`${upstream} did not answer within ${timeoutMs} ms`);
    if (name === 'TypeError') throw problem.badGateway(`${upstream} is unreachable`);
    throw upstreamProblem(err, upstream);
  }
}
