import { createPublicKey } from 'node:crypto';
import { decodePart, hs256, rs256Foreign, unsigned } from '../support/jwt';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';

const HS_SECRET = 'x'.repeat(16) + 'legacy-agent-service-secret-0123456789';
const HS_ISSUER = 'urn:platform:agent-service';

describe('authentication and the ext-authz doors (sandbox issuer, real HTTP)', () => {
  let bff: TestBff;
  let alice: string;
  let viewer: string;
  let admin: string;

  beforeAll(async () => {
    bff = await startTestBff({ AUTH_JWT_SECRET: HS_SECRET, AUTH_JWT_SECRET_ISSUER: HS_ISSUER });
    [alice, viewer, admin] = await Promise.all([bff.token('alice'), bff.token('viewer'), bff.token('admin')]);
  });
  afterAll(() => bff.close());

  const get = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
    fetch(bff.url + path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  async function expectProblem(res: Response, status: number, reason: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as { reason: string; status: number; detail?: string };
    expect(body.reason).toBe(reason);
    expect(body.status).toBe(status);
    return body;
  }

  describe('GET /auth/me', () => {
    it('answers the principal of a valid Keycloak token, without the token', async () => {
      const res = await get('/auth/me', bearer(alice));
      expect(res.status).toBe(200);
      const me = (await res.json()) as Record<string, unknown>;
      expect(me).toMatchObject({ username: 'alice', email: 'alice@example.com', clientId: 'platform-frontend', issuer: bff.sandbox.issuer.issuer });
      expect(me.roles).toEqual(expect.arrayContaining(['REGULAR']));
      expect(me.groups).toEqual(['/data-team']);
      expect(JSON.stringify(me)).not.toContain(alice.split('.')[2]);
    });

    it('401 token_missing without a token, with WWW-Authenticate', async () => {
      const res = await get('/auth/me');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      await expectProblem(res, 401, 'token_missing');
    });

    it('never echoes identity headers a client sends', async () => {
      const res = await get('/auth/me', { ...bearer(viewer), 'x-trino-user': 'admin', 'x-user-id': 'admin', 'x-forwarded-user': 'admin' });
      expect(res.status).toBe(200);
      for (const h of ['x-trino-user', 'x-user-id', 'x-forwarded-user']) expect(res.headers.get(h)).toBeNull();
      expect(((await res.json()) as { username: string }).username).toBe('viewer');
    });
  });

  describe('forged and misused tokens are refused (401, problem+json)', () => {
    const valid = () => decodePart(alice, 1);
    const cases: Array<[string, () => Promise<string> | string, string]> = [
      ['alg none', () => unsigned({ alg: 'none', typ: 'JWT' }, valid()), 'token_invalid'],
      ['alg none with a signature', () => unsigned({ alg: 'none', typ: 'JWT' }, valid(), 'AAAA'), 'token_invalid'],
      ['alg NONE', () => unsigned({ alg: 'NONE', typ: 'JWT' }, valid(), 'AAAA'), 'token_invalid'],
      ['alg nOnE', () => unsigned({ alg: 'nOnE', typ: 'JWT' }, valid(), 'AAAA'), 'token_invalid'],
      [
        'algorithm confusion: HS256 signed with the realm public key',
        () => {
          const jwk = bff.sandbox.issuer.publicJwks().keys[0];
          const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
          return hs256({ kid: jwk.kid }, valid(), pem);
        },
        'token_invalid',
      ],
      ['jku header', () => bff.sandbox.issuer.issueToken({ header: { jku: 'http://127.0.0.1:1/keys' } }), 'token_invalid'],
      ['x5u header', () => bff.sandbox.issuer.issueToken({ header: { x5u: 'http://127.0.0.1:1/cert' } }), 'token_invalid'],
      ['jwk header', () => bff.sandbox.issuer.issueToken({ header: { jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } } }), 'token_invalid'],
      ['x5c header', () => bff.sandbox.issuer.issueToken({ header: { x5c: ['MIIB'] } }), 'token_invalid'],
      ['crit header', () => bff.sandbox.issuer.issueToken({ header: { crit: ['urn:example:ext'], 'urn:example:ext': 1 } }), 'token_invalid'],
      ['unknown kid (foreign key)', () => rs256Foreign({ kid: 'not-a-known-key' }, valid()), 'token_invalid'],
      ['kid that is a path', () => rs256Foreign({ kid: '../../../../etc/passwd' }, valid()), 'token_invalid'],
      ['kid that is SQL', () => rs256Foreign({ kid: "' OR '1'='1' --" }, valid()), 'token_invalid'],
      ['wrong issuer', () => bff.sandbox.issuer.issueToken({ claims: { iss: 'http://127.0.0.1:1/realms/other' } }), 'issuer_not_trusted'],
      ['issuer with a suffix', () => bff.sandbox.issuer.issueToken({ claims: { iss: bff.sandbox.issuer.issuer + 'x' } }), 'issuer_not_trusted'],
      ['issuer prefix', () => bff.sandbox.issuer.issueToken({ claims: { iss: bff.sandbox.issuer.issuer.slice(0, -1) } }), 'issuer_not_trusted'],
      ['issuer with a trailing slash', () => bff.sandbox.issuer.issueToken({ claims: { iss: bff.sandbox.issuer.issuer + '/' } }), 'issuer_not_trusted'],
      ['no issuer', () => bff.sandbox.issuer.issueToken({ claims: { iss: undefined } }), 'issuer_not_trusted'],
      ['wrong audience', () => bff.sandbox.issuer.issueToken({ claims: { aud: 'some-other-client' } }), 'audience_mismatch'],
      ['only the account audience', () => bff.sandbox.issuer.issueToken({ claims: { aud: 'account' } }), 'audience_mismatch'],
      ['missing audience', () => bff.sandbox.issuer.issueToken({ claims: { aud: undefined } }), 'audience_mismatch'],
      ['expired', () => bff.sandbox.issuer.issueToken({ expiresInS: -120 }), 'token_expired'],
      ['not yet valid', () => bff.sandbox.issuer.issueToken({ claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }), 'token_invalid'],
      ['a refresh token', () => bff.sandbox.issuer.issueToken({ claims: { typ: 'Refresh' } }), 'token_invalid'],
      ['an ID token', () => bff.sandbox.issuer.issueToken({ claims: { typ: 'ID' } }), 'token_invalid'],
      ['no typ', () => bff.sandbox.issuer.issueToken({ claims: { typ: undefined } }), 'token_invalid'],
      [
        'tampered payload',
        () => {
          const [h, , s] = alice.split('.');
          return `${h}.${Buffer.from(JSON.stringify({ ...valid(), preferred_username: 'admin' })).toString('base64url')}.${s}`;
        },
        'token_invalid',
      ],
      ['stripped signature', () => alice.split('.').slice(0, 2).join('.') + '.', 'token_invalid'],
      ['two segments', () => alice.split('.').slice(0, 2).join('.'), 'token_invalid'],
      ['oversized token', () => bff.sandbox.issuer.issueToken({ claims: { padding: 'p'.repeat(9000) } }), 'token_invalid'],
      [
        'non-canonical base64url signature (same bytes, other string)',
        () => {
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
          const sig = alice.split('.')[2];
          const last = alphabet[alphabet.indexOf(sig[sig.length - 1]) ^ 1];
          return alice.split('.').slice(0, 2).join('.') + '.' + sig.slice(0, -1) + last;
        },
        'token_invalid',
      ],
      ['username with control characters', () => bff.sandbox.issuer.issueToken({ claims: { preferred_username: 'alice\r\nx-user-name: admin' } }), 'token_invalid'],
      ['no subject', () => bff.sandbox.issuer.issueToken({ claims: { sub: undefined } }), 'token_invalid'],
      ['HS256 token for the Keycloak issuer', () => hs256({}, valid(), HS_SECRET), 'token_invalid'],
      ['HS256 issuer token with the wrong secret', () => hs256({}, { ...valid(), iss: HS_ISSUER, typ: undefined }, 'y'.repeat(48)), 'token_invalid'],
      ['not a JWT at all', () => 'hello-world', 'token_invalid'],
      ['header that is not JSON', () => `${Buffer.from('not json').toString('base64url')}.${alice.split('.')[1]}.${alice.split('.')[2]}`, 'token_invalid'],
    ];

    it.each(cases)('%s', async (_name, make, reason) => {
      const token = await make();
      const res = await get('/auth/me', bearer(token));
      await expectProblem(res, 401, reason);
      const v = await get('/api/validate/v1/statement', bearer(token));
      await expectProblem(v, 401, reason);
    });

    it.each([
      ['Bearer', 'token_invalid', 401],
      ['Bearer ', 'token_invalid', 401],
      ['Bearer  two-spaces', 'token_invalid', 401],
      ['Bearer a b', 'token_invalid', 401],
      ['Basic YWxpY2U6YWxpY2U=', 'token_missing', 401],
      ['Token abc', 'token_missing', 401],
    ])('malformed Authorization %j → %s', async (value, reason, status) => {
      const res = await get('/auth/me', { authorization: value });
      expect(res.status).toBe(status);
      const body = (await res.json()) as { reason: string };
      // "Bearer" alone is the Bearer scheme without its token: malformed (token_invalid), not absent.
      expect(body.reason).toBe(reason);
    });

    it('accepts a valid token from the HS256 issuer, with real signature verification', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = hs256({}, { iss: HS_ISSUER, sub: 'legacy-1', aud: 'platform-bff', exp: now + 60, preferred_username: 'legacy', role: 'REGULAR' }, HS_SECRET);
      const res = await get('/auth/me', bearer(token));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ subject: 'legacy-1', username: 'legacy', roles: ['REGULAR'], issuer: HS_ISSUER });
    });

    it('picks up a rotated-in key without a restart', async () => {
      await bff.sandbox.issuer.rotateKeys();
      const token = await bff.sandbox.issuer.issueToken({ user: 'alice' });
      const res = await get('/auth/me', bearer(token));
      expect(res.status).toBe(200);
    });

    it('rate-limits JWKS refetches for unknown kids', async () => {
      const before = bff.sandbox.issuer.stats.jwksFetches;
      for (let i = 0; i < 40; i++) {
        const res = await get('/auth/me', bearer(rs256Foreign({ kid: `unknown-${i}` }, valid())));
        expect(res.status).toBe(401);
      }
      expect(bff.sandbox.issuer.stats.jwksFetches - before).toBeLessThanOrEqual(10);
    });
  });

  describe('/api/validate (Envoy ext_authz)', () => {
    it('200 with x-trino-user from the token for any method and path', async () => {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await get('/api/validate/v1/statement/queued/q1/y/1?maxWait=1s', { ...bearer(alice), 'x-trino-user': 'admin' }, { method });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-trino-user')).toBe('alice');
      }
    });

    it('accepts the access-token query parameter', async () => {
      const res = await get(`/api/validate/v1/info?access-token=${alice}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-trino-user')).toBe('alice');
    });

    it('400 when a request carries two different tokens', async () => {
      await expectProblem(await get(`/api/validate/x?access-token=${viewer}`, bearer(alice)), 400, 'ambiguous_token');
      expect((await get(`/api/validate/x?access-token=${alice}`, bearer(alice))).status).toBe(200);
    });

    it('401 without a token', async () => {
      await expectProblem(await get('/api/validate/v1/statement', {}, { method: 'POST' }), 401, 'token_missing');
    });

    it('two different users never get the same x-trino-user: a literal %C3%A9 is itself, é (not a header-safe Trino user) is refused', async () => {
      const literal = await bff.token('alice', { claims: { preferred_username: '%C3%A9' } });
      const accented = await bff.token('alice', { claims: { preferred_username: 'é' } });
      const a = await get('/api/validate/v1/statement', bearer(literal), { method: 'POST' });
      expect(a.status).toBe(200);
      expect(a.headers.get('x-trino-user')).toBe('%C3%A9');
      // The same rule as POST /v1/statement: a user name that cannot be a header is a 403, never a look-alike.
      for (let i = 0; i < 2; i++) {
        const b = await get('/api/validate/v1/statement', bearer(accented), { method: 'POST' });
        await expectProblem(b, 403, 'claim_missing');
        expect(b.headers.get('x-trino-user')).toBeNull();
      }
    });
  });

  describe('/api/auth (Envoy SecurityPolicy, nginx auth_request)', () => {
    it('200 with x-user-* of the token, never of the client', async () => {
      const res = await get('/api/auth/api/agents/1', { ...bearer(alice), 'x-user-id': 'admin', 'x-user-name': 'admin' });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-user-id')).toBe(decodePart(alice, 1).sub);
      expect(res.headers.get('x-user-name')).toBe('alice');
      expect(res.headers.get('x-user-email')).toBe('alice@example.com');
    });

    it('x-user-* are escaped injectively: a literal %C3%A9 and é never give the same header value', async () => {
      const literal = await bff.token('alice', { claims: { preferred_username: '%C3%A9', email: '50%off@example.com' } });
      const accented = await bff.token('alice', { claims: { preferred_username: 'é', email: 'é@example.com' } });
      for (let i = 0; i < 2; i++) {
        const a = await get('/api/auth/api/other', bearer(literal));
        const b = await get('/api/auth/api/other', bearer(accented));
        expect([a.status, b.status]).toEqual([200, 200]);
        expect(a.headers.get('x-user-name')).toBe('%25C3%25A9');
        expect(b.headers.get('x-user-name')).toBe('%C3%A9');
        expect(a.headers.get('x-user-email')).toBe('50%25off%40example.com');
        expect(b.headers.get('x-user-email')).toBe('%C3%A9%40example.com');
        expect(decodeURIComponent(a.headers.get('x-user-name')!)).toBe('%C3%A9');
        expect(decodeURIComponent(b.headers.get('x-user-name')!)).toBe('é');
      }
      // A plain value is sent as it is.
      expect((await get('/api/auth/api/other', bearer(alice))).headers.get('x-user-email')).toBe('alice@example.com');
    });

    it('applies the route policy: /api/agents/** needs REGULAR or ADMIN', async () => {
      await expectProblem(await get('/api/auth/api/agents', bearer(viewer)), 403, 'insufficient_role');
      expect((await get('/api/auth/api/agents', bearer(admin))).status).toBe(200);
      expect((await get('/api/auth/api/datasets', bearer(viewer))).status).toBe(200);
    });

    it('takes the original path from X-Original-URI (the default AUTH_ORIGINAL_URI_HEADER), never from X-Forwarded-Uri', async () => {
      await expectProblem(await get('/api/auth', { ...bearer(viewer), 'x-original-uri': '/api/agents/7/react' }), 403, 'insufficient_role');
      expect((await get('/api/auth', { ...bearer(viewer), 'x-forwarded-uri': '/api/agents' })).status).toBe(200);
      expect((await get('/api/auth', { ...bearer(viewer), 'x-original-uri': '/api/other' })).status).toBe(200);
    });

    it('an access-token in the original URI counts only on the WebSocket upgrade path, never on a REST path', async () => {
      for (const uri of ['/api/agents?access-token=', '/api/agents/1?access-token=', '/api/other?access-token=', '/api/agents/1/react/x?access-token=']) {
        await expectProblem(await get('/api/auth', { 'x-original-uri': uri + alice }), 401, 'token_missing');
        await expectProblem(await get(`/api/auth${uri}${alice}`), 401, 'token_missing');
      }
      expect((await get(`/api/auth/api/agents/1/react?access-token=${alice}`)).status).toBe(200);
      expect((await get('/api/auth', { 'x-original-uri': `/api/agents/1/react?access-token=${alice}` })).status).toBe(200);
    });

    it('every presented path must pass: a laxer suffix does not override X-Original-URI', async () => {
      await expectProblem(await get('/api/auth/api/other', { ...bearer(viewer), 'x-original-uri': '/api/agents' }), 403, 'insufficient_role');
    });

    it.each(['/api/./agents', '/API/Agents', '/api/%61gents/1', '//api//agents', '/api/x/../agents'])('normalises %s before matching', async (p) => {
      await expectProblem(await get('/api/auth', { ...bearer(viewer), 'x-original-uri': p }), 403, 'insufficient_role');
    });

    it('400 on a malformed original path', async () => {
      await expectProblem(await get('/api/auth', { ...bearer(alice), 'x-original-uri': '/api/%E0%A4%A' }), 400, 'validation_failed');
    });

    it('accepts the token in the JSON body, the query, or the original URI of a WebSocket upgrade', async () => {
      const body = await get('/api/auth/api/agents', { 'content-type': 'application/json' }, { method: 'POST', body: JSON.stringify({ token: alice }) });
      expect(body.status).toBe(200);
      const ws = await get('/api/auth', { 'x-original-uri': `/api/agents/1/react?access-token=${alice}` });
      expect(ws.status).toBe(200);
      expect(ws.headers.get('x-user-name')).toBe('alice');
    });

    it('400 for two different tokens (header and body)', async () => {
      const res = await get(
        '/api/auth/api/agents',
        { ...bearer(viewer), 'content-type': 'application/json' },
        { method: 'POST', body: JSON.stringify({ token: alice }) },
      );
      await expectProblem(res, 400, 'ambiguous_token');
    });

    describe('?ticket= of the agent WebSocket upgrade (checked, never consumed: the upgrade redeems it)', () => {
      const agentOf = async (token: string): Promise<string> => {
        const res = await get(
          '/api/agents',
          { ...bearer(token), 'content-type': 'application/json' },
          { method: 'POST', body: JSON.stringify({ name: 'ticketed' }) },
        );
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      };
      const ticketOf = async (token: string, id: string): Promise<string> => {
        const res = await get(`/api/agents/${id}/ws-ticket`, bearer(token), { method: 'POST' });
        expect(res.status).toBe(201);
        return ((await res.json()) as { ticket: string }).ticket;
      };

      it('200 with the x-user-* of the ticket’s principal, from X-Original-URI (nginx) and from the suffix (Envoy), any number of times', async () => {
        const id = await agentOf(admin);
        const ticket = await ticketOf(admin, id);
        for (let i = 0; i < 2; i++) {
          const nginx = await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}`, 'x-original-method': 'GET' });
          expect(nginx.status).toBe(200);
          expect(nginx.headers.get('x-user-name')).toBe('admin');
          expect(nginx.headers.get('x-user-id')).toBe(decodePart(admin, 1).sub);
          const envoy = await get(`/api/auth/api/agents/${id}/react?ticket=${ticket}`);
          expect(envoy.status).toBe(200);
          expect(envoy.headers.get('x-user-email')).toBe(decodePart(admin, 1).email);
        }
      });

      it('401 token_invalid for an unknown, malformed or other-agent ticket; 401 token_missing on any other path or method', async () => {
        const id = await agentOf(alice);
        const other = await agentOf(alice);
        const ticket = await ticketOf(alice, id);
        await expectProblem(await get('/api/auth', { 'x-original-uri': `/api/agents/${other}/react?ticket=${ticket}` }), 401, 'token_invalid');
        await expectProblem(await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=${'A'.repeat(43)}` }), 401, 'token_invalid');
        await expectProblem(await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=short` }), 401, 'token_invalid');
        for (const uri of [
          `/api/agents/${id}?ticket=${ticket}`,
          `/api/agents/${id}/react/?ticket=${ticket}`,
          `/api/agents/${id}/./react?ticket=${ticket}`,
          `/api/other?ticket=${ticket}`,
        ]) {
          await expectProblem(await get('/api/auth', { 'x-original-uri': uri }), 401, 'token_missing');
        }
        await expectProblem(
          await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}`, 'x-original-method': 'POST' }),
          401,
          'token_missing',
        );
        // Only the literal name, as nginx's $arg_ticket sees it: a proxy routes what the check accepted.
        await expectProblem(await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?tick%65t=${ticket}` }), 401, 'token_missing');
        // Every presented path must be the upgrade of that agent: a second path gets nothing from the ticket.
        await expectProblem(
          await get(`/api/auth/api/agents/${id}?ticket=${ticket}`, { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}` }),
          401,
          'token_missing',
        );
        // None of this consumed it.
        expect((await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}` })).status).toBe(200);
      });

      it('a ticket in a client-sent X-Forwarded-Uri authorizes nothing (the issue’s attack): 401, and the ticket still works', async () => {
        const id = await agentOf(alice);
        const ticket = await ticketOf(alice, id);
        const forged = { 'x-forwarded-uri': `/api/agents/${id}/react?ticket=${ticket}` };
        for (let i = 0; i < 2; i++) {
          await expectProblem(await get('/api/auth', forged), 401, 'token_missing');
          // As nginx sends it: the real URI (no ticket) in X-Original-URI, the client's header beside it.
          await expectProblem(await get('/api/auth', { ...forged, 'x-original-uri': `/api/agents/${id}/react`, 'x-original-method': 'GET' }), 401, 'token_missing');
          await expectProblem(await get(`/api/auth/api/agents/${id}/react`, forged), 401, 'token_missing');
        }
        expect((await get('/api/auth', { 'x-original-uri': `/api/agents/${id}/react?ticket=${ticket}` })).status).toBe(200);
      });

      it('400 ambiguous_token for a ticket with another credential, or two tickets', async () => {
        const id = await agentOf(alice);
        const ticket = await ticketOf(alice, id);
        const uri = `/api/agents/${id}/react?ticket=${ticket}`;
        await expectProblem(await get('/api/auth', { ...bearer(alice), 'x-original-uri': uri }), 400, 'ambiguous_token');
        await expectProblem(await get('/api/auth', { 'x-original-uri': `${uri}&access-token=${alice}` }), 400, 'ambiguous_token');
        await expectProblem(await get('/api/auth', { 'x-original-uri': `${uri}&ticket=${'A'.repeat(43)}` }), 400, 'ambiguous_token');
      });
    });
  });

  it('answers unknown routes with a problem+json 404, and keeps the request id', async () => {
    const res = await get('/no/such/route', { ...bearer(alice), 'x-request-id': 'trace-123' });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    await expectProblem(res, 404, 'not_found');
  });
});

