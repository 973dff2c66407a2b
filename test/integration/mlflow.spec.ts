import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MlflowClient } from '../../src/mlflow/mlflow.client';
import type { UpstreamTransport } from '../../src/common/upstream-transport';
import { StateStore } from '../../src/state/state-store';
import type { MlflowEmulator } from '../../sandbox/mlflow';
import { SANDBOX_LOGIN_CLIENT_ID, startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { cookieHeader, keep, type Jar } from '../platform/browser-login';
import { waitUntil } from '../support/net';
import { redisAvailable, SHARED_VALKEY_ENV, startRedis, type RedisServer } from '../support/redis';

jest.setTimeout(60_000);

const MLFLOW_ENV = {
  MLFLOW_PUBLIC_PATHS: 'GET /health,GET /version',
  MLFLOW_TRACE_CLIENTS: 'otel-collector',
  MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ '/data-team': 'EDIT', ADMIN: 'MANAGE' }),
};
const API = '/mlflow/api/2.0/mlflow';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** A browser's view of the BFF: the cookie jar of one origin. */

/** A run as MLflow's REST API answers it. */
interface RestRun {
  info: { run_id: string; status: string };
  data: {
    metrics?: Array<{ key: string; value: number; step?: string | number }>;
    params?: Array<{ key: string; value: string }>;
    tags?: Array<{ key: string; value: string }>;
  };
}

