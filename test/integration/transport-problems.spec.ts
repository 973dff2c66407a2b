import { startTestBff, type TestBff } from '../support/app';
import { contractViolations } from '../support/contract';
import { httpRequest, type SimpleResponse } from '../support/net';

/**
 * Answers no route decides for itself — the HTTP parser's 431, the body limit's 413, the rate limit's
 * 429 — and the MLflow proxy's 405: problem+json, and declared in openapi/openapi.json for the operation
 * (schemathesis, test/e2e/schemathesis.spec.ts, found each of them undeclared, and the 431 as Fastify's
 * own application/json).
 */
jest.setTimeout(30_000);

describe('transport-level answers are problem+json and in the spec', () => {
  let bff: TestBff;
  let alice: string;

  beforeAll(async () => {
    bff = await startTestBff({ RATE_LIMIT_PER_MINUTE: '1' });
    alice = await bff.token('alice');
  });
  afterAll(() => bff?.close());

  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    httpRequest(`${bff.url}${path}`, { method, headers: { authorization: `Bearer ${alice}`, ...headers }, body });

  function expectDeclaredProblem(method: string, path: string, res: SimpleResponse, status: number, reason: string): void {
    expect([method, path, res.status]).toEqual([method, path, status]);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body).toMatchObject({ status, reason, type: `urn:problem:bff:${reason}` });
    expect(contractViolations(method, path, res.status, String(res.headers['content-type']), body)).toEqual([]);
  }

  it('431 header_too_large when the request line and headers exceed the limit, on any operation', async () => {
    const big = { 'x-padding': 'a'.repeat(20_000) };
    for (const [method, path] of [
      ['GET', '/auth/me'],
      ['GET', '/health/live'],
      ['POST', '/api/agents'],
      ['GET', '/mlflow/api/2.0/mlflow/experiments/search'],
    ]) {
      const res = await send(method, path, big);
      expectDeclaredProblem(method, path, res, 431, 'header_too_large');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    const longUrl = `/auth/login?returnTo=/${'a'.repeat(20_000)}`;
    expectDeclaredProblem('GET', longUrl, await send('GET', longUrl), 431, 'header_too_large');
  });

  it('413 payload_too_large on operations that take a body', async () => {
    const body = JSON.stringify({ name: 'a', description: 'x'.repeat(1024 * 1024) });
    for (const path of ['/api/agents', '/trino/query']) {
      expectDeclaredProblem('POST', path, await send('POST', path, { 'content-type': 'application/json' }, body), 413, 'payload_too_large');
    }
  });

  it('429 rate_limited on the rate-limited routes (RATE_LIMIT_PER_MINUTE)', async () => {
    // Limit 1 per minute: of three calls in a row, two share a window whatever the clock.
    let res: SimpleResponse | undefined;
    for (let i = 0; i < 3 && res?.status !== 429; i++) {
      res = await send('POST', '/trino/query', { 'content-type': 'application/json' }, JSON.stringify({ sql: 'SELECT 1' }));
    }
    expectDeclaredProblem('POST', '/trino/query', res!, 429, 'rate_limited');
  });

  it('405 method_not_allowed from the MLflow proxy', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const path = '/mlflow/api/2.0/mlflow/experiments/search';
      expectDeclaredProblem(method, path, await send(method, path), 405, 'method_not_allowed');
    }
  });
});
