import { clientErrorHandler } from './client-error';

/** What the handler writes to a socket, parsed as the client reads it. */
function answer(code: string | undefined): { status: number; headers: Record<string, string>; body: Record<string, unknown>; destroyed: boolean } {
  let written = '';
  let destroyed = false;
  const socket = {
    destroyed: false,
    writable: true,
    write: (s: string) => {
      written += s;
      return true;
    },
    destroy: () => {
      destroyed = true;
    },
  };
  clientErrorHandler({ 'x-content-type-options': 'nosniff' })(Object.assign(new Error('client error'), { code }), socket as never);
  const [head, body] = written.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  expect(Number(headers['content-length'])).toBe(Buffer.byteLength(body));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as Record<string, unknown>, destroyed };
}

describe('clientErrorHandler: the HTTP parser’s refusals as problem+json', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'header_too_large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_INVALID_HEADER_TOKEN', 400, 'validation_failed'],
    [undefined, 400, 'validation_failed'],
  ])('%s → %i %s, with the given headers, and closes the connection', (code, status, reason) => {
    const res = answer(code);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers.connection).toBe('close');
    expect(res.body).toMatchObject({ status, reason, type: `urn:problem:bff:${reason}` });
    expect(res.destroyed).toBe(true);
  });

  it('writes nothing to a connection the client reset', () => {
    let wrote = false;
    const socket = { destroyed: false, writable: true, write: () => (wrote = true), destroy: () => undefined };
    clientErrorHandler()(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), socket as never);
    expect(wrote).toBe(false);
  });
});
