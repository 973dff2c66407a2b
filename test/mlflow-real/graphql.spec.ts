import { mlflowUserToken } from '../support/mlflow-levels';
import { startTestBff, type TestBff } from '../support/app';
import { uiGraphql } from '../support/mlflow-graphql';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

jest.setTimeout(900_000);

/**
 * POST /graphql against the real MLflow (docker/mlflow/VERSION): the UI's own documents, sent as the
 * UI sends them, for a user who may read the experiment and one who may not; what MLflow gets is the
 * BFF's rebuilt document, so MLflow answering it is part of the check. The run was registered as a
 * version of a model the reader has no grant on: its model versions must not reach the reader.
 */
describe('real MLflow: GraphQL through the BFF, decided per field', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let owner: string;
  let reader: string;
  let stranger: string;
  const ids = { experiment: '', run: '', model: '', registered: `graphql-registered-${Date.now()}` };

  const tokenOf = (username: string) => mlflowUserToken(bff.sandbox.issuer, username);

  async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
    const res = await fetch(`${bff.url}/mlflow${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: res.status, json, text };
  }

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, LOG_LEVEL: 'silent' });
    [owner, reader, stranger] = await Promise.all(['gql-owner', 'gql-reader', 'gql-stranger'].map(tokenOf));
    ids.experiment = (await call('POST', '/api/2.0/mlflow/experiments/create', owner, { name: `graphql-${Date.now()}` })).json.experiment_id as string;
    ids.run = (
      (await call('POST', '/api/2.0/mlflow/runs/create', owner, { experiment_id: ids.experiment, run_name: 'gql-run' })).json.run as { info: { run_id: string } }
    ).info.run_id;
    const steps = [
      await call('POST', '/api/2.0/mlflow/runs/log-metric', owner, { run_id: ids.run, key: 'loss', value: 0.25, timestamp: 1700000000000, step: 3 }),
      await call('POST', '/api/2.0/mlflow/runs/log-parameter', owner, { run_id: ids.run, key: 'alpha', value: 'gql-param' }),
    ];
    ids.model = (
      (await call('POST', '/api/2.0/mlflow/logged-models', owner, { experiment_id: ids.experiment, name: 'm', source_run_id: ids.run })).json.model as {
        info: { model_id: string };
      }
    ).info.model_id;
    steps.push(await call('PUT', `/api/2.0/mlflow-artifacts/artifacts/${ids.experiment}/models/${ids.model}/artifacts/MLmodel`, owner, 'flavors: {}\n'));
    steps.push(await call('POST', '/api/2.0/mlflow/registered-models/create', owner, { name: ids.registered }));
    steps.push(
      await call('POST', '/api/2.0/mlflow/model-versions/create', owner, {
        name: ids.registered,
        source: `models:/${ids.model}`,
        model_id: ids.model,
        run_id: ids.run,
      }),
    );
    // The reader may read the experiment, not the registered model.
    const grant = await fetch(`${bff.url}/mlflow-permissions/experiments/${ids.experiment}/users/gql-reader`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permission: 'READ' }),
    });
    expect([...steps.map((s) => s.status), grant.status]).toEqual([200, 200, 200, 200, 200, 200]);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  it('the UI’s documents answer the reader with the experiment’s and the run’s data, without the version of a model the reader may not read', async () => {
    const experiment = await call('POST', '/graphql', reader, uiGraphql('MlflowGetExperimentQuery', { input: { experimentId: ids.experiment } }));
    const run = await call('POST', '/graphql', reader, uiGraphql('GetRun', { data: { runId: ids.run } }));
    const search = await call('POST', '/graphql', reader, uiGraphql('SearchRuns', { data: { experimentIds: [ids.experiment] } }));
    const metrics = await call(
      'POST',
      '/graphql',
      reader,
      uiGraphql('GetMetricHistoryBulkInterval', { data: { runIds: [ids.run], metricKey: 'loss', maxResults: 320 } }),
    );
    expect([experiment, run, search, metrics].map((r) => [r.status, r.json.errors ?? null])).toEqual([
      [200, null],
      [200, null],
      [200, null],
      [200, null],
    ]);
    expect(experiment.json).toMatchObject({
      data: { mlflowGetExperiment: { experiment: { experimentId: ids.experiment, name: expect.stringMatching(/^graphql-/) } } },
    });
    expect(run.json).toMatchObject({
      data: { mlflowGetRun: { run: { info: { runUuid: ids.run, runName: 'gql-run' }, data: { params: [{ key: 'alpha', value: 'gql-param' }] } } } },
    });
    expect(search.json).toMatchObject({ data: { mlflowSearchRuns: { runs: [{ info: { runUuid: ids.run } }] } } });
    expect(metrics.json).toMatchObject({ data: { mlflowGetMetricHistoryBulkInterval: { metrics: [{ key: 'loss', value: 0.25, step: '3', runId: ids.run }] } } });
    // MLflow links the version to the run (the owner sees it); the reader does not.
    const owners = await call('POST', '/graphql', owner, uiGraphql('GetRun', { data: { runId: ids.run } }));
    expect(owners.text).toContain(ids.registered);
    expect([run.text, search.text].filter((t) => t.includes(ids.registered))).toEqual([]);
  });

  it('refuses the documents to a user without a grant, and what the BFF does not expose to anyone', async () => {
    const bodies = [
      uiGraphql('MlflowGetExperimentQuery', { input: { experimentId: ids.experiment } }),
      uiGraphql('GetRun', { data: { runId: ids.run } }),
      uiGraphql('SearchRuns', { data: { experimentIds: [ids.experiment] } }),
      uiGraphql('GetMetricHistoryBulkInterval', { data: { runIds: [ids.run], metricKey: 'loss' } }),
    ];
    const refused = [];
    for (const body of bodies) {
      const r = await call('POST', '/graphql', stranger, body);
      refused.push([r.status, r.json.error_code, r.text.includes('gql-run') || r.text.includes('gql-param')]);
    }
    expect(refused).toEqual(bodies.map(() => [403, 'PERMISSION_DENIED', false]));
    const introspection = await call('POST', '/graphql', owner, { query: '{ __schema { queryType { name } } }' });
    const aliased = await call('POST', '/graphql', owner, {
      query: `{ a: mlflowGetExperiment(input: {experimentId: "${ids.experiment}"}) { experiment { name } } }`,
    });
    expect([introspection.status, introspection.json.error_code, aliased.status, aliased.json.error_code]).toEqual([
      403,
      'PERMISSION_DENIED',
      400,
      'INVALID_PARAMETER_VALUE',
    ]);
  });
});
