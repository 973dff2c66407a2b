import { protoFieldName, startMlflow, type MlflowEmulator } from '../../sandbox/mlflow';

/** The emulator reads requests as MLflow does, so that tests through the BFF see what MLflow would do. */
describe('sandbox MLflow: request messages read as MLflow reads them', () => {
  let mlflow: MlflowEmulator;
  const api = (path: string) => `${mlflow.url}/api/2.0/mlflow/${path}`;
  async function post(path: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(api(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(path.startsWith('http') ? path : api(path));
    const text = await res.text();
    return { status: res.status, body: res.headers.get('content-type') === 'application/json' ? (JSON.parse(text) as Record<string, unknown>) : { text } };
  }
  const experimentName = (id: string) => mlflow.experiment(id)!.name;
  let first: string;
  let second: string;
  let runId: string;

  beforeAll(async () => {
    mlflow = await startMlflow();
    first = (await post('experiments/create', '{"name":"first"}')).body.experiment_id as string;
    second = (await post('experiments/create', '{"name":"second"}')).body.experiment_id as string;
    runId = ((await post('runs/create', JSON.stringify({ experiment_id: first }))).body.run as { info: { run_id: string } }).info.run_id;
  });
  afterAll(async () => {
    await mlflow?.close();
  });

  it('maps a lowerCamelCase key to its proto field name, and nothing else', () => {
    expect(['experimentId', 'runUuid', 'newName', 'experiment_id', 'key', 'experimentID', 'experiment_Id'].map(protoFieldName)).toEqual([
      'experiment_id',
      'run_uuid',
      'new_name',
      'experiment_id',
      'key',
      'experiment_i_d',
      'experiment_Id',
    ]);
  });

  it('JSON bodies: both spellings set the field and the later key wins; camelCase alone is the field', async () => {
    expect(await post('experiments/update', JSON.stringify({ experiment_id: first, experimentId: second, new_name: 'later-camel' }))).toEqual({
      status: 200,
      body: {},
    });
    expect([experimentName(first), experimentName(second)]).toEqual(['first', 'later-camel']);
    expect(await post('experiments/update', `{"experimentId":"${second}","experiment_id":"${first}","newName":"later-snake"}`)).toEqual({ status: 200, body: {} });
    expect([experimentName(first), experimentName(second)]).toEqual(['later-snake', 'later-camel']);
    // JSON.parse keeps the last of two identical keys, as MLflow's JSON reader does.
    expect((await post('experiments/update', `{"experiment_id":"${first}","experiment_id":"${second}","new_name":"duplicate"}`)).status).toBe(200);
    expect(experimentName(second)).toBe('duplicate');
    const created = await post('runs/create', `{"experiment_id":"${first}","experimentId":"${second}","runName":"camel-run"}`);
    expect((created.body.run as { info: { experiment_id: string; run_name: string } }).info).toMatchObject({ experiment_id: second, run_name: 'camel-run' });
    expect((await post('runs/set-tag', JSON.stringify({ runId, key: 'k', value: 'v' }))).status).toBe(200);
    expect(mlflow.run(runId)!.data.tags).toEqual(expect.arrayContaining([{ key: 'k', value: 'v' }]));
  });

  it('GET parameters: both spellings name the field, the later wins; repeated ones fill repeated fields', async () => {
    expect(((await get(`experiments/get?experiment_id=${first}&experimentId=${second}`)).body.experiment as { experiment_id: string }).experiment_id).toBe(second);
    expect(((await get(`experiments/get?experimentId=${second}&experiment_id=${first}`)).body.experiment as { experiment_id: string }).experiment_id).toBe(first);
    expect(((await get(`experiments/get?experiment_id=${second}&experiment_id=${first}`)).body.experiment as { experiment_id: string }).experiment_id).toBe(first);
    expect(((await get(`runs/get?runId=${runId}`)).body.run as { info: { run_id: string } }).info.run_id).toBe(runId);
    const names = await get('experiments/search?order_by=name&orderBy=creation_time&maxResults=1');
    expect((names.body.experiments as unknown[]).length).toBe(1);
  });

  it('Flask handlers reading request.args take names as spelled and the first value', async () => {
    await post('runs/log-metric', JSON.stringify({ run_id: runId, key: 'loss', value: 0.5, timestamp: 1, step: 1 }));
    const bulk = await get(`metrics/get-history-bulk?run_id=${runId}&run_id=${runId}&metric_key=loss`);
    expect(bulk).toEqual({ status: 200, body: { metrics: [expect.objectContaining({ key: 'loss', run_id: runId }), expect.objectContaining({ run_id: runId })] } });
    expect((await get(`metrics/get-history-bulk?runId=${runId}&metric_key=loss`)).status).toBe(400);
    await fetch(`${mlflow.url}/api/2.0/mlflow-artifacts/artifacts/${first}/${runId}/artifacts/a.txt`, { method: 'PUT', body: 'A' });
    await fetch(`${mlflow.url}/api/2.0/mlflow-artifacts/artifacts/${first}/${runId}/artifacts/b.txt`, { method: 'PUT', body: 'B' });
    expect(await get(`${mlflow.url}/get-artifact?path=a.txt&path=b.txt&run_uuid=${runId}`)).toEqual({ status: 200, body: { text: 'A' } });
  });

  it('serves the endpoints the BFF lets through that the tests exercise', async () => {
    await post('experiments/set-experiment-tag', JSON.stringify({ experiment_id: first, key: 't', value: '1' }));
    expect(await post('experiments/delete-experiment-tag', JSON.stringify({ experiment_id: first, key: 't' }))).toEqual({ status: 200, body: {} });
    expect((await post('experiments/delete-experiment-tag', JSON.stringify({ experiment_id: first, key: 't' }))).status).toBe(404);
    expect(await post('runs/log-model', JSON.stringify({ run_id: runId, model_json: '{"flavors":{}}' }))).toEqual({ status: 200, body: {} });
    expect(await post('runs/log-inputs', JSON.stringify({ run_id: runId, datasets: [] }))).toEqual({ status: 200, body: {} });
    const interval = await get(`metrics/get-history-bulk-interval?run_ids=${runId}&metric_key=loss&start_step=0&end_step=5`);
    expect(interval.body.metrics).toEqual([expect.objectContaining({ key: 'loss', step: 1, run_id: runId })]);
    expect((await get(`artifacts/list?run_id=${runId}`)).body.files).toEqual([
      { path: 'a.txt', is_dir: false, file_size: 1 },
      { path: 'b.txt', is_dir: false, file_size: 1 },
    ]);
  });
});