describe('MLflow behind the BFF', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let mlflow: MlflowEmulator;
  const extra: TestBff[] = [];

  const token = (user: string) => sandbox.issuer.issueToken({ user });
  async function serviceToken(clientId: string): Promise<string> {
    const client = sandbox.issuer.clients.get(clientId)!;
    const res = await fetch(sandbox.issuer.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: client.secret! }),
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }
  async function call(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; headers?: Record<string, string>; base?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${opts.base ?? bff.url}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      redirect: 'manual',
    });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = {};
    }
    return { status: res.status, body, text, headers: res.headers };
  }
  /** MLflow's REST API over plain HTTP, as any of its clients calls it: JSON in, JSON out, anything but 200 throws. */
  function mlflowClient(tok: string) {
    const rest = async <T>(method: 'GET' | 'POST', endpoint: string, params: Record<string, unknown>): Promise<T> => {
      const query = method === 'GET' ? `?${new URLSearchParams(params as Record<string, string>).toString()}` : '';
      const r = await call(method, `${API}/${endpoint}${query}`, { token: tok, body: method === 'POST' ? params : undefined });
      if (r.status !== 200) throw new Error(`${endpoint}: ${r.status} ${r.text}`);
      return r.body as T;
    };
    return {
      Experiments: {
        create: (b: Record<string, unknown>) => rest<{ experiment_id: string }>('POST', 'experiments/create', b),
        get: (q: Record<string, unknown>) => rest<{ experiment: Record<string, unknown> }>('GET', 'experiments/get', q),
      },
      Runs: {
        create: (b: Record<string, unknown>) => rest<{ run: RestRun }>('POST', 'runs/create', b),
        get: (q: Record<string, unknown>) => rest<{ run: RestRun }>('GET', 'runs/get', q),
        search: (b: Record<string, unknown>) => rest<{ runs: RestRun[] }>('POST', 'runs/search', b),
        update: (b: Record<string, unknown>) => rest('POST', 'runs/update', b),
        logMetric: (b: Record<string, unknown>) => rest('POST', 'runs/log-metric', b),
        logParameter: (b: Record<string, unknown>) => rest('POST', 'runs/log-parameter', b),
        logBatch: (b: Record<string, unknown>) => rest('POST', 'runs/log-batch', b),
        setTag: (b: Record<string, unknown>) => rest('POST', 'runs/set-tag', b),
      },
    };
  }
  async function grant(tok: string, experimentId: string, username: string, permission: string, base?: string): Promise<void> {
    const r = await call('PUT', `/mlflow-permissions/experiments/${experimentId}/users/${username}`, { token: tok, body: { permission }, base });
    expect(r.status).toBe(200);
  }

  /** The browser login, driven by hand: /auth/login → the issuer's login page → its form → /auth/callback. */
  async function browserLogin(base: string, user: string, password = user, callbackBase = base, idp: Jar = new Map()): Promise<Jar> {
    const jar: Jar = new Map();
    let res = await fetch(`${base}/auth/login?returnTo=${encodeURIComponent('/mlflow/#/')}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    keep(jar, res);
    const authorize = new URL(res.headers.get('location')!);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('client_id')).toBe(SANDBOX_LOGIN_CLIENT_ID);
    res = await fetch(authorize, { redirect: 'manual' });
    const page = await res.text();
    const action = /action="([^"]+)"/.exec(page)![1].replace(/&amp;/g, '&');
    res = await fetch(action, { method: 'POST', body: new URLSearchParams({ username: user, password }), redirect: 'manual' });
    expect(res.status).toBe(302);
    keep(idp, res);
    const callback = new URL(res.headers.get('location')!);
    expect(callback.origin).toBe(new URL(callbackBase).origin);
    res = await fetch(`${base}${callback.pathname}${callback.search}`, { headers: { cookie: cookieHeader(jar) }, redirect: 'manual' });
    expect(res.status).toBe(302);
    keep(jar, res);
    return jar;
  }

  beforeAll(async () => {
    sandbox = await startSandbox();
    mlflow = sandbox.servers.find((s) => s.name === 'mlflow')!.server as MlflowEmulator;
    bff = await startTestBff({ ...MLFLOW_ENV, LOG_LEVEL: process.env.SPEC_LOG_LEVEL ?? 'silent' }, { sandbox });
  });
  afterAll(async () => {
    for (const b of extra) await b.close();
    await bff?.close();
    await sandbox?.close();
  });

  describe('the mlflow npm client with a CI service account (client credentials)', () => {
    let ci: string;
    let experimentId: string;
    let runId: string;

    beforeAll(async () => {
      ci = await serviceToken('ci-pipeline');
    });

    it('creates an experiment and becomes its manager', async () => {
      const client = mlflowClient(ci);
      const created = await client.Experiments.create({ name: 'ci-experiment', artifact_location: '' });
      experimentId = created.experiment_id;
      expect(experimentId).toMatch(/^\d+$/);
      const mine = await call('GET', `/mlflow-permissions/experiments/${experimentId}/me`, { token: ci });
      expect(mine.body).toMatchObject({ username: 'service-account-ci-pipeline', permission: 'MANAGE', grant: 'MANAGE', groupDefault: 'NO_PERMISSIONS' });
      const got = await client.Experiments.get({ experiment_id: experimentId });
      expect(got.experiment).toMatchObject({ experiment_id: experimentId, name: 'ci-experiment', lifecycle_stage: 'active' });
    });

    it('creates a run whose mlflow.user is the token’s user, whatever the client sent', async () => {
      const client = mlflowClient(ci);
      const { run } = await client.Runs.create({
        experiment_id: experimentId,
        user_id: 'mallory',
        start_time: Date.now(),
        tags: [
          { key: 'mlflow.user', value: 'mallory' },
          { key: 'team', value: 'ml' },
        ],
      });
      runId = run.info.run_id;
      const stored = mlflow.run(runId)!;
      expect(stored.info.user_id).toBe('service-account-ci-pipeline');
      expect(stored.data.tags).toEqual(
        expect.arrayContaining([
          { key: 'mlflow.user', value: 'service-account-ci-pipeline' },
          { key: 'team', value: 'ml' },
        ]),
      );
      expect(stored.data.tags!.filter((t) => t.key === 'mlflow.user')).toHaveLength(1);
    });

    it('logs metrics, params, batches and tags; a spoofed mlflow.user tag is replaced', async () => {
      const client = mlflowClient(ci);
      await client.Runs.logMetric({ run_id: runId, key: 'loss', value: 0.5, timestamp: Date.now(), step: 1 });
      await client.Runs.logParameter({ run_id: runId, key: 'lr', value: '0.01' });
      await client.Runs.logBatch({
        run_id: runId,
        metrics: [{ key: 'loss', value: 0.25, timestamp: Date.now(), step: 2 }],
        params: [{ key: 'epochs', value: '3' }],
        tags: [{ key: 'mlflow.user', value: 'mallory' }],
      });
      await client.Runs.setTag({ run_id: runId, key: 'mlflow.user', value: 'mallory' });
      await client.Runs.update({ run_id: runId, status: 'FINISHED', end_time: Date.now() });
      const { run } = await client.Runs.get({ run_id: runId });
      expect(run.info.status).toBe('FINISHED');
      expect(run.data.metrics).toEqual([expect.objectContaining({ key: 'loss', value: 0.25, step: 2 })]);
      expect(run.data.params).toEqual(
        expect.arrayContaining([
          { key: 'lr', value: '0.01' },
          { key: 'epochs', value: '3' },
        ]),
      );
      expect(run.data.tags).toEqual(expect.arrayContaining([{ key: 'mlflow.user', value: 'service-account-ci-pipeline' }]));
      const found = await client.Runs.search({ experiment_ids: [experimentId] });
      expect(found.runs.map((r) => r.info.run_id)).toEqual([runId]);
      const deleteIdentity = await call('POST', `${API}/runs/delete-tag`, { token: ci, body: { run_id: runId, key: 'mlflow.user' } });
      expect(deleteIdentity.status).toBe(403);
    });

    it('never hands MLflow a credential or the client’s forwarding headers', () => {
      const seen = mlflow.requests.filter((r) => r.path.startsWith('/api/2.0/mlflow/'));
      expect(seen.length).toBeGreaterThan(5);
      for (const r of seen) {
        expect(r.headers.authorization).toBeUndefined();
        expect(r.headers.cookie).toBeUndefined();
        expect(r.headers['x-request-id']).toBeDefined();
      }
    });

    it('users without a grant see nothing', async () => {
      const viewer = await token('viewer');
      const search = await call('GET', `${API}/experiments/search?max_results=100`, { token: viewer });
      expect(search.status).toBe(200);
      expect(search.body).toEqual({});
      const searchPost = await call('POST', `${API}/experiments/search`, { token: viewer, body: { max_results: 100 } });
      expect(searchPost.body).toEqual({});
      const runs = await call('POST', `${API}/runs/search`, { token: viewer, body: { experiment_ids: [experimentId, '0'] } });
      expect(runs).toMatchObject({ status: 200, body: {} });
      for (const path of [
        `experiments/get?experiment_id=${experimentId}`,
        `runs/get?run_id=${runId}`,
        'experiments/get-by-name?experiment_name=ci-experiment',
        `metrics/get-history?run_id=${runId}&metric_key=loss`,
      ]) {
        const r = await call('GET', `${API}/${path}`, { token: viewer });
        expect([path, r.status, r.body.reason]).toEqual([path, 403, 'insufficient_role']);
      }
      // Alice's team may edit every experiment: she sees them all.
      const alice = await call('GET', `${API}/experiments/search`, { token: await token('alice') });
      expect((alice.body.experiments as Array<{ name: string }>).map((e) => e.name)).toEqual(expect.arrayContaining(['ci-experiment', 'Default']));
    });

    it('READ users are refused writes (403), and reach nothing else', async () => {
      const viewer = await token('viewer');
      await grant(ci, experimentId, 'viewer', 'READ');
      expect((await call('GET', `${API}/experiments/get?experiment_id=${experimentId}`, { token: viewer })).status).toBe(200);
      expect((await call('GET', `${API}/runs/get?run_uuid=${runId}`, { token: viewer })).status).toBe(200);
      const search = await call('GET', `${API}/experiments/search`, { token: viewer });
      expect((search.body.experiments as Array<{ experiment_id: string }>).map((e) => e.experiment_id)).toEqual([experimentId]);
      const writes: Array<[string, unknown]> = [
        ['runs/create', { experiment_id: experimentId }],
        ['runs/log-metric', { run_id: runId, key: 'x', value: 1, timestamp: 1 }],
        ['runs/set-tag', { run_id: runId, key: 'k', value: 'v' }],
        ['experiments/update', { experiment_id: experimentId, new_name: 'renamed' }],
        ['experiments/delete', { experiment_id: experimentId }],
      ];
      for (const [endpoint, body] of writes) {
        const r = await call('POST', `${API}/${endpoint}`, { token: viewer, body });
        expect([endpoint, r.status]).toEqual([endpoint, 403]);
      }
      const upload = await call('PUT', `/mlflow/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model.bin`, { token: viewer, body: 'x' });
      expect(upload.status).toBe(403);
      const regrant = await call('PUT', `/mlflow-permissions/experiments/${experimentId}/users/viewer`, { token: viewer, body: { permission: 'MANAGE' } });
      expect(regrant.status).toBe(403);
      expect(mlflow.experiment(experimentId)!.name).toBe('ci-experiment');
    });

    it('EDIT from a group writes but does not delete; MANAGE from a role deletes', async () => {
      const alice = await token('alice');
      const run = await call('POST', `${API}/runs/create`, { token: alice, body: { experiment_id: experimentId, run_name: 'alice-run' } });
      expect(run.status).toBe(200);
      expect(mlflow.run((run.body.run as { info: { run_id: string } }).info.run_id)!.info.user_id).toBe('alice');
      expect((await call('POST', `${API}/experiments/delete`, { token: alice, body: { experiment_id: experimentId } })).status).toBe(403);
      const admin = await token('admin');
      expect((await call('POST', `${API}/experiments/delete`, { token: admin, body: { experiment_id: experimentId } })).status).toBe(200);
      expect((await call('POST', `${API}/experiments/restore`, { token: admin, body: { experiment_id: experimentId } })).status).toBe(200);
    });

    it('manages grants through the API (MANAGE holders only), documented errors included', async () => {
      const listed = await call('GET', `/mlflow-permissions/experiments/${experimentId}/users`, { token: ci });
      expect(listed.status).toBe(200);
      expect(listed.body.users).toEqual([
        expect.objectContaining({ username: 'service-account-ci-pipeline', permission: 'MANAGE', grantedBy: 'service-account-ci-pipeline' }),
        expect.objectContaining({ username: 'viewer', permission: 'READ' }),
      ]);
      expect((await call('GET', `/mlflow-permissions/experiments/${experimentId}/users/viewer`, { token: ci })).body).toMatchObject({
        experimentId,
        permission: 'READ',
      });
      expect((await call('GET', `/mlflow-permissions/experiments/${experimentId}/users`, { token: await token('alice') })).status).toBe(403);
      expect((await call('GET', `/mlflow-permissions/experiments/${experimentId}/users`)).status).toBe(401);
      const badId = await call('PUT', `/mlflow-permissions/experiments/abc/users/viewer`, { token: ci, body: { permission: 'READ' } });
      expect(badId).toMatchObject({
        status: 400,
        body: { reason: 'validation_failed', errors: [{ field: 'experimentId', message: 'experimentId must be a numeric MLflow experiment id' }] },
      });
      const badUser = await call('PUT', `/mlflow-permissions/experiments/${experimentId}/users/a%20b`, { token: ci, body: { permission: 'READ' } });
      expect(badUser.body.errors).toEqual([{ field: 'username', message: 'username must be 1-255 letters, digits or ._@+-' }]);
      const badLevel = await call('PUT', `/mlflow-permissions/experiments/${experimentId}/users/viewer`, { token: ci, body: { permission: 'OWNER', extra: 1 } });
      expect(badLevel.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'permission', message: 'permission must be one of READ, EDIT, MANAGE' },
          { field: 'extra', message: 'property extra should not exist' },
        ]),
      );
      expect((await call('PUT', `/mlflow-permissions/experiments/999999/users/viewer`, { token: await token('admin'), body: { permission: 'READ' } })).status).toBe(
        404,
      );
      expect((await call('DELETE', `/mlflow-permissions/experiments/${experimentId}/users/viewer`, { token: ci })).status).toBe(204);
      expect((await call('DELETE', `/mlflow-permissions/experiments/${experimentId}/users/viewer`, { token: ci })).status).toBe(404);
      expect((await call('GET', `${API}/experiments/get?experiment_id=${experimentId}`, { token: await token('viewer') })).status).toBe(403);
    });

    it('streams artifact bodies larger than the BFF’s JSON body limit, both ways', async () => {
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      bytes.write('artifact', 0);
      const path = `/mlflow/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model.bin`;
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024);
      }
      const put = await fetch(`${bff.url}${path}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/octet-stream' },
        body: chunks() as unknown as RequestInit['body'],
        duplex: 'half',
      } as RequestInit);
      expect(put.status).toBe(200);
      expect(mlflow.artifact(`${experimentId}/${runId}/artifacts/model.bin`)!.equals(bytes)).toBe(true);
      const got = await fetch(`${bff.url}${path}`, { headers: { authorization: `Bearer ${ci}` } });
      expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
      // With a Content-Length above the app's 1 MiB body limit too: not parsed, so not limited.
      const sized = await fetch(`${bff.url}${path.replace('model.bin', 'weights.bin')}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/octet-stream' },
        body: bytes.subarray(0, 2 * 1024 * 1024),
      });
      expect(sized.status).toBe(200);
      expect(mlflow.artifact(`${experimentId}/${runId}/artifacts/weights.bin`)!.length).toBe(2 * 1024 * 1024);
      const list = await call('GET', `/mlflow/api/2.0/mlflow-artifacts/artifacts?path=${experimentId}/${runId}/artifacts`, { token: ci });
      expect(list.body).toEqual({
        files: [
          { path: 'model.bin', is_dir: false, file_size: bytes.length },
          { path: 'weights.bin', is_dir: false, file_size: 2 * 1024 * 1024 },
        ],
      });
      expect((await call('GET', `/mlflow/api/2.0/mlflow-artifacts/artifacts?path=0/x`, { token: ci })).status).toBe(403);
    });

    it('OTLP traces from the listed collector, with EDIT on X-Mlflow-Experiment-Id (OTLP/HTTP JSON exporter)', async () => {
      const collector = await serviceToken('otel-collector');
      const url = `${bff.url}/mlflow/v1/traces`;
      /** One span through the real exporter; resolves with the export's failure, if any. */
      const exportWith = async (tok: string): Promise<unknown> => {
        const exporter = new OTLPTraceExporter({ url, headers: { Authorization: `Bearer ${tok}`, 'x-mlflow-experiment-id': experimentId } });
        const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
        const span = provider.getTracer('mlflow-spec').startSpan('predict');
        span.setAttribute('model', 'sandbox');
        span.end();
        try {
          await provider.forceFlush();
          return undefined;
        } catch (err) {
          return Array.isArray(err) ? err[0] : err;
        } finally {
          await provider.shutdown().catch(() => undefined);
        }
      };
      const before = mlflow.traces.length;
      // Not yet allowed on this experiment: the export fails with 403, MLflow sees nothing.
      expect(await exportWith(collector)).toMatchObject({ code: 403 });
      expect(mlflow.traces.length).toBe(before);
      await grant(ci, experimentId, 'service-account-otel-collector', 'EDIT');
      expect(await exportWith(collector)).toBeUndefined();
      await waitUntil(() => mlflow.traces.length > before, { what: 'the OTLP export to reach MLflow' });
      const got = mlflow.traces[mlflow.traces.length - 1];
      // Decoded by the BFF and re-encoded: MLflow gets protobuf whatever the exporter sent.
      expect(got).toMatchObject({ experimentId, contentType: 'protobuf', spans: [expect.objectContaining({ name: 'predict' })] });
      expect(got.spans[0].traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(got.headers.authorization).toBeUndefined();
    });

    it('OTLP protobuf bodies are decoded and re-encoded: the same spans reach MLflow', async () => {
      const collector = await serviceToken('otel-collector');
      const traceId = Buffer.alloc(16, 0xab);
      const spanId = Buffer.alloc(8, 0xcd);
      const name = Buffer.from('manual-span');
      const field = (n: number, bytes: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2, bytes.length]), bytes]);
      const span = Buffer.concat([field(1, traceId), field(2, spanId), field(5, name)]);
      const request = field(1, field(2, field(2, span)));
      const res = await fetch(`${bff.url}/mlflow/v1/traces`, {
        method: 'POST',
        headers: { authorization: `Bearer ${collector}`, 'content-type': 'application/x-protobuf', 'x-mlflow-experiment-id': experimentId },
        body: request,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-protobuf');
      const got = mlflow.traces[mlflow.traces.length - 1];
      expect(got).toMatchObject({
        contentType: 'protobuf',
        bytes: request.length,
        spans: [{ traceId: traceId.toString('hex'), spanId: spanId.toString('hex'), name: 'manual-span' }],
      });
    });

    it('refuses /v1/traces to service accounts not listed, without EDIT, without the experiment header, and without spans', async () => {
      const body = { resourceSpans: [] };
      const traces = (tok: string | undefined, headers: Record<string, string>) => call('POST', '/mlflow/v1/traces', { token: tok, body, headers });
      const before = mlflow.traces.length;
      expect((await traces(ci, { 'x-mlflow-experiment-id': experimentId })).status).toBe(403); // MANAGE, but not a listed client
      expect((await traces(await token('admin'), { 'x-mlflow-experiment-id': experimentId })).status).toBe(400); // a user with EDIT: an export without spans
      const collector = await serviceToken('otel-collector');
      expect((await traces(collector, { 'x-mlflow-experiment-id': '0' })).status).toBe(403); // no EDIT there
      expect((await traces(collector, {})).status).toBe(400);
      expect((await traces(collector, { 'x-mlflow-experiment-id': `${experimentId}, 0` })).status).toBe(400);
      expect((await traces(undefined, { 'x-mlflow-experiment-id': experimentId })).status).toBe(401);
      expect((await call('GET', '/mlflow/v1/traces', { token: collector })).status).toBe(405);
      expect(mlflow.traces.length).toBe(before);
    });
  });

  describe('path rules: public paths open, and nothing else', () => {
    it('serves the listed public paths without a token, exactly as listed', async () => {
      const health = await call('GET', '/mlflow/health');
      expect(health).toMatchObject({ status: 200, text: 'OK' });
      expect((await call('GET', '/mlflow/version')).text).toMatch(/^\d+\.\d+\.\d+$/);
      expect((await call('HEAD', '/mlflow/health')).status).toBe(401); // HEAD is not listed
      expect((await call('POST', '/mlflow/health', { body: {} })).status).toBe(401);
      expect((await call('GET', '/mlflow/health', { token: 'not-a-token' })).status).toBe(401); // a bad token is refused, even there
    });

    it('requires a caller everywhere else, whatever the path tricks or forwarding headers', async () => {
      for (const path of [
        '/mlflow/',
        '/mlflow/api/2.0/mlflow/experiments/search',
        '/mlflow/ajax-api/2.0/mlflow/experiments/search',
        '/mlflow/health/../api/2.0/mlflow/experiments/search',
        '/mlflow/health/%2e%2e/api/2.0/mlflow/experiments/search',
        '/mlflow//static-files/static/js/main.js',
        '/mlflow/v1/traces',
      ]) {
        const r = await call('GET', path, { headers: { 'x-original-uri': '/mlflow/health', 'x-forwarded-prefix': '/mlflow/health', accept: 'application/json' } });
        expect([path, r.status]).toEqual([path, 401]);
      }
      // Sent as is (fetch and new URL() would resolve the dot segments before sending).
      const raw = (path: string, headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const u = new URL(bff.url);
          const req = httpRequest({ host: u.hostname, port: u.port, path, headers, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      const alice = await token('alice');
      expect(await raw('/mlflow/%2e%2e/auth/me', { authorization: `Bearer ${alice}` })).toBe(400);
      expect(await raw('/mlflow/health/%2e%2e/%2e%2e/%2e%2e/auth/me', { authorization: `Bearer ${alice}` })).toBe(400);
      expect(await raw('/mlflow/api/2.0/mlflow/experiments/%2e%2e/%2e%2e/%2e%2e/%2e%2e/health', {})).toBe(200); // it is /health, and forwarded as /health
      expect(mlflow.requests[mlflow.requests.length - 1].path).toBe('/health');
      expect(await raw('/mlflow/health/%2e%2e/api/2.0/mlflow/experiments/search', {})).toBe(401);
      const before = mlflow.requests.length;
      expect((await call('GET', '/mlflow/api/2.0/mlflow/experiments/search')).status).toBe(401);
      expect(mlflow.requests.length).toBe(before);
    });

    it('sends page loads without a session to the login, and refuses paths it does not know (fail closed)', async () => {
      // fetch() always sends Sec-Fetch-Mode: cors; a browser's page load says navigate.
      const page = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
        const u = new URL(bff.url);
        const req = httpRequest(
          { host: u.hostname, port: u.port, path: '/mlflow/static-files/x.js?v=1', headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' }, agent: false },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, location: res.headers.location });
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(page.status).toBe(302);
      expect(page.location).toBe(`${bff.url}/auth/login?returnTo=${encodeURIComponent('/mlflow/static-files/x.js?v=1')}`);
      expect((await call('GET', '/mlflow')).headers.get('location')).toBe('/mlflow/');
      const alice = await token('alice');
      // GraphQL is POSTed (decided per field); MLflow's GET form is not forwarded.
      expect((await call('GET', '/mlflow/graphql', { token: alice })).status).toBe(405);
      for (const path of [
        '/mlflow/admin',
        '/mlflow/ajax-api/3.0/mlflow/roles/list',
        '/mlflow/api/2.0/preview/mlflow/experiments/list',
        '/mlflow/api/2.0/mlflow/users/list',
      ]) {
        const r = await call('GET', path, { token: alice });
        expect([path, r.status]).toEqual([path, 403]);
      }
      expect((await call('POST', '/mlflow/', { token: alice, body: {} })).status).toBe(405);
      expect((await call('GET', '/mlflow/', { token: alice })).text).toContain('<main id="root">');
    });

    it('answers who the caller is, and the UI’s assistant and AI-gateway questions, itself (MLflow never asked)', async () => {
      const alice = await token('alice');
      const get = async (path: string) => (await call('GET', `/mlflow/ajax-api/${path}`, { token: alice })).body;
      expect(await get('2.0/mlflow/users/current')).toEqual({ user: { id: expect.any(String), username: 'alice', is_admin: false }, is_basic_auth: false });
      expect(await get('2.0/mlflow/gateway-proxy?gateway_path=api/2.0/endpoints/')).toEqual({ endpoints: [] });
      expect(await get('3.0/mlflow/assistant/config')).toEqual({ providers: {}, projects: {}, remote_access_allowed: false });
      expect(await get('3.0/mlflow/assistant/providers')).toEqual({ providers: [], resolved: null, gateway_vendor_options: {} });
      // The rest of the assistant (sessions, tools) stays refused.
      expect((await call('POST', '/mlflow/ajax-api/3.0/mlflow/assistant/sessions', { token: alice, body: {} })).status).toBe(403);
    });

    it('answers 502 when MLflow is unreachable', async () => {
      const down = await startTestBff({ ...MLFLOW_ENV, MLFLOW_URL: 'http://127.0.0.1:9' }, { sandbox });
      extra.push(down);
      const r = await call('GET', '/mlflow/', { token: await token('alice'), base: down.url });
      expect(r).toMatchObject({ status: 502, body: { reason: 'upstream_unavailable' } });
    });
  });

  describe('pooled keep-alive connections MLflow closes as idle', () => {
    let standIn: ClosingMlflow;
    let b: TestBff;
    let alice: string;
    const artifact = (name: string) => `/mlflow/api/2.0/mlflow-artifacts/artifacts/1/run1/artifacts/${name}`;

    beforeAll(async () => {
      standIn = await closingMlflow();
      b = await startTestBff({ ...MLFLOW_ENV, MLFLOW_URL: standIn.url }, { sandbox });
      extra.push(b);
      alice = await token('alice'); // group /data-team: EDIT on every experiment, no MLflow lookup
    });
    afterAll(async () => {
      await standIn?.close();
    });
    /** The BFF's pool of connections to MLflow (private), read to know when a connection is back in it or taken. */
    const pooled = () => {
      const { stats } = (b.app.get(MlflowClient) as unknown as { transport: UpstreamTransport }).transport;
      return (stats[standIn.url] ?? { connected: 0, free: 0 }) as { connected: number; free: number };
    };
    const free = () => pooled().free;
    const busy = () => pooled().connected - pooled().free;
    /** One request that leaves a keep-alive connection in the BFF's pool (back there once the answer is read). */
    async function pool(): Promise<void> {
      expect((await call('GET', '/mlflow/health', { base: b.url })).status).toBe(200);
      await waitUntil(() => free() === 1 && busy() === 0, { what: 'the connection to be back in the BFF pool' });
    }

    it('a request without a body, or with a JSON body the BFF holds, is sent once more on a new connection: no 502', async () => {
      await pool();
      standIn.resetNextReuse('on-arrival');
      const health = await call('GET', '/mlflow/health', { base: b.url });
      expect(health).toMatchObject({ status: 200, text: 'OK' });
      expect(standIn.resets).toBe(1);

      await pool();
      standIn.resetNextReuse('on-arrival');
      const created = await call('POST', `${API}/experiments/create`, { base: b.url, token: alice, body: { name: 'kept-alive' } });
      expect(created).toMatchObject({ status: 200, body: { experiment_id: '7' } });
      expect(standIn.resets).toBe(2);
      // Each request reached MLflow exactly once (the reset ones never did), the JSON body whole.
      expect(standIn.served).toEqual(['GET /health', 'GET /health', 'GET /health', 'POST /api/2.0/mlflow/experiments/create {"name":"kept-alive"}']);
    });

    it('a streamed body nothing was read from yet is sent once more too', async () => {
      await pool();
      standIn.served.length = 0;
      const resets = standIn.resets;
      expect([free(), busy()]).toEqual([1, 0]);
      // The client sends the headers; its body comes later. The BFF takes the pooled connection for the
      // request (and writes nothing yet: Node sends the headers with the first body bytes); MLflow's
      // keep-alive timeout closes that connection right then; only then does the body arrive.
      const put = httpRequest(`${b.url}${artifact('late.txt')}`, {
        method: 'PUT',
        agent: false,
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'text/plain', 'content-length': '10' },
      });
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        put.on('response', (res) => {
          let text = '';
          res
            .setEncoding('utf8')
            .on('data', (c: string) => (text += c))
            .on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        put.on('error', reject);
      });
      put.flushHeaders();
      await waitUntil(() => free() === 0 && busy() === 1, { what: 'the BFF to take the pooled connection' });
      standIn.dropIdle();
      // Closed and out of the pool (the retry's connection is not pooled): the BFF has moved on to a new one.
      await waitUntil(() => busy() === 0, { what: 'the BFF to see the connection closed' });
      put.end('late body!');
      expect(await answer).toEqual({ status: 200, text: '{}' });
      expect(standIn.resets).toBe(resets + 1);
      expect(standIn.served).toEqual(['PUT /api/2.0/mlflow-artifacts/artifacts/1/run1/artifacts/late.txt late body!']);
    });

    it('a streamed body already sent is not sent twice: an honest 502 problem+json', async () => {
      await pool();
      standIn.served.length = 0;
      // This time the connection goes once the body has gone out on it: there is nothing left to send again.
      standIn.resetNextReuse('after-body');
      const resets = standIn.resets;
      const res = await fetch(`${b.url}${artifact('gone.txt')}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'text/plain' },
        body: 'streamed',
      });
      expect(res.status).toBe(502);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({
        status: 502,
        reason: 'upstream_unavailable',
        detail: expect.stringMatching(/streamed.*cannot be sent again.*retry/),
      });
      expect(standIn.resets).toBe(resets + 1);
      expect(standIn.served).toEqual([]);
    });

    it('closes a pooled connection idle for MLFLOW_IDLE_SOCKET_MS, before MLflow would, and never a busy one', async () => {
      standIn.served.length = 0;
      standIn.clientClosedIdle = 0;
      const resets = standIn.resets;
      // gunicorn's default: a connection idle for 2 s is closed, here exactly when it is next used. When those 2 s
      // have passed (a timer of the stand-in, in this process like the BFF pool's 1 s one: they fire in that order
      // whatever the load), the BFF must have closed the connection already; what its pool holds then is recorded.
      const pooledAtIdleLimit: number[] = [];
      standIn.closeReusedIdleFor(2_000, () => pooledAtIdleLimit.push(pooled().connected));
      await pool();
      await waitUntil(() => pooledAtIdleLimit.length > 0, { timeoutMs: 5000, what: "MLflow's idle limit to pass" });
      expect(pooledAtIdleLimit).toEqual([0]);
      await waitUntil(() => standIn.clientClosedIdle === 1, { what: 'the stand-in to see the BFF close the idle connection' });
      const put = await fetch(`${b.url}${artifact('after-idle.txt')}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'text/plain' },
        body: 'after idle',
      });
      expect(put.status).toBe(200);
      expect(standIn.resets).toBe(resets);
      // A slow answer (headers after 1.2 s, then 1.2 s of silence mid-body) is not cut by the pool's idle timeout.
      const slow = await call('GET', '/mlflow/version', { base: b.url });
      expect(slow).toMatchObject({ status: 200, text: '3.6.0' });
      expect(standIn.served).toEqual(['GET /health', 'PUT /api/2.0/mlflow-artifacts/artifacts/1/run1/artifacts/after-idle.txt after idle', 'GET /version']);
    });
  });

  describe('the browser session (OIDC authorization code + PKCE)', () => {
    it('logs in, uses the UI API with the cookie, and refuses cross-site writes (CSRF)', async () => {
      const jar = await browserLogin(bff.url, 'alice');
      const cookie = cookieHeader(jar);
      expect(jar.has('bff_session')).toBe(true);
      const search = await call('GET', '/mlflow/ajax-api/2.0/mlflow/experiments/search', { headers: { cookie } });
      expect(search.status).toBe(200);
      const create = (headers: Record<string, string>) =>
        call('POST', '/mlflow/ajax-api/2.0/mlflow/experiments/create', { headers: { cookie, ...headers }, body: { name: `csrf-${Math.random()}` } });
      expect((await create({})).status).toBe(403);
      expect((await create({ origin: 'https://evil.example' })).status).toBe(403);
      expect((await create({ origin: bff.url, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
      expect((await create({ referer: 'https://evil.example/page' })).status).toBe(403);
      expect((await create({ origin: 'null' })).status).toBe(403);
      const ok = await create({ origin: bff.url, 'sec-fetch-site': 'same-origin' });
      expect(ok.status).toBe(200);
      const mine = await call('GET', `/mlflow-permissions/experiments/${ok.body.experiment_id as string}/me`, { token: await token('alice') });
      expect(mine.body).toMatchObject({ permission: 'MANAGE', grant: 'MANAGE' });
      // A bearer caller is not subject to the origin check (browsers never add Authorization by themselves).
      expect((await call('POST', '/mlflow/api/2.0/mlflow/experiments/create', { token: await token('alice'), body: { name: 'bearer-no-origin' } })).status).toBe(
        200,
      );
      // The cookie is not a bearer token for the rest of the BFF.
      expect((await call('GET', '/auth/me', { headers: { cookie } })).status).toBe(401);
    });

    it('binds the login to the browser: a callback without the state cookie, a replayed code or a foreign returnTo fail', async () => {
      const jar: Jar = new Map();
      let res = await fetch(`${bff.url}/auth/login`, { redirect: 'manual' });
      keep(jar, res);
      const authorize = new URL(res.headers.get('location')!);
      const page = await (await fetch(authorize)).text();
      const action = /action="([^"]+)"/.exec(page)![1].replace(/&amp;/g, '&');
      res = await fetch(action, { method: 'POST', body: new URLSearchParams({ username: 'alice', password: 'alice' }), redirect: 'manual' });
      const callback = new URL(res.headers.get('location')!);
      const callbackPath = `${callback.pathname}${callback.search}`;
      // Another browser (no state cookie), or a forged state: refused, no session.
      const noCookie = await call('GET', callbackPath);
      expect(noCookie.status).toBe(400);
      expect(noCookie.headers.getSetCookie().some((c) => c.startsWith('bff_session='))).toBe(false);
      const forged = callbackPath.replace(/state=[^&]+/, 'state=forged-state-value-000000000');
      expect((await call('GET', forged, { headers: { cookie: cookieHeader(jar) } })).status).toBe(400);
      // The browser that started it: logged in, once.
      const ok = await call('GET', callbackPath, { headers: { cookie: cookieHeader(jar) } });
      expect(ok.status).toBe(302);
      expect(ok.headers.get('location')).toBe(`${bff.url}/mlflow/`);
      expect((await call('GET', callbackPath, { headers: { cookie: cookieHeader(jar) } })).status).toBe(400);
      expect((await call('GET', `/auth/login?returnTo=${encodeURIComponent('//evil.example/x')}`)).status).toBe(400);
      expect((await call('GET', `/auth/login?returnTo=${encodeURIComponent('https://evil.example/')}`)).status).toBe(400);
      // A wrong password shows the form again and issues no code.
      const retry = await (await fetch(`${bff.url}/auth/login`, { redirect: 'manual' })).headers.get('location')!;
      const again = /action="([^"]+)"/.exec(await (await fetch(retry)).text())![1].replace(/&amp;/g, '&');
      const wrong = await fetch(again, { method: 'POST', body: new URLSearchParams({ username: 'alice', password: 'nope' }), redirect: 'manual' });
      expect(wrong.status).toBe(200);
      expect(await wrong.text()).toContain('Invalid username or password.');
    });

    it('logs out here and at the identity provider; the old cookie is worthless afterwards', async () => {
      const jar = await browserLogin(bff.url, 'admin');
      const cookie = cookieHeader(jar);
      expect((await call('GET', '/mlflow/ajax-api/2.0/mlflow/experiments/search', { headers: { cookie } })).status).toBe(200);
      expect((await call('POST', '/auth/logout', { headers: { cookie, origin: 'https://evil.example' } })).status).toBe(403);
      const out = await fetch(`${bff.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: bff.url }, redirect: 'manual' });
      expect(out.status).toBe(303);
      expect(out.headers.getSetCookie().some((c) => /^bff_session=;.*Max-Age=0/i.test(c))).toBe(true);
      const endSession = new URL(out.headers.get('location')!);
      expect(endSession.pathname).toBe('/realms/platform/protocol/openid-connect/logout');
      expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
      const idp = await fetch(endSession, { redirect: 'manual' });
      expect(idp.headers.get('location')).toBe(`${bff.url}/mlflow/`);
      expect((await call('GET', '/mlflow/ajax-api/2.0/mlflow/experiments/search', { headers: { cookie } })).status).toBe(401);
    });

    it('refreshes the session before its access token expires, and drops it when the identity provider ends it', async () => {
      const shortLived = await startSandbox({ accessTokenLifespanS: 4 });
      const b = await startTestBff(MLFLOW_ENV, { sandbox: shortLived });
      try {
        const idp: Jar = new Map();
        const jar = await browserLogin(b.url, 'alice', 'alice', b.url, idp);
        const cookie = cookieHeader(jar);
        const search = () => call('GET', '/mlflow/ajax-api/2.0/mlflow/experiments/search', { headers: { cookie }, base: b.url });
        expect((await search()).status).toBe(200);
        expect(shortLived.issuer.stats.grants.refresh_token ?? 0).toBe(0);
        // Every call in the refresh margin (half of a 4 s token) refreshes once; every call succeeds.
        const statuses: number[] = [];
        const searchUntil = (refreshes: number) =>
          waitUntil(
            async () => {
              statuses.push((await search()).status);
              return (shortLived.issuer.stats.grants.refresh_token ?? 0) >= refreshes;
            },
            { timeoutMs: 15_000, intervalMs: 200, what: `${refreshes} session refreshes` },
          );
        await searchUntil(1);
        expect(shortLived.issuer.stats.grants.refresh_token).toBe(1);
        // Past the first token's expiry (a second refresh needs the first refreshed token in its margin): only the refreshed ones work.
        await searchUntil(2);
        expect(statuses.every((s) => s === 200)).toBe(true);
        // The identity provider ends the SSO session (logout elsewhere): the next refresh is refused, the session dropped.
        await fetch(`${shortLived.issuer.issuer}/protocol/openid-connect/logout`, { headers: { cookie: cookieHeader(idp) } });
        let after: Awaited<ReturnType<typeof search>> | undefined;
        await waitUntil(
          async () => {
            after = await search();
            return after.status !== 200;
          },
          { timeoutMs: 15_000, intervalMs: 200, what: 'the session to be dropped' },
        );
        expect(after!.status).toBe(401);
        expect(after!.headers.getSetCookie().some((c) => /^bff_session=;/.test(c))).toBe(true);
      } finally {
        await b.close();
        await shortLived.close();
      }
    });

    it('sets Secure, HttpOnly, SameSite=Lax __Host- cookies behind an https PUBLIC_URL', async () => {
      const publicUrl = 'https://bff.example.com';
      sandbox.issuer.clients.get(SANDBOX_LOGIN_CLIENT_ID)!.redirectUris!.push(`${publicUrl}/*`);
      const b = await startTestBff({ ...MLFLOW_ENV, PUBLIC_URL: publicUrl }, { sandbox });
      extra.push(b);
      const login = await fetch(`${b.url}/auth/login`, { redirect: 'manual' });
      const [loginCookie] = login.headers.getSetCookie();
      expect(loginCookie).toMatch(/^__Host-login-bff_session=[^;]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      expect(new URL(login.headers.get('location')!).searchParams.get('redirect_uri')).toBe(`${publicUrl}/auth/callback`);
      const jar = await browserLogin(b.url, 'alice', 'alice', publicUrl);
      const callbackCookies = [...jar.keys()];
      expect(callbackCookies).toEqual(['__Host-bff_session']);
    });
  });

  const describeRedis = redisAvailable() ? describe : describe.skip;
  describeRedis('two replicas sharing Valkey', () => {
    let redis: RedisServer;
    let a: TestBff;
    let b: TestBff;
    beforeAll(async () => {
      redis = await startRedis();
      const env = { ...MLFLOW_ENV, VALKEY_URL: redis.url, ...SHARED_VALKEY_ENV, BFF_SESSION_SECRET: 'a-shared-secret-of-at-least-32-characters' };
      a = await startTestBff(env, { sandbox });
      b = await startTestBff(env, { sandbox });
      for (const replica of [a, b]) await waitUntil(() => replica.app.get(StateStore).shared, { what: 'the replica to reach Valkey' });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await redis?.stop();
    });

    it('a session started on one replica works on the other; grants are shared; nothing readable is stored', async () => {
      const jar = await browserLogin(a.url, 'viewer');
      const cookie = cookieHeader(jar);
      const ci = await serviceToken('ci-pipeline');
      const created = await call('POST', `${API}/experiments/create`, { token: ci, body: { name: 'shared-experiment' }, base: a.url });
      const id = created.body.experiment_id as string;
      const onB = () => call('GET', `/mlflow/ajax-api/2.0/mlflow/experiments/get?experiment_id=${id}`, { headers: { cookie }, base: b.url });
      expect((await onB()).status).toBe(403);
      // The creator's MANAGE was recorded by replica A; B lets it grant, and A's grant holds on B.
      await grant(ci, id, 'viewer', 'READ', a.url);
      expect((await call('GET', `/mlflow-permissions/experiments/${id}/users/viewer`, { token: ci, base: b.url })).body).toMatchObject({ permission: 'READ' });
      expect((await onB()).status).toBe(200);
      // Stored under a hash of the cookie's id, sealed: no token in Valkey.
      const sid = jar.get('bff_session')!;
      expect(await redis.command('GET', `session:${sid}`)).toBe('(nil)');
      const stored = await redis.command('GET', `session:${createHash('sha256').update(sid).digest('hex')}`);
      expect(stored).not.toBe('(nil)');
      // No token (a JWT is `eyJ…` segments joined by dots) and no user name; the sealed session is one base64url
      // string, without dots, in which `eyJ` alone turns up by chance (about once in 50 sessions).
      expect(stored).not.toMatch(/eyJ[\w-]*\.|alice|viewer/);
    });
  });
});

