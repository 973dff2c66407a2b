import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MlflowEmulator } from '../../sandbox/mlflow';
import { REST_ENDPOINTS } from '../../src/mlflow/mlflow-endpoints';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { REAL_ROW_CASES } from '../mlflow-real/row-cases';
import { startTestBff, type TestBff } from '../support/app';
import { usersAtEachLevel, type Level } from '../support/mlflow-levels';
import { api, ROW_CASES } from '../support/mlflow-row-cases';

jest.setTimeout(60_000);

/**
 * The proxy decides on exactly what MLflow will read, and forwards only that. MLflow reads request
 * messages with protobuf's JSON mapping (a field spelled `experiment_id` or `experimentId`, the later
 * key winning), and so does the sandbox MLflow: what these tests see MLflow do is what MLflow would do.
 */
const MLFLOW_ENV = {
  MLFLOW_PUBLIC_PATHS: 'GET /health',
  MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ '/data-team': 'EDIT', ADMIN: 'MANAGE' }),
};
const API = '/mlflow/api/2.0/mlflow';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
  text: string;
}

describe('MLflow: the proxy decides on exactly what MLflow will read', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let mlflow: MlflowEmulator;
  const extra: Array<{ close(): Promise<void> }> = [];

  /** A user with no group or role default: what they may do comes from their grants alone. */
  const userToken = (username: string) =>
    sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` } });

  async function send(method: string, path: string, token: string | undefined, body?: string, base = bff.url): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = {};
    }
    return { status: res.status, body: parsed, headers: res.headers, text };
  }
  const post = (path: string, token: string, body: string, base?: string) => send('POST', `${API}/${path}`, token, body, base);
  const get = (path: string, token: string) => send('GET', `${API}/${path}`, token);
  /** How many requests MLflow has received so far. */
  const reached = () => mlflow.requests.length;

  let mallory: string;
  let victim: string;
  /** Mallory's experiment and run (she created both: MANAGE), the victim's ones (Mallory has nothing on them). */
  let mine: string;
  let myRun: string;
  let theirs: string;
  let theirRun: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    mlflow = sandbox.servers.find((s) => s.name === 'mlflow')!.server as MlflowEmulator;
    bff = await startTestBff({ ...MLFLOW_ENV, LOG_LEVEL: 'silent' }, { sandbox });
    mallory = await userToken('mallory');
    victim = await userToken('victim');
    mine = (await post('experiments/create', mallory, JSON.stringify({ name: 'mallory-exp' }))).body.experiment_id as string;
    theirs = (await post('experiments/create', victim, JSON.stringify({ name: 'victim-exp' }))).body.experiment_id as string;
    const runOf = (a: Answer) => (a.body.run as { info: { run_id: string } }).info.run_id;
    myRun = runOf(await post('runs/create', mallory, JSON.stringify({ experiment_id: mine })));
    theirRun = runOf(await post('runs/create', victim, JSON.stringify({ experiment_id: theirs, tags: [{ key: 'owner-tag', value: 'victim' }] })));
    await post('experiments/set-experiment-tag', victim, JSON.stringify({ experiment_id: theirs, key: 'owner-tag', value: 'victim' }));
    expect([mine, theirs, myRun, theirRun].every(Boolean)).toBe(true);
  });
  afterAll(async () => {
    for (const e of extra) await e.close();
    await bff?.close();
    await sandbox?.close();
  });

  /** The victim's experiment and run as MLflow holds them: no attack may change either. */
  const victimState = () => JSON.stringify([mlflow.experiment(theirs), mlflow.run(theirRun)]);

  it('the attack from the issue — my id in one spelling, the victim’s in the other — is refused on every endpoint, never forwarded', async () => {
    const before = victimState();
    const both = (mineField: string, theirsField: string, own: string, other: string) => `"${mineField}":"${own}","${theirsField}":"${other}"`;
    const exp = both('experiment_id', 'experimentId', mine, theirs);
    const run = both('run_id', 'runId', myRun, theirRun);
    const attacks: Array<[string, string]> = [
      ['experiments/update', `{${exp},"new_name":"x"}`],
      ['experiments/set-experiment-tag', `{${exp},"key":"owner-tag","value":"mallory"}`],
      ['experiments/delete-experiment-tag', `{${exp},"key":"owner-tag"}`],
      ['experiments/delete', `{${exp}}`],
      ['experiments/restore', `{${exp}}`],
      ['runs/create', `{${exp},"run_name":"planted"}`],
      ['runs/search', `{"experiment_ids":["${mine}"],"experimentIds":["${theirs}"]}`],
      ['runs/update', `{${run},"status":"KILLED","run_name":"x"}`],
      ['runs/update', `{${both('run_uuid', 'runUuid', myRun, theirRun)},"status":"KILLED"}`],
      ['runs/set-tag', `{${run},"key":"owner-tag","value":"mallory"}`],
      ['runs/delete-tag', `{${run},"key":"owner-tag"}`],
      ['runs/log-metric', `{${run},"key":"m","value":1,"timestamp":1}`],
      ['runs/log-parameter', `{${run},"key":"p","value":"1"}`],
      ['runs/log-batch', `{${run},"params":[{"key":"b","value":"1"}]}`],
      ['runs/log-model', `{${run},"model_json":"{}"}`],
      ['runs/log-inputs', `{${run},"datasets":[]}`],
      ['runs/delete', `{${run}}`],
      ['runs/restore', `{${run}}`],
    ];
    const seen = reached();
    const answers = [];
    for (const [endpoint, body] of attacks) {
      const r = await post(endpoint, mallory, body);
      answers.push([endpoint, r.status, r.body.reason, r.headers.get('content-type')]);
    }
    expect(answers).toEqual(attacks.map(([endpoint]) => [endpoint, 400, 'validation_failed', 'application/problem+json; charset=utf-8']));
    expect(reached()).toBe(seen);
    expect(victimState()).toBe(before);
  });

  it('refusals carry MLflow’s error_code and message beside the problem+json fields, so MLflow’s clients report them as what they are', async () => {
    const fields = (r: Answer) => ({ status: r.status, reason: r.body.reason, error_code: r.body.error_code, message: r.body.message === r.body.detail });
    const denied = await get(`experiments/get?experiment_id=${theirs}`, mallory);
    const unauthenticated = await send('GET', `${API}/experiments/get?experiment_id=${theirs}`, undefined);
    const noRun = await get('runs/get?run_id=0123456789abcdef0123456789abcdef', mallory);
    const invalid = await post('experiments/update', mallory, `{"experiment_id":"${mine}","experimentId":"${mine}"}`);
    const unknown = await get('experiments/no-such-endpoint', mallory);
    expect([denied, unauthenticated, noRun, invalid, unknown].map(fields)).toEqual([
      { status: 403, reason: 'insufficient_role', error_code: 'PERMISSION_DENIED', message: true },
      { status: 401, reason: 'token_missing', error_code: 'UNAUTHENTICATED', message: true },
      { status: 404, reason: 'not_found', error_code: 'RESOURCE_DOES_NOT_EXIST', message: true },
      { status: 400, reason: 'validation_failed', error_code: 'INVALID_PARAMETER_VALUE', message: true },
      { status: 403, reason: 'insufficient_role', error_code: 'PERMISSION_DENIED', message: true },
    ]);
  });

  it('the camelCase spelling alone is decided as the snake_case one', async () => {
    const before = victimState();
    // Decided on the victim's experiment or run: refused as the snake_case spelling would be.
    const refused = [
      await post('experiments/update', mallory, JSON.stringify({ experimentId: theirs, newName: 'x' })),
      await post('runs/create', mallory, JSON.stringify({ experimentId: theirs })),
      await post('runs/set-tag', mallory, JSON.stringify({ runId: theirRun, key: 'k', value: 'v' })),
      await post('runs/delete', mallory, JSON.stringify({ runId: theirRun })),
      await post('runs/update', mallory, JSON.stringify({ runUuid: theirRun, status: 'KILLED' })),
      await get(`experiments/get?experimentId=${theirs}`, mallory),
      await get(`runs/get?runId=${theirRun}`, mallory),
    ];
    expect(refused.map((r) => [r.status, r.body.reason])).toEqual(refused.map(() => [403, 'insufficient_role']));
    expect(victimState()).toBe(before);
    // Decided on her own: allowed, and MLflow gets the canonical spelling only.
    const renamed = await post('experiments/update', mallory, JSON.stringify({ experimentId: mine, newName: 'mallory-renamed' }));
    expect(renamed.status).toBe(200);
    expect(mlflow.requests.at(-1)!.body).toBe(JSON.stringify({ experiment_id: mine, new_name: 'mallory-renamed' }));
    expect(mlflow.experiment(mine)!.name).toBe('mallory-renamed');
    const created = await post('runs/create', mallory, JSON.stringify({ experimentId: mine, userId: 'victim', runName: 'camel' }));
    expect(created.status).toBe(200);
    const info = (created.body.run as { info: { experiment_id: string; user_id: string; run_name: string } }).info;
    expect(info).toMatchObject({ experiment_id: mine, user_id: 'mallory', run_name: 'camel' });
    const got = await get(`runs/get?runUuid=${myRun}`, mallory);
    expect(got.status).toBe(200);
    expect(mlflow.requests.at(-1)!.path).toBe(`/api/2.0/mlflow/runs/get?run_id=${myRun}`);
  });

  it('duplicate keys are refused (JSON.parse would silently keep the last), at any depth', async () => {
    const before = [victimState(), mlflow.experiment(mine)!.name, JSON.stringify(mlflow.run(myRun))];
    const seen = reached();
    const answers = [
      await post('experiments/update', mallory, `{"experiment_id":"${theirs}","experiment_id":"${mine}","new_name":"dup"}`),
      await post('experiments/update', mallory, `{"experiment_id":"${mine}","new_name":"a","new_name":"b"}`),
      await post('runs/log-batch', mallory, `{"run_id":"${myRun}","tags":[{"key":"a","key":"mlflow.user","value":"victim"}]}`),
      // An escaped key is the same key.
      await post('experiments/update', mallory, `{"experiment_id":"${theirs}","experiment\\u005fid":"${mine}","new_name":"dup"}`),
    ];
    expect(answers.map((r) => [r.status, r.body.reason])).toEqual(answers.map(() => [400, 'validation_failed']));
    expect(reached()).toBe(seen);
    expect([victimState(), mlflow.experiment(mine)!.name, JSON.stringify(mlflow.run(myRun))]).toEqual(before);
  });

  it('unknown fields are refused, at the top and nested, in bodies and in queries', async () => {
    const seen = reached();
    const answers = [
      await post('experiments/update', mallory, JSON.stringify({ experiment_id: mine, new_name: 'x', experiment_name: 'y' })),
      await post('runs/log-batch', mallory, JSON.stringify({ run_id: myRun, metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0, experimentId: theirs }] })),
      await post('runs/create', mallory, JSON.stringify({ experiment_id: mine, tags: [{ key: 'k', value: 'v', run_id: theirRun }] })),
      await get(`experiments/get?experiment_id=${mine}&run_id=${theirRun}`, mallory),
      await send('POST', `${API}/experiments/update?experiment_id=${theirs}`, mallory, JSON.stringify({ experiment_id: mine, new_name: 'q' })),
    ];
    expect(answers.map((r) => [r.status, r.body.reason])).toEqual(answers.map(() => [400, 'validation_failed']));
    expect(reached()).toBe(seen);
  });

  it('GET parameters: both spellings of one field, or a single-valued field repeated, are refused', async () => {
    const seen = reached();
    const answers = [
      await get(`experiments/get?experiment_id=${mine}&experimentId=${theirs}`, mallory),
      await get(`experiments/get?experimentId=${theirs}&experiment_id=${mine}`, mallory),
      await get(`experiments/get?experiment_id=${mine}&experiment_id=${theirs}`, mallory),
      await get(`runs/get?run_id=${myRun}&runId=${theirRun}`, mallory),
      await get(`runs/get?run_id=${myRun}&run_uuid=${theirRun}`, mallory),
      await get(`experiments/get-by-name?experiment_name=mallory-renamed&experimentName=victim-exp`, mallory),
      await get(`experiments/search?max_results=1&max_results=2`, mallory),
      await get(`experiments/search?max_results=1&maxResults=2`, mallory),
      await get(`metrics/get-history?run_id=${myRun}&metric_key=a&metricKey=b`, mallory),
      await get(`metrics/get-history-bulk-interval?run_ids=${myRun}&runIds=${theirRun}&metric_key=a`, mallory),
    ];
    expect(answers.map((r) => [r.status, r.body.reason])).toEqual(answers.map(() => [400, 'validation_failed']));
    expect(reached()).toBe(seen);
    // Repeated values of a repeated field are one field: allowed, each value decided.
    const bulk = await get(`metrics/get-history-bulk-interval?run_ids=${myRun}&run_ids=${theirRun}&metric_key=a`, mallory);
    expect([bulk.status, bulk.body.reason]).toEqual([403, 'insufficient_role']);
  });

  it('HEAD is decided exactly as the GET it mirrors: someone else’s experiment by name is 403, searches are filtered', async () => {
    const byName = `experiments/get-by-name?experiment_name=${encodeURIComponent(mlflow.experiment(theirs)!.name)}`;
    const getAnswer = await get(byName, mallory);
    expect([getAnswer.status, getAnswer.body.reason]).toEqual([403, 'insufficient_role']);
    const head = await send('HEAD', `${API}/${byName}`, mallory);
    expect([head.status, head.headers.get('content-type'), head.text]).toEqual([403, 'application/problem+json; charset=utf-8', '']);
    const own = await send('HEAD', `${API}/experiments/get-by-name?experiment_name=${encodeURIComponent(mlflow.experiment(mine)!.name)}`, mallory);
    const ownGet = await get(`experiments/get-by-name?experiment_name=${encodeURIComponent(mlflow.experiment(mine)!.name)}`, mallory);
    expect([own.status, own.headers.get('content-length'), own.text]).toEqual([200, String(Buffer.byteLength(ownGet.text)), '']);
    // The size of a HEAD answer is the size of the filtered GET answer, not of MLflow's unfiltered one.
    const search = await get('experiments/search?max_results=100', mallory);
    expect((search.body.experiments as Array<{ experiment_id: string }>).map((e) => e.experiment_id)).toEqual([mine]);
    const headSearch = await send('HEAD', `${API}/experiments/search?max_results=100`, mallory);
    expect([headSearch.status, headSearch.headers.get('content-length')]).toEqual([200, String(Buffer.byteLength(search.text))]);
    // An answer passed through unchanged: the GET's headers, its length included.
    const ownById = await get(`experiments/get?experiment_id=${mine}`, mallory);
    const headById = await send('HEAD', `${API}/experiments/get?experiment_id=${mine}`, mallory);
    expect([headById.status, headById.headers.get('content-length'), headById.text]).toEqual([200, String(Buffer.byteLength(ownById.text)), '']);
    // HEAD takes the same parameters as GET, refused the same way.
    const ambiguous = await send('HEAD', `${API}/experiments/get?experiment_id=${mine}&experimentId=${theirs}`, mallory);
    expect(ambiguous.status).toBe(400);
  });

  it('a run is cached in the experiment MLflow answered, never in the one the request named', async () => {
    // A stand-in MLflow that files every new run under experiment 12 (someone else's), whatever was asked.
    const served: string[] = [];
    const standIn: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        served.push(`${req.method} ${req.url} ${body}`);
        const answer =
          req.url === '/api/2.0/mlflow/experiments/create'
            ? { experiment_id: '11' }
            : req.url === '/api/2.0/mlflow/runs/create'
              ? { run: { info: { run_id: 'planted', run_uuid: 'planted', experiment_id: '12' }, data: {}, inputs: {} } }
              : {};
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    extra.push({
      close: () =>
        new Promise<void>((resolve) => {
          standIn.close(() => resolve());
          standIn.closeAllConnections();
        }),
    });
    const b = await startTestBff({ ...MLFLOW_ENV, LOG_LEVEL: 'silent', MLFLOW_URL: `http://127.0.0.1:${(standIn.address() as AddressInfo).port}` }, { sandbox });
    extra.unshift(b);
    expect((await post('experiments/create', mallory, JSON.stringify({ name: 'x' }), b.url)).body).toEqual({ experiment_id: '11' });
    expect((await post('runs/create', mallory, JSON.stringify({ experiment_id: '11' }), b.url)).status).toBe(200);
    // The run is in experiment 12, where Mallory has nothing.
    const logged = await post('runs/log-metric', mallory, JSON.stringify({ run_id: 'planted', key: 'm', value: 1, timestamp: 1 }), b.url);
    expect([logged.status, logged.body.reason]).toEqual([403, 'insufficient_role']);
    expect(served.filter((s) => s.includes('log-metric'))).toEqual([]);
  });
});

