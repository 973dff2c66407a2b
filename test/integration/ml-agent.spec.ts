import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createApp } from '../../src/app.factory';
import { createRootLogger } from '../../src/common/logging';
import { loadConfig, type Env } from '../../src/config/load-config';
import { RAW_TOKEN_FORWARDING_EVENT } from '../../src/ml-agent/ml-agent.module';
import type { MlAgentEmulator } from '../../sandbox/ml-agent';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { SANDBOX_CLIENT_ID, startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';

jest.setTimeout(30_000);

const ML_AGENT_AUDIENCE = 'demo-ml-agent';

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
}

function server<T>(sandbox: Sandbox, name: string): T {
  const entry = sandbox.servers.find((s) => s.name === name);
  if (!entry) throw new Error(`the sandbox has no ${name} emulator`);
  return entry.server as T;
}

async function call(base: string, method: string, path: string, opts: { token?: string; json?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: opts.json === undefined ? undefined : JSON.stringify(opts.json) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

const WORKFLOW = { catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'profile', parameters: { sampleRows: 10 } };

/** Every ml-agent route of the README's routes table, with the upstream request it becomes. */
const ROUTES: Array<{ method: string; path: string; upstream: string; json?: unknown }> = [
  { method: 'GET', path: '/chatbot/trino/catalogs', upstream: 'GET /trino/catalogs' },
  { method: 'GET', path: '/chatbot/trino/schemas/tpch', upstream: 'GET /trino/schemas/tpch' },
  { method: 'GET', path: '/chatbot/trino/tables/tpch/tiny', upstream: 'GET /trino/tables/tpch/tiny' },
  { method: 'POST', path: '/chatbot/run-workflow-trino', upstream: 'POST /run-workflow-trino', json: WORKFLOW },
];

/** The BFF in-process with its log lines captured (the boot warning of forward mode is one). */
async function startLoggedBff(sandbox: Sandbox, env: Env) {
  const chunks: string[] = [];
  const config = loadConfig({ NODE_ENV: 'test', ...sandbox.env, LOG_LEVEL: 'info', ...env });
  const app: NestFastifyApplication = await createApp(config, { logger: createRootLogger(config, { write: (s: string) => void chunks.push(s) }) });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { level: number; event?: string; msg?: string; context?: string }),
    close: () => app.close(),
  };
}

