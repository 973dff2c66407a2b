import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_CONTENT_TYPE, problemBody, type ProblemReason } from './problem';

/**
 * What Node's HTTP parser refuses before any route runs (Fastify's `clientErrorHandler`): headers over
 * the limit (431), a request not received within the server's timeouts (408), anything unparsable (400).
 * Fastify's default answers these with its own `application/json` shape; here they are problem+json
 * with a stable reason like every other error, and the connection is closed (its state is unknown).
 */
const BY_CODE: Record<string, { status: number; reason: ProblemReason; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'header_too_large', detail: 'the request line and headers exceed the server limit' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'request_timeout', detail: 'the request was not received in time' },
};
const MALFORMED = { status: 400, reason: 'validation_failed' as const, detail: 'malformed HTTP request' };

/** The raw HTTP/1.1 answer to a client error (exported for the unit test). */
export function clientErrorResponse(code: string | undefined, headers: Readonly<Record<string, string>> = {}): string {
  const { status, reason, detail } = (code !== undefined && BY_CODE[code]) || MALFORMED;
  const body = JSON.stringify(problemBody(status, reason, detail));
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `content-type: ${PROBLEM_CONTENT_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Fastify's clientErrorHandler: answers a client error as problem+json (with `headers`, e.g. the security headers). */
export function clientErrorHandler(headers: Readonly<Record<string, string>> = {}): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody to answer (as Fastify's default handler).
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(clientErrorResponse(err.code, headers));
    socket.destroy();
  };
}