describe('MLflow: every row of the endpoint table needs exactly its level', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let mlflow: MlflowEmulator;
  const tokens = new Map<Level, string>();
  const ids = { experiment: '', run: '', name: 'row-levels' };

  async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; reason?: unknown; text: string }> {
    const res = await fetch(`${bff.url}/mlflow${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let reason: unknown;
    try {
      reason = (JSON.parse(text) as { reason?: unknown }).reason;
    } catch {
      reason = undefined;
    }
    return { status: res.status, reason, text };
  }

  beforeAll(async () => {
    sandbox = await startSandbox();
    mlflow = sandbox.servers.find((s) => s.name === 'mlflow')!.server as MlflowEmulator;
    bff = await startTestBff({ ...MLFLOW_ENV, LOG_LEVEL: 'silent' }, { sandbox });
    const as = (username: string) =>
      sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` } });
    const owner = await as('row-owner');
    ids.experiment = (
      JSON.parse((await call('POST', api('2.0/mlflow/experiments/create'), owner, { name: ids.name })).text) as { experiment_id: string }
    ).experiment_id;
    ids.run = (
      JSON.parse((await call('POST', api('2.0/mlflow/runs/create'), owner, { experiment_id: ids.experiment })).text) as { run: { info: { run_id: string } } }
    ).run.info.run_id;
    await call('POST', api('2.0/mlflow/runs/log-metric'), owner, { run_id: ids.run, key: 'loss', value: 0.5, timestamp: 1, step: 1 });
    for (const [level, token] of await usersAtEachLevel(bff.url, owner, ids.experiment, 'row', as)) tokens.set(level, token);
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  it('has a case for every row and method of the table (here, or against the real MLflow for the rows the sandbox does not serve)', () => {
    const table = Object.entries(REST_ENDPOINTS).flatMap(([row, e]) => e.methods.map((m) => `${m} ${row}`));
    const cases = [...ROW_CASES, ...REAL_ROW_CASES].map((c) => `${c.method} ${c.row}`);
    expect([...new Set(cases)].sort()).toEqual([...new Set(table)].sort());
    expect(cases.length).toBe(new Set(cases).size);
  });

  it('refuses the level just below a row’s (403 insufficient_role, MLflow never asked) and allows exactly its level', async () => {
    const below: Record<string, Level> = { READ: 'NO_PERMISSIONS', EDIT: 'READ', MANAGE: 'EDIT' };
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const c of ROW_CASES) {
      const { path, body } = c.request(ids);
      const name = `${c.method} ${c.row}`;
      if (c.need === 'ANY') {
        const r = await call(c.method, path, tokens.get('NO_PERMISSIONS')!, body);
        outcomes.push(`${name}: no permission → ${r.status}`);
        expected.push(`${name}: no permission → 200`);
        continue;
      }
      if (c.need === 'FILTER') {
        const hidden = await call(c.method, path, tokens.get('NO_PERMISSIONS')!, body);
        const shown = await call(c.method, path, tokens.get('READ')!, body);
        const has = (text: string) => (c.method === 'HEAD' ? 'head' : text.includes(c.row.includes('runs/') ? ids.run : `"${ids.name}"`) ? 'listed' : 'left out');
        outcomes.push(`${name}: below READ → ${hidden.status} ${has(hidden.text)}, READ → ${shown.status} ${has(shown.text)}`);
        const listed = c.method === 'HEAD' ? 'head' : 'listed';
        const left = c.method === 'HEAD' ? 'head' : 'left out';
        expected.push(`${name}: below READ → 200 ${left}, READ → 200 ${listed}`);
        continue;
      }
      const seen = mlflow.requests.length;
      const refused = await call(c.method, path, tokens.get(below[c.need])!, body);
      const reachedWhenRefused = mlflow.requests.length > seen;
      const allowed = await call(c.method, path, tokens.get(c.need)!, body);
      const reachedWhenAllowed = mlflow.requests.length > seen;
      const reason = c.method === 'HEAD' ? '' : ` ${String(refused.reason)}`;
      outcomes.push(
        `${name}: ${below[c.need]} → ${refused.status}${reason}${reachedWhenRefused ? ' (reached MLflow)' : ''}, ${c.need} → ${allowed.status}${reachedWhenAllowed ? '' : ' (not forwarded)'}`,
      );
      const asked = c.decidedOnAnswer ? ' (reached MLflow)' : '';
      expected.push(`${name}: ${below[c.need]} → 403${c.method === 'HEAD' ? '' : ' insufficient_role'}${asked}, ${c.need} → 200`);
    }
    expect(outcomes).toEqual(expected);
  });
});