describe('ML-Agent routes', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let forward: Awaited<ReturnType<typeof startLoggedBff>>;
  let agent: MlAgentEmulator;
  let trino: TrinoCoordinator;
  let alice: string;
  const rawTokens: string[] = [];
  /** Every Authorization header ML-Agent received from the exchange-mode BFF. */
  const sentToAgent: string[] = [];
  const exchanges = (sub: string) => sandbox.issuer.stats.exchanges.get(`${sub}|${ML_AGENT_AUDIENCE}`) ?? 0;
  const aliceUser = () => sandbox.issuer.users.find((u) => u.username === 'alice')!;
  const keepAndClear = () => {
    for (const r of agent.requests) if (typeof r.headers.authorization === 'string') sentToAgent.push(r.headers.authorization);
    agent.clearRequests();
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
    // First app of this file: nestjs-pino sends logs made outside a request (boot logs) to the first app's logger.
    forward = await startLoggedBff(sandbox, { ML_AGENT_TOKEN_MODE: 'forward' });
    bff = await startTestBff({}, { sandbox });
    agent = server<MlAgentEmulator>(sandbox, 'ml-agent');
    trino = server<TrinoCoordinator>(sandbox, 'trino-coordinator');
    alice = await bff.token('alice');
    rawTokens.push(alice);
  });
  afterAll(async () => {
    sandbox?.issuer.setAvailability({ down: false });
    await bff?.close();
    await forward?.close();
    await sandbox?.close();
  });
  beforeEach(() => {
    agent.setFault('none');
    keepAndClear();
  });

  it('the sandbox points the BFF at the ML-Agent emulator', () => {
    expect(sandbox.env.ML_AGENT_URL).toBe(agent.url);
  });

  it.each(ROUTES)('$method $path refuses a request without a token (401) and never calls ML-Agent', async (r) => {
    const res = await call(bff.url, r.method, r.path, { json: r.json });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.reason).toBe('token_missing');
    expect(agent.requests).toHaveLength(0);
  });

  it.each(ROUTES)('$method $path reaches ML-Agent ($upstream) with a token exchanged for its audience, as the user', async (r) => {
    const viewer = await bff.token('viewer'); // any valid token: no role needed
    rawTokens.push(viewer);
    const res = await call(bff.url, r.method, r.path, { token: viewer, json: r.json });
    expect(res.status).toBe(200);
    expect(agent.requests.map((q) => `${q.method} ${q.path}`)).toEqual([r.upstream]);
    const [sent] = agent.requests;
    expect(sent.headers['x-request-id']).toBe(res.headers.get('x-request-id'));
    const bearer = /^Bearer (\S+)$/.exec(String(sent.headers.authorization))?.[1];
    expect(bearer).toBeDefined();
    expect(bearer).not.toBe(viewer);
    // The token ML-Agent got verifies against the issuer for ML-Agent's audience, and names the caller.
    const { payload } = await jwtVerify(bearer!, createRemoteJWKSet(new URL(sandbox.issuer.jwksUri)), {
      issuer: sandbox.issuer.issuer,
      audience: ML_AGENT_AUDIENCE,
    });
    const user = sandbox.issuer.users.find((u) => u.username === 'viewer')!;
    expect(payload).toMatchObject({ sub: user.sub, preferred_username: 'viewer', azp: SANDBOX_CLIENT_ID });
    expect(payload.aud).toBe(ML_AGENT_AUDIENCE);
    expect(agent.lastIdentity).toMatchObject({ sub: user.sub, preferred_username: 'viewer', aud: ML_AGENT_AUDIENCE });
    // ML-Agent ran its Trino queries as that user.
    expect(trino.receivedUsers.at(-1)).toBe('viewer');
  });

  it('answers what ML-Agent answered: catalogs, schemas and tables from Trino, as the caller', async () => {
    const catalogs = await call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: alice });
    expect(catalogs.status).toBe(200);
    expect(catalogs.body).toEqual({ catalogs: ['hive', 'sandbox', 'system', 'tpch'] });
    const schemas = await call(bff.url, 'GET', '/chatbot/trino/schemas/tpch', { token: alice });
    expect(schemas.body.schemas).toEqual(expect.arrayContaining(['tiny', 'sf1']));
    const tables = await call(bff.url, 'GET', '/chatbot/trino/tables/tpch/tiny', { token: alice });
    expect(tables.body.tables).toEqual(expect.arrayContaining(['nation', 'region']));
    expect(agent.requests.every((r) => r.headers.authorization !== `Bearer ${alice}`)).toBe(true);
    // Three calls, one exchange: the exchanged token is cached for the subject token.
    expect(exchanges(aliceUser().sub)).toBe(1);
  });

  it('run-workflow: the email is the verified token’s; a client-sent email is ignored and never reaches ML-Agent', async () => {
    const res = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', {
      token: alice,
      json: { ...WORKFLOW, email: 'mallory@evil.example' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      runId: expect.stringMatching(/^run-/),
      status: 'COMPLETED',
      workflow: 'profile',
      table: 'tpch.tiny.nation',
      submittedBy: 'alice@example.com',
    });
    expect(agent.requests).toHaveLength(1);
    const forwarded = JSON.parse(agent.requests[0].body ?? '{}');
    expect(forwarded).toEqual({ ...WORKFLOW, email: 'alice@example.com' });
    expect(agent.requests[0].body).not.toContain('mallory');
    expect(agent.runs.at(-1)).toMatchObject({ user: 'alice', submittedBy: 'alice@example.com', parameters: { sampleRows: 10 } });

    // A workflow ML-Agent runs asynchronously, without parameters.
    const { parameters: _p, ...bare } = WORKFLOW;
    const submitted = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: alice, json: { ...bare, workflow: 'train_classifier' } });
    expect(submitted.status).toBe(200);
    expect(submitted.body.status).toBe('SUBMITTED');
    expect(JSON.parse(agent.requests[1].body ?? '{}')).toEqual({ ...bare, workflow: 'train_classifier', parameters: {}, email: 'alice@example.com' });
  });

  it('run-workflow: a user token without an email claim is a 403 claim_missing (not insufficient_role), before any exchange', async () => {
    const noEmail = await sandbox.issuer.issueToken({ user: 'alice', claims: { email: undefined } });
    rawTokens.push(noEmail);
    const before = exchanges(aliceUser().sub);
    const res = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: noEmail, json: WORKFLOW });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ reason: 'claim_missing', title: 'Required claim missing', detail: expect.stringContaining('email') });
    expect(agent.requests).toHaveLength(0);
    expect(exchanges(aliceUser().sub)).toBe(before);
  });

  it('run-workflow as a service account (client credentials, no email): ML-Agent gets its client id from the verified token, marked as a service account', async () => {
    const pipeline = sandbox.issuer.clients.get('ci-pipeline')!;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: pipeline.clientId, client_secret: pipeline.secret! });
    const granted = await fetch(sandbox.issuer.tokenEndpoint, { method: 'POST', body: form });
    expect(granted.status).toBe(200);
    const serviceToken = ((await granted.json()) as { access_token: string }).access_token;
    rawTokens.push(serviceToken);
    // A client-chosen submitter is refused wherever it is written.
    const chosen = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', {
      token: serviceToken,
      json: { ...WORKFLOW, submittedBy: { type: 'service_account', clientId: 'someone-else' } },
    });
    expect(chosen.status).toBe(400);
    expect(agent.requests).toHaveLength(0);

    const res = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: serviceToken, json: { ...WORKFLOW, email: 'mallory@evil.example' } });
    expect(res.status).toBe(200);
    expect(agent.requests).toHaveLength(1);
    const forwarded = JSON.parse(agent.requests[0].body ?? '{}');
    expect(forwarded).toEqual({ ...WORKFLOW, submittedBy: { type: 'service_account', clientId: 'ci-pipeline' } });
  });

  const BAD_PATHS = [
    '/chatbot/trino/schemas/tp-ch',
    '/chatbot/trino/schemas/%22tpch%22',
    '/chatbot/trino/schemas/tpch%3BDROP',
    '/chatbot/trino/schemas/1tpch',
    '/chatbot/trino/schemas/tpch.tiny',
    '/chatbot/trino/schemas/tp%20ch',
    '/chatbot/trino/schemas/tp%C3%A7h',
    '/chatbot/trino/schemas/a%2Fb',
    `/chatbot/trino/schemas/${'a'.repeat(129)}`,
    '/chatbot/trino/tables/tpch/ti%27ny',
    '/chatbot/trino/tables/tp%00ch/tiny',
    '/chatbot/trino/tables/tpch/tiny--',
  ];

  it.each(BAD_PATHS)('GET %s: not a plain Trino identifier, 400 validation_failed, nothing exchanged or forwarded', async (path) => {
    const before = exchanges(aliceUser().sub);
    const res = await call(bff.url, 'GET', path, { token: await bff.token('alice') });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.reason).toBe('validation_failed');
    expect(res.body.errors?.[0]?.message).toMatch(/must be a plain Trino identifier/);
    expect(agent.requests).toHaveLength(0);
    expect(exchanges(aliceUser().sub)).toBe(before);
  });

  const BAD_BODIES: Array<[string, unknown, string]> = [
    ['a quoted catalog', { ...WORKFLOW, catalog: 'tpch"' }, 'catalog'],
    ['SQL in the table', { ...WORKFLOW, table: 'nation; DROP TABLE x' }, 'table'],
    ['a dotted schema', { ...WORKFLOW, schema: 'tpch.tiny' }, 'schema'],
    ['a number as table', { ...WORKFLOW, table: 42 }, 'table'],
    ['a missing table', { catalog: 'tpch', schema: 'tiny', workflow: 'profile' }, 'table'],
    ['a path as workflow', { ...WORKFLOW, workflow: '../admin' }, 'workflow'],
    ['parameters as a list', { ...WORKFLOW, parameters: [1, 2] }, 'parameters'],
    ['an email in parameters', { ...WORKFLOW, parameters: { Email: 'mallory@evil.example' } }, 'parameters'],
    ['an email nested in parameters', { ...WORKFLOW, parameters: { options: { email: 'mallory@evil.example' } } }, 'parameters'],
    ['a user in an array in parameters', { ...WORKFLOW, parameters: { runs: [{ sampleRows: 1 }, { user: 'admin' }] } }, 'parameters'],
    ['an unknown field', { ...WORKFLOW, user: 'admin' }, 'user'],
    // The ignored legacy email is a string as the spec declares it (schemathesis found an object accepted).
    ['an object as email', { ...WORKFLOW, email: {} }, 'email'],
    ['null as email', { ...WORKFLOW, email: null }, 'email'],
  ];

  it.each(BAD_BODIES)('POST run-workflow with %s: 400 validation_failed naming the field, nothing exchanged or forwarded', async (_what, json, field) => {
    // A token never seen before (its own jti): no exchange of it can be cached, so the count would see one.
    const fresh = await bff.token('alice');
    rawTokens.push(fresh);
    const before = exchanges(aliceUser().sub);
    const res = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: fresh, json });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(agent.requests).toHaveLength(0);
    expect(exchanges(aliceUser().sub)).toBe(before);
  });

  it('an identity-looking key deep in parameters is refused with its path in the message', async () => {
    const json = { ...WORKFLOW, parameters: { a: { b: [{ c: 1 }, { submittedBy: 'mallory@evil.example' }] } } };
    const res = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: alice, json });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe('validation_failed');
    expect(res.body.detail).toContain('parameters.a.b[1].submittedBy');
    expect(agent.requests).toHaveLength(0);
  });

  it('ML-Agent’s own 4xx pass through with their status and body, as problem+json', async () => {
    const schemas = await call(bff.url, 'GET', '/chatbot/trino/schemas/nosuchcatalog', { token: alice });
    expect(schemas.status).toBe(404);
    expect(schemas.headers.get('content-type')).toContain('application/problem+json');
    expect(schemas.body).toMatchObject({
      status: 404,
      reason: 'not_found',
      detail: "ML-Agent: line 1:19: Catalog 'nosuchcatalog' not found",
      upstreamBody: { detail: "line 1:19: Catalog 'nosuchcatalog' not found" },
    });

    const run = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: alice, json: { ...WORKFLOW, table: 'no_such_table' } });
    expect(run.status).toBe(404);
    expect(run.body.upstreamBody).toEqual({ detail: "Table 'tpch.tiny.no_such_table' does not exist" });

    // ML-Agent refuses a user whose token names no Trino user (403 from ML-Agent itself).
    const nameless = await sandbox.issuer.issueToken({ user: 'alice', claims: { preferred_username: undefined } });
    rawTokens.push(nameless);
    const refused = await call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: nameless });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ reason: 'upstream_error', upstreamBody: { detail: 'Token has no preferred_username claim' } });
  });

  it.each([
    ['answers 500', 'error500'],
    ['resets the connection', 'reset'],
    ['answers malformed JSON', 'malformed'],
  ] as const)('ML-Agent that %s is a 502 problem', async (_what, fault) => {
    agent.setFault(fault);
    const res = await call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: alice });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.reason).toBe('upstream_unavailable');
    expect(res.text).not.toContain('Internal Server Error');
  });

  it('IdP down: a cold exchange is a 503 identity_provider_unavailable and nothing reaches ML-Agent; a cached one still works', async () => {
    const admin = await bff.token('admin');
    rawTokens.push(admin);
    expect((await call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: alice })).status).toBe(200); // alice's exchange is cached
    keepAndClear();
    sandbox.issuer.setAvailability({ down: true });
    try {
      const cold = await call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: admin });
      expect(cold.status).toBe(503);
      expect(cold.body).toMatchObject({ reason: 'identity_provider_unavailable', status: 503 });
      const coldRun = await call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: admin, json: WORKFLOW });
      expect(coldRun.status).toBe(503);
      expect(agent.requests).toHaveLength(0);
      expect((await call(bff.url, 'GET', '/chatbot/trino/schemas/tpch', { token: alice })).status).toBe(200);
    } finally {
      sandbox.issuer.setAvailability({ down: false });
    }
  });

  it('ML_AGENT_URL unset: 503 upstream_unavailable on every route, without exchanging anything', async () => {
    const unconfigured = await startTestBff({ ML_AGENT_URL: undefined }, { sandbox });
    try {
      const token = await bff.token('admin');
      const sub = sandbox.issuer.users.find((u) => u.username === 'admin')!.sub;
      const before = exchanges(sub);
      for (const r of ROUTES) {
        const res = await call(unconfigured.url, r.method, r.path, { token, json: r.json });
        expect([r.path, res.status, res.body.reason]).toEqual([r.path, 503, 'upstream_unavailable']);
      }
      expect(exchanges(sub)).toBe(before);
      expect(agent.requests).toHaveLength(0);
      const ready = await call(unconfigured.url, 'GET', '/health/ready');
      expect(ready.body.details['ml-agent']).toBeUndefined();
    } finally {
      await unconfigured.close();
    }
  });

  it('exchange mode: /health/ready reports ML-Agent up', async () => {
    const ready = await call(bff.url, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.details['ml-agent']).toMatchObject({ status: 'up' });
  });

  it('forward mode: the raw token is forwarded, with a structured security warning at boot and a degraded /health/ready', async () => {
    try {
      const warning = forward.lines().filter((l) => l.event === RAW_TOKEN_FORWARDING_EVENT);
      expect(warning).toHaveLength(1);
      expect(warning[0]).toMatchObject({ level: 40, msg: expect.stringContaining('ML_AGENT_TOKEN_MODE=forward'), mode: 'forward' });

      const ready = await call(forward.url, 'GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.details['ml-agent']).toMatchObject({ status: 'degraded', detail: expect.stringContaining('security warning') });

      // A token ML-Agent accepts as it is (the frontend client has an ML-Agent audience mapper, the forward-mode setup).
      const user = aliceUser();
      const raw = await sandbox.issuer.issueToken({ user: 'alice', claims: { aud: [SANDBOX_CLIENT_ID, ML_AGENT_AUDIENCE] } });
      const before = exchanges(user.sub);
      keepAndClear();
      for (const r of ROUTES) {
        const res = await call(forward.url, r.method, r.path, { token: raw, json: r.json });
        expect([r.path, res.status]).toEqual([r.path, 200]);
      }
      expect(agent.requests.map((q) => q.headers.authorization)).toEqual(ROUTES.map(() => `Bearer ${raw}`));
      expect(JSON.parse(agent.requests[3].body ?? '{}').email).toBe(user.email);
      expect(exchanges(user.sub)).toBe(before);
      agent.clearRequests();

      // A raw token without ML-Agent's audience: ML-Agent's 401 is the BFF's configuration problem, a 502 (not the caller's 401).
      const res = await call(forward.url, 'GET', '/chatbot/trino/catalogs', { token: alice });
      expect(res.status).toBe(502);
      expect(res.body.reason).toBe('upstream_error');
      expect(forward.raw()).not.toContain(raw);
      expect(forward.raw()).not.toContain(alice);
    } finally {
      agent.clearRequests(); // the raw tokens sent here are forward mode's, not the exchange-mode BFF's
    }
  });

  it('documents the four routes for Swagger under the ml-agent tag', async () => {
    const spec = (await call(bff.url, 'GET', '/docs-json')).body;
    const ops = [
      spec.paths['/chatbot/trino/catalogs'].get,
      spec.paths['/chatbot/trino/schemas/{catalog}'].get,
      spec.paths['/chatbot/trino/tables/{catalog}/{schema}'].get,
      spec.paths['/chatbot/run-workflow-trino'].post,
    ];
    for (const op of ops) {
      expect(op.tags).toEqual(['ml-agent']);
      expect(op.security).toEqual([{ bearer: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '502', '503', '504']));
    }
    expect(spec.components.schemas.RunWorkflowRequestDto.properties.catalog.pattern).toBe('^[A-Za-z_][A-Za-z0-9_]{0,127}$');
  });

  it('never sent ML-Agent a raw user token in exchange mode', () => {
    keepAndClear();
    expect(sentToAgent.length).toBeGreaterThan(10);
    for (const token of rawTokens) expect(sentToAgent).not.toContain(`Bearer ${token}`);
  });
});