/**
 * A stand-in MLflow that closes pooled keep-alive connections exactly when the BFF reuses them, so the
 * race of its idle timeout with the BFF's next request is deterministic: `resetNextReuse` drops the next
 * reused connection as a request arrives on it (MLflow never saw the request) or once its body arrived;
 * `dropIdle` closes the idle ones now (for a request the client has not written yet); `closeReusedIdleFor` drops any connection reused after that much idle time (gunicorn's keep-alive, met
 * at the worst moment), and calls back when that idle time has passed for a pooled connection. It records what it served, and how
 * many idle connections the client closed.
 */
interface ClosingMlflow {
  url: string;
  served: string[];
  resets: number;
  clientClosedIdle: number;
  resetNextReuse(when: 'on-arrival' | 'after-body'): void;
  /** Closes every connection idle now (its keep-alive timeout firing). */
  dropIdle(): void;
  closeReusedIdleFor(ms: number, onIdleLimit?: () => void): void;
  close(): Promise<void>;
}

async function closingMlflow(): Promise<ClosingMlflow> {
  const idleSince = new Map<Socket, number>();
  const resetByUs = new WeakSet<Socket>();
  let armed: 'on-arrival' | 'after-body' | undefined;
  let idleLimit = Infinity;
  let onIdleLimit: (() => void) | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const state: ClosingMlflow = {
    url: '',
    served: [],
    resets: 0,
    clientClosedIdle: 0,
    resetNextReuse: (when) => (armed = when),
    closeReusedIdleFor: (ms, onLimit) => {
      idleLimit = ms;
      onIdleLimit = onLimit;
    },
    dropIdle: () => {
      for (const socket of idleSince.keys()) reset(socket);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const reset = (socket: Socket) => {
    state.resets++;
    resetByUs.add(socket);
    socket.destroy();
  };
  const server = createServer((req, res) => {
    const socket = req.socket;
    const since = idleSince.get(socket);
    idleSince.delete(socket);
    const reused = since !== undefined;
    if (reused && (armed === 'on-arrival' || Date.now() - since >= idleLimit)) {
      armed = undefined;
      return reset(socket);
    }
    if (reused && armed === 'after-body') {
      armed = undefined;
      req.once('data', () => reset(socket));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.served.push(`${req.method} ${req.url}${body ? ` ${body}` : ''}`);
      // From here the connection sits idle in the client's pool (unless it is closed after this answer).
      res.once('finish', () => {
        if (!res.shouldKeepAlive) return;
        idleSince.set(socket, Date.now());
        const notify = onIdleLimit;
        if (notify === undefined) return;
        const timer = setTimeout(() => {
          timers.delete(timer);
          notify();
        }, idleLimit);
        timers.add(timer);
      });
      if (req.url === '/health') return res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
      if (req.url === '/api/2.0/mlflow/experiments/create') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"experiment_id":"7"}');
      if (req.method === 'PUT') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (req.url === '/version') {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' }).write('3.6');
          setTimeout(() => res.end('.0'), 1_200);
        }, 1_200);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":"ENDPOINT_NOT_FOUND"}');
    });
  });
  server.on('connection', (socket: Socket) => {
    socket.on('close', () => {
      const since = idleSince.get(socket);
      if (since !== undefined && !resetByUs.has(socket)) state.clientClosedIdle++;
      idleSince.delete(socket);
    });
  });
  server.keepAliveTimeout = 60_000; // only the behaviours above close connections
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
