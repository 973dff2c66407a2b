import fc from 'fast-check';
import { decodeJwt } from 'jose';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { call, emulator, PROBLEM_JSON, type Answer } from './reliability-support';

jest.setTimeout(80_000);

const RUNS = Number(process.env.PROPERTY_RUNS ?? 120);

/** Claims of a token the sandbox issuer really signed. */
interface Proven {
  sub: string;
  username: string;
  email?: string;
}

/**
 * Property tests on the hot edges: whatever headers, path and token-shaped strings a client sends to
 * /api/validate, /api/auth, /auth/me and /v1/statement, the answer is 2xx or a 4xx problem+json —
 * never a 5xx — and any identity the BFF asserts (x-trino-user, x-user-*, the /auth/me body, the
 * X-Trino-User it sends Trino) is that of a real sandbox token present in the request.
 */
describe('hot edges under arbitrary input (fast-check)', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let trino: TrinoCoordinator;
  const real = new Map<string, Proven>();
  let realTokens: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startTestBff({ RATE_LIMIT_PER_MINUTE: '0' }, { sandbox });
    trino = emulator<TrinoCoordinator>(sandbox, 'trino-coordinator');
    for (const user of ['alice', 'admin', 'viewer']) {
      const token = await bff.token(user);
      const c = decodeJwt(token);
      real.set(token, { sub: String(c.sub), username: String(c.preferred_username), email: c.email as string | undefined });
    }
    realTokens = [...real.keys()];
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  // ---- arbitraries -----------------------------------------------------------------------------------------
  const b64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), maxLength: 60 });
  const headerValue = fc.string({
    unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'.split('')),
    maxLength: 80,
  });
  const mutate = (t: string, i: number, ch: string) => {
    const at = i % t.length;
    return t.slice(0, at) + ch + t.slice(at + 1);
  };
  const forged = (t: string, claims: Record<string, unknown>) => {
    const [h, p, s] = t.split('.');
    const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), ...claims };
    return [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.');
  };
  const tokenLike = (): fc.Arbitrary<string> =>
    fc.oneof(
      { arbitrary: fc.constantFrom(...realTokens), weight: 5 },
      fc.tuple(fc.constantFrom(...realTokens), fc.nat(), fc.constantFrom('A', 'b', '-', '_', '.', '=')).map(([t, i, c]) => mutate(t, i, c)),
      fc.tuple(fc.constantFrom(...realTokens), fc.constantFrom('admin', 'root', 'alice', 'mallory')).map(([t, u]) => forged(t, { preferred_username: u, sub: u })),
      fc.tuple(fc.constantFrom(...realTokens)).map(([t]) => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${t.split('.')[1]}.`),
      fc.tuple(b64url, b64url, b64url).map((parts) => parts.join('.')),
      headerValue,
    );
  const authorization = (): fc.Arbitrary<string> =>
    fc.oneof(
      { arbitrary: tokenLike().map((t) => `Bearer ${t}`), weight: 5 },
      tokenLike().map((t) => `bearer  ${t}`),
      tokenLike().map((t) => `Basic ${Buffer.from(`x:${t}`).toString('base64')}`),
      headerValue,
    );
  const IDENTITY_HEADERS = ['x-trino-user', 'x-user-id', 'x-user-name', 'x-user-email', 'x-forwarded-user', 'x-trino-original-user', 'x-auth-request-user'];
  const headers = (): fc.Arbitrary<Record<string, string>> =>
    fc
      .record(
        {
          authorization: authorization(),
          cookie: headerValue,
          'x-original-uri': fc.oneof(
            fc.constantFrom('/api/agents', '/api/agents/x', '/trino/query', '/v1/statement', '/admin', '//..//', '/%2e%2e/'),
            headerValue.map((v) => `/${v}`),
          ),
          'x-forwarded-uri': fc.oneof(fc.constantFrom('/api/agents', '/mlflow/ajax-api'), headerValue),
          'x-forwarded-method': fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH', 'WHATEVER'),
          'x-forwarded-host': headerValue,
          'x-forwarded-proto': fc.constantFrom('http', 'https', 'ftp', ''),
          'x-request-id': headerValue,
          'content-type': fc.constantFrom('text/plain', 'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
          ...Object.fromEntries(IDENTITY_HEADERS.map((h) => [h, fc.oneof(fc.constantFrom('admin', 'root', 'alice'), headerValue)])),
        },
        { requiredKeys: [] },
      )
      .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== '')) as Record<string, string>);
  const pathSuffix = fc
    .array(fc.oneof(fc.constantFrom('api', 'agents', 'mlflow', '..', '.', '%2e%2e', '%2F', 'trino', 'v1', ''), b64url), { maxLength: 5 })
    .map((segs) => segs.join('/'));
  const queryToken = () => fc.option(tokenLike(), { nil: undefined });

  // ---- the properties' checks ------------------------------------------------------------------------------
  /** The real tokens present in the request (Authorization or access-token query value). */
  function presentTokens(reqHeaders: Record<string, string>, query?: string): Proven[] {
    const present: Proven[] = [];
    for (const [t, claims] of real) {
      if ((reqHeaders.authorization ?? '').includes(t) || (query ?? '').includes(t)) present.push(claims);
    }
    return present;
  }

  /** Statuses seen per edge: each property must have seen both sides (allowed and refused), or it proved little. */
  const seen = new Map<string, Set<number>>();
  afterAll(() => {
    for (const [edge, statuses] of seen) {
      expect([edge, [...statuses].some((s) => s < 300)]).toEqual([edge, true]);
      expect([edge, [...statuses].some((s) => s >= 400)]).toEqual([edge, true]);
    }
  });

  function checkAnswer(what: string, res: Answer, reqHeaders: Record<string, string>, query?: string): void {
    const edge = what.split(' ')[1].split('/').slice(0, 3).join('/');
    seen.set(edge, (seen.get(edge) ?? new Set()).add(res.status));
    const ctx = `${what} → ${res.status} ${res.body.slice(0, 200)}`;
    if (res.status >= 500 || res.status < 200 || (res.status >= 300 && res.status < 400)) throw new Error(`unexpected status: ${ctx}`);
    if (res.status >= 400 && !PROBLEM_JSON.test(String(res.headers['content-type']))) throw new Error(`a 4xx that is not problem+json: ${ctx}`);
    const present = presentTokens(reqHeaders, query);
    const claimed: Array<[string, keyof Proven]> = [
      ['x-trino-user', 'username'],
      ['x-user-id', 'sub'],
      ['x-user-name', 'username'],
      ['x-user-email', 'email'],
    ];
    for (const [header, claim] of claimed) {
      const value = res.headers[header];
      if (value === undefined) continue;
      if (!present.some((p) => p[claim] === value)) throw new Error(`${header}: ${String(value)} is not proven by a token of the request: ${ctx}`);
    }
  }

  it('/api/validate/** (Envoy ext_authz)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        pathSuffix,
        headers(),
        queryToken(),
        async (method, suffix, h, qt) => {
          const query = qt === undefined ? '' : `?access-token=${encodeURIComponent(qt)}`;
          const res = await call(bff.url, method, `/api/validate/${suffix}${query}`, { headers: h });
          checkAnswer(`${method} /api/validate/${suffix}${query}`, res, h, qt);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('/api/auth/** (nginx auth_request, Envoy SecurityPolicy)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE'),
        pathSuffix,
        headers(),
        queryToken(),
        fc.option(tokenLike(), { nil: undefined }),
        async (method, suffix, h, qt, bodyToken) => {
          const query = qt === undefined ? '' : `?access-token=${encodeURIComponent(qt)}`;
          const withBody = method === 'POST' && bodyToken !== undefined;
          const reqHeaders = withBody ? { ...h, 'content-type': 'application/json' } : h;
          const res = await call(bff.url, method, `/api/auth/${suffix}${query}`, {
            headers: reqHeaders,
            body: withBody ? JSON.stringify({ token: bodyToken }) : undefined,
          });
          checkAnswer(`${method} /api/auth/${suffix}${query}`, res, reqHeaders, `${qt ?? ''} ${withBody ? bodyToken : ''}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("GET /auth/me: the principal answered is the token's", async () => {
    await fc.assert(
      fc.asyncProperty(headers(), fc.constantFrom('', '?access-token=x', '/'), async (h, extra) => {
        const res = await call(bff.url, 'GET', `/auth/me${extra}`, { headers: h });
        checkAnswer(`GET /auth/me${extra}`, res, h);
        if (res.status === 200) {
          const present = presentTokens(h);
          if (!present.some((p) => p.sub === res.json?.subject && p.username === res.json?.username)) {
            throw new Error(`/auth/me answered ${res.json?.username} without its token: ${JSON.stringify(h)}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("POST /v1/statement: the X-Trino-User sent to Trino is the token's, whatever the client sends", async () => {
    await fc.assert(
      fc.asyncProperty(headers(), fc.constantFrom('SELECT 1', '', 'SELECT * FROM tpch.tiny.nation', '\u0000'), async (h, sql) => {
        const seen = trino.receivedUsers.length;
        const res = await call(bff.url, 'POST', '/v1/statement', { headers: h, body: sql });
        checkAnswer('POST /v1/statement', res, h);
        const sent = trino.receivedUsers.slice(seen);
        const present = presentTokens(h);
        for (const user of sent) {
          if (!present.some((p) => p.username === user)) throw new Error(`X-Trino-User ${user} sent to Trino without its token: ${JSON.stringify(h)}`);
        }
        if (res.status === 200 && res.json?.id)
          await call(bff.url, 'DELETE', `/v1/query/${res.json.id as string}`, { headers: { authorization: h.authorization ?? '' } });
      }),
      { numRuns: RUNS },
    );
  });
});