/**
 * ML-Agent's answer to a workflow run is its own: the BFF passes the JSON through as it is (a
 * Python ML-Agent may well answer snake_case), bounded in size, and keeps 502 for what is truly
 * broken. A scripted ML-Agent (loopback, stopped by the test) answers what each case needs.
 */
describe('POST /chatbot/run-workflow-trino passes ML-Agent’s JSON answer through', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let scripted: http.Server;
  let answer: { status: number; body: string | Buffer; contentType?: string } = { status: 200, body: '{}' };
  const received: Array<{ path: string; body: string }> = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    scripted = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => scripted.listen(0, '127.0.0.1', resolve));
    const { port } = scripted.address() as AddressInfo;
    bff = await startTestBff({ ML_AGENT_URL: `http://127.0.0.1:${port}` }, { sandbox });
  });
  afterAll(async () => {
    await bff?.close();
    scripted?.closeAllConnections();
    await new Promise<void>((resolve) => (scripted ? scripted.close(() => resolve()) : resolve()));
    await sandbox?.close();
  });
  beforeEach(() => {
    received.length = 0;
  });

  const run = async () => call(bff.url, 'POST', '/chatbot/run-workflow-trino', { token: await bff.token('alice'), json: WORKFLOW });

  it('a snake_case answer (run_id, nested objects, extra fields) comes back exactly as ML-Agent wrote it', async () => {
    const body = { run_id: 'r-42', status: 'queued', submitted_by: 'alice@example.com', links: { self: '/runs/r-42' }, eta_s: 12.5 };
    answer = { status: 200, body: JSON.stringify(body) };
    const res = await run();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.body).toEqual(body);
    expect(received.map((r) => r.path)).toEqual(['/run-workflow-trino']);
    // 202 Accepted from ML-Agent is a success too; the answer is still passed through.
    answer = { status: 202, body: JSON.stringify({ run_id: 'r-43', status: 'accepted' }) };
    expect((await run()).body).toEqual({ run_id: 'r-43', status: 'accepted' });
  });

  it.each([
    ['a 2xx that is not JSON', { status: 200, body: '<html>ok</html>', contentType: 'text/html' }],
    ['an empty 2xx', { status: 200, body: '' }],
    ['a 2xx JSON that is not an object', { status: 200, body: '["r-1"]' }],
    ['a 500', { status: 500, body: JSON.stringify({ error: 'boom' }) }],
    ['a 503', { status: 503, body: 'unavailable', contentType: 'text/plain' }],
    ['an answer above the bound', { status: 200, body: JSON.stringify({ run_id: 'r', blob: 'x'.repeat(1024 * 1024 + 1) }) }],
  ])('%s is a 502 problem', async (_what, a) => {
    answer = a;
    const res = await run();
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(received).toHaveLength(1);
  });

  it('an unreachable ML-Agent is a 502 problem', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const other = await startTestBff({ ML_AGENT_URL: `http://127.0.0.1:${port}` }, { sandbox });
    try {
      const res = await call(other.url, 'POST', '/chatbot/run-workflow-trino', { token: await other.token('alice'), json: WORKFLOW });
      expect(res.status).toBe(502);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    } finally {
      await other.close();
    }
  });

  it('the spec documents the sandbox ML-Agent’s answer as an example, and any JSON as allowed', async () => {
    const spec = (await call(bff.url, 'GET', '/docs-json')).body;
    const ok = spec.paths['/chatbot/run-workflow-trino'].post.responses['200'];
    const schema = ok.content['application/json'].schema;
    const resolved = schema.$ref ? spec.components.schemas[schema.$ref.split('/').pop()] : schema;
    expect(resolved.additionalProperties).toBe(true);
    expect(ok.description).toMatch(/passed through/i);
    expect(Object.keys(resolved.properties ?? {})).toEqual(expect.arrayContaining(['runId', 'status', 'submittedBy']));
  });
});