describe('/api/auth takes the original URI only from the header the configured gateway sets (AUTH_ORIGINAL_URI_HEADER)', () => {
  let sandbox: Sandbox;
  let forwarded: TestBff;
  let suffixOnly: TestBff;

  beforeAll(async () => {
    sandbox = await startSandbox();
    forwarded = await startTestBff({ AUTH_ORIGINAL_URI_HEADER: 'X-Forwarded-Uri' }, { sandbox });
    suffixOnly = await startTestBff({ AUTH_ORIGINAL_URI_HEADER: 'none' }, { sandbox });
  });
  afterAll(async () => {
    await forwarded?.close();
    await suffixOnly?.close();
    await sandbox?.close();
  });

  const check = (bff: TestBff, path: string, headers: Record<string, string>) => fetch(bff.url + path, { headers });

  it('X-Forwarded-Uri configured (a gateway that sets it, e.g. Traefik forwardAuth): it decides, X-Original-URI is ignored', async () => {
    const viewer = `Bearer ${await forwarded.token('viewer')}`;
    expect((await check(forwarded, '/api/auth', { authorization: viewer, 'x-forwarded-uri': '/api/agents' })).status).toBe(403);
    expect((await check(forwarded, '/api/auth', { authorization: viewer, 'x-original-uri': '/api/agents' })).status).toBe(200);
    const alice = await forwarded.token('alice');
    expect((await check(forwarded, '/api/auth', { 'x-forwarded-uri': `/api/agents/1/react?access-token=${alice}` })).status).toBe(200);
    expect((await check(forwarded, '/api/auth', { 'x-original-uri': `/api/agents/1/react?access-token=${alice}` })).status).toBe(401);
  });

  it('none (Envoy): only the path suffix names the original URI; every header is ignored', async () => {
    const viewer = `Bearer ${await suffixOnly.token('viewer')}`;
    expect((await check(suffixOnly, '/api/auth/api/agents', { authorization: viewer })).status).toBe(403);
    for (const h of ['x-original-uri', 'x-forwarded-uri']) {
      expect((await check(suffixOnly, '/api/auth/api/other', { authorization: viewer, [h]: '/api/agents' })).status).toBe(200);
    }
    const alice = await suffixOnly.token('alice');
    expect((await check(suffixOnly, `/api/auth/api/agents/1/react?access-token=${alice}`, {})).status).toBe(200);
    expect((await check(suffixOnly, '/api/auth/api/agents/1/react', { 'x-original-uri': `/api/agents/1/react?access-token=${alice}` })).status).toBe(401);
    // Envoy keeps the client's method on the check: a client-sent X-Original-Method is not believed.
    expect(
      (await fetch(`${suffixOnly.url}/api/auth/api/agents/1/react?access-token=${alice}`, { method: 'POST', headers: { 'x-original-method': 'GET' } })).status,
    ).toBe(401);
  });
});
