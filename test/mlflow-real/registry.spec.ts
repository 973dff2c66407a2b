import { startTestBff, type TestBff } from '../support/app';
import { runPython } from '../support/mlflow-python';
import { startRealMlflow, type RealMlflow } from '../support/mlflow-server';

// A real MLflow and the Python client start slowly on a loaded machine.
jest.setTimeout(900_000);

/**
 * The model registry through the BFF with the real Python client, against the real MLflow:
 * registered-model permissions READ / EDIT / MANAGE with the grant API of experiments
 * (/mlflow-permissions/registered-models/{name}/users/{username}), fail closed for everyone else.
 */
describe('the model registry through the BFF, against the real MLflow', () => {
  let mlflow: RealMlflow;
  let bff: TestBff;

  /** A fresh token for each call: on a loaded machine, the scenarios outlast a token's life. */
  const tokenOf = (username: string) =>
    bff.sandbox.issuer.issueToken({ user: 'viewer', claims: { preferred_username: username, sub: `sub-${username}`, email: `${username}@example.com` } });
  const python = async (user: string, scenario: string, args: Record<string, unknown> = {}) =>
    runPython(mlflow.python, bff.url, await tokenOf(user), scenario, args);

  async function grant(resource: string, username: string, permission: string, by = 'rm-owner'): Promise<number> {
    const r = await fetch(`${bff.url}/mlflow-permissions/${resource}/users/${username}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await tokenOf(by)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ permission }),
    });
    return r.status;
  }

  async function createRegistered(name: string): Promise<number> {
    const r = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/registered-models/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenOf('rm-owner')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    return r.status;
  }

  let experimentId = '';

  beforeAll(async () => {
    mlflow = await startRealMlflow();
    bff = await startTestBff({ MLFLOW_URL: mlflow.url, MLFLOW_GROUP_PERMISSIONS: JSON.stringify({ ADMIN: 'MANAGE' }), LOG_LEVEL: 'silent' });
    // The owner logs a model into a new registered model: version 1, and MANAGE on `churn` as its creator.
    const first = await python('rm-owner', 'log_registered', { experiment: 'py-registry', model: 'churn' });
    expect(first).toMatchObject({ version: '1', model_id: expect.stringMatching(/^m-/) });
    const exp = await fetch(`${bff.url}/mlflow/api/2.0/mlflow/experiments/get-by-name?experiment_name=py-registry`, {
      headers: { authorization: `Bearer ${await tokenOf('rm-owner')}` },
    });
    experimentId = ((await exp.json()) as { experiment: { experiment_id: string } }).experiment.experiment_id;
    const statuses = [
      await grant(`experiments/${experimentId}`, 'rm-editor', 'EDIT'),
      await grant('registered-models/churn', 'rm-editor', 'EDIT'),
      await grant(`experiments/${experimentId}`, 'rm-reader', 'READ'),
      await grant('registered-models/churn', 'rm-reader', 'READ'),
    ];
    expect(statuses).toEqual([200, 200, 200, 200]);
  });
  afterAll(async () => {
    await bff?.close();
    await mlflow?.stop();
  });

  it('log_model with registered_model_name adds a version for a user with EDIT on the registered model; READ is refused', async () => {
    expect(await python('rm-editor', 'log_registered', { experiment: 'py-registry', model: 'churn' })).toMatchObject({ version: '2' });
    const refused = await python('rm-reader', 'log_registered', { experiment: 'py-registry', model: 'churn' });
    expect(refused.error).toMatchObject({ error_code: 'PERMISSION_DENIED' });
  });

  it('EDIT sets tags and aliases; READ gets, loads by version and finds only what it may read; no grant is refused', async () => {
    expect(await python('rm-reader', 'registry_edit', { model: 'churn', alias: 'champion', version: '1' })).toMatchObject({
      error: { error_code: 'PERMISSION_DENIED' },
    });
    expect(await python('rm-editor', 'registry_edit', { model: 'churn', alias: 'champion', version: '1' })).toMatchObject({
      tags: { team: 'ml' },
      aliases: { champion: '1' },
    });
    expect(await createRegistered('private-model')).toBe(200);
    const read = await python('rm-reader', 'registry_read', { model: 'churn', version: '1', alias: 'champion' });
    expect(read.error).toBeUndefined();
    expect(read).toMatchObject({ name: 'churn', status: 'READY', alias_version: '1', searched: ['churn'] });
    expect(read.prediction).toBeCloseTo(10);
    expect([...(read.versions as string[][])].sort()).toEqual([
      ['churn', '1'],
      ['churn', '2'],
    ]);
    expect(await python('rm-stranger', 'get_registered', { model: 'churn' })).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
    expect(await python('rm-stranger', 'search_registered', { page_size: 10 })).toMatchObject({ names: [] });
  });

  it('MANAGE deletes aliases and versions and renames; the grants follow the new name', async () => {
    expect(await python('rm-editor', 'registry_manage', { model: 'churn', alias: 'champion', delete_version: '2', new_name: 'churn-v2' })).toMatchObject({
      error: { error_code: 'PERMISSION_DENIED' },
    });
    expect(await python('rm-owner', 'registry_manage', { model: 'churn', alias: 'champion', delete_version: '2', new_name: 'churn-v2' })).toEqual({
      versions: ['1'],
    });
    expect(await python('rm-reader', 'get_registered', { model: 'churn-v2' })).toEqual({ name: 'churn-v2' });
    // Nothing is left on the old name: a new model called `churn` starts with its creator's grant alone.
    expect(await createRegistered('churn')).toBe(200);
    expect(await python('rm-reader', 'get_registered', { model: 'churn' })).toMatchObject({ error: { error_code: 'PERMISSION_DENIED' } });
  });

  it('search pages are filtered and refilled: full pages of what the caller may read, each once', async () => {
    const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e', 'page-f', 'page-g'];
    for (const name of names) expect(await createRegistered(name)).toBe(200);
    for (const name of ['page-b', 'page-e', 'page-f', 'page-g']) expect(await grant(`registered-models/${name}`, 'rm-stranger', 'READ')).toBe(200);
    const r = await python('rm-stranger', 'search_registered', { page_size: 2 });
    // Full pages until the last; MLflow had more models after page-g (none readable), so the cursor went on
    // and the last page is empty, with no token: nothing more exists.
    expect(r).toEqual({ names: ['page-b', 'page-e', 'page-f', 'page-g'], pages: [2, 2, 0] });
  });

  it('prompts: register_prompt makes a prompt and adds versions (source: MLflow’s placeholder); a stranger adds none', async () => {
    // Before: every prompt version was refused 400, its source 'dummy-source' not being models:/, runs:/ or mlflow-artifacts:/.
    const made = await python('pr-owner', 'register_prompt', { name: 'greeting', templates: ['Hello {{name}}', 'Hi {{name}}!'] });
    expect(made).toEqual({ versions: [1, 2], template: 'Hi {{name}}!' });
    // The client reads the prompt first; refused that (PERMISSION_DENIED), it tries to create it, which exists: no version is added.
    const stranger = await python('pr-stranger', 'register_prompt', { name: 'greeting', templates: ['Bye {{name}}'] });
    expect(stranger).toMatchObject({ error: { error_code: 'RESOURCE_ALREADY_EXISTS' } });
  });
});
