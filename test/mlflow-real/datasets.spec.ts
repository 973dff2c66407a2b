import { startTestBff, type TestBff } from '../support/app';
import { runPython } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * MLflow 3's evaluation datasets (`mlflow.genai.datasets`) through the BFF with the real Python client, against the
 * real MLflow: a dataset takes the level of the experiments it is linked to — READ reads it, EDIT creates it, merges
 * records and tags it, MANAGE deletes it — and a search lists only the datasets readable on all their experiments.
 */
describe('evaluation datasets through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;
  let shared = '';
  let secret = '';
  let datasetId = '';

  /** A fresh token for each call: on a loaded machine, the scenarios outlast a token's life. */
  const tokenOf = (username: string) =>
    bff.sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` } });
  const python = async (user: string, scenario: string, args: Record<string, unknown> = {}) =>
    runPython(mlflow.python, bff.url, await tokenOf(user), scenario, args);
  async function rest(user: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await fetch(`${bff.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await tokenOf(user)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, ...((await r.json()) as Record<string, unknown>) };
  }
  const experiment = async (name: string) => (await rest('ds-owner', 'POST', '/mlflow/api/2.0/mlflow/experiments/create', { name })).experiment_id as string;
  const dataset = async (name: string, experimentIds: string[]) =>
    ((await rest('ds-owner', 'POST', '/mlflow/api/3.0/mlflow/datasets/create', { name, experiment_ids: experimentIds })).dataset as { dataset_id: string })
      .dataset_id;

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    // ds-owner creates both experiments (MANAGE on each); the editor and the reader are granted the shared one only.
    shared = await experiment('ds-shared');
    secret = await experiment('ds-secret');
    const grants = [];
    for (const [username, permission] of [
      ['ds-editor', 'EDIT'],
      ['ds-reader', 'READ'],
    ]) {
      grants.push((await rest('ds-owner', 'PUT', `/mlflow-permissions/experiments/${shared}/users/${username}`, { permission })).status);
    }
    expect([shared, secret, ...grants]).toEqual([expect.any(String), expect.any(String), 200, 200]);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  it('EDIT creates a dataset and merges records, as its mlflow.user and its records’; READ may not create', async () => {
    const made = await python('ds-editor', 'dataset_create', {
      experiment_id: shared,
      name: 'qa',
      records: [
        ['what is 2+2?', '4'],
        ['capital of France?', 'Paris'],
      ],
    });
    // The client tags the dataset and each record with the OS user; MLflow gets the token's user instead.
    expect(made).toMatchObject({
      name: 'qa',
      created_by: 'ds-editor',
      tags: { team: 'ml', 'mlflow.user': 'ds-editor' },
      records: 2,
      record_users: ['ds-editor'],
    });
    datasetId = made.dataset_id as string;
    expect(await python('ds-reader', 'dataset_create', { experiment_id: shared, name: 'mine', records: [] })).toMatchObject({
      error: { error_code: 'PERMISSION_DENIED' },
    });
  });

  it('READ reads the dataset and its records but changes nothing; EDIT merges and tags; no grant reads nothing', async () => {
    expect(await python('ds-reader', 'dataset_read', { dataset_id: datasetId })).toMatchObject({ name: 'qa', records: 2 });
    const more = {
      dataset_id: datasetId,
      records: [
        ['what is 2+2?', 'four'],
        ['largest planet?', 'Jupiter'],
      ],
    };
    expect(await python('ds-reader', 'dataset_edit', more)).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
    expect(await python('ds-stranger', 'dataset_read', { dataset_id: datasetId })).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
    // One input is updated, one added.
    expect(await python('ds-editor', 'dataset_edit', more)).toMatchObject({ records: 3, last_updated_by: 'ds-editor', tags: { stage: 'reviewed' } });
  });

  it('searches list a dataset only when every experiment it is linked to is readable; pages are full until the last', async () => {
    const names = ['s-1', 's-2', 's-3', 's-4', 's-5'];
    for (const name of names) await dataset(name, [shared]);
    // s-2 and s-4 are linked to the secret experiment too: the reader may not get them, nor see them listed.
    for (const name of ['s-2', 's-4']) {
      const id = (await rest('ds-owner', 'POST', '/mlflow/api/3.0/mlflow/datasets/search', { experiment_ids: [shared], filter_string: `name = '${name}'` }))
        .datasets as Array<{ dataset_id: string }>;
      expect((await rest('ds-owner', 'POST', `/mlflow/api/3.0/mlflow/datasets/${id[0].dataset_id}/add-experiments`, { experiment_ids: [secret] })).status).toBe(200);
    }
    await dataset('secret-only', [secret]);
    const found = await python('ds-reader', 'dataset_search', { experiment_ids: [shared, secret] });
    expect(found).toEqual({ names: ['s-5', 's-3', 's-1', 'qa'] });
    expect(await python('ds-owner', 'dataset_search', { experiment_ids: [shared, secret] })).toEqual({
      names: ['secret-only', 's-5', 's-4', 's-3', 's-2', 's-1', 'qa'],
    });
    expect(await python('ds-stranger', 'dataset_search', { experiment_ids: [shared] })).toEqual({ names: [] });
    // Pages of two through REST: each full until the last, each dataset once.
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await rest('ds-reader', 'POST', '/mlflow/ajax-api/3.0/mlflow/datasets/search', { experiment_ids: [shared], max_results: 2, page_token: token });
      pages.push(((page.datasets ?? []) as Array<{ name: string }>).map((d) => d.name));
      token = page.next_page_token as string | undefined;
    } while (token);
    expect(pages).toEqual([
      ['s-5', 's-3'],
      ['s-1', 'qa'],
    ]);
  });

  it('MANAGE deletes a dataset, EDIT may not; a deleted dataset is nobody’s but the admins’', async () => {
    expect(await python('ds-editor', 'dataset_delete', { dataset_id: datasetId })).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
    expect(await python('ds-owner', 'dataset_delete', { dataset_id: datasetId })).toEqual({});
    expect(await python('ds-owner', 'dataset_read', { dataset_id: datasetId })).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
  });
});
