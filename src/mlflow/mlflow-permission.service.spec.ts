import { principalFromClaims } from '../auth/principal';
import { ReadinessRegistry } from '../common/readiness.registry';
import { loadConfig } from '../config/load-config';
import { StateStore } from '../state/state-store';
import { ValkeyClient } from '../state/valkey-client';
import { MlflowPermissionService } from './mlflow-permission.service';
import type { MlflowClient } from './mlflow.client';

const BASE_ENV = { NODE_ENV: 'test', KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's' };
const config = loadConfig({ ...BASE_ENV, MLFLOW_GROUP_PERMISSIONS: '{"ADMIN":"MANAGE"}' });
const user = (username: string) => principalFromClaims({ sub: username, preferred_username: username, iss: 'i', exp: 9e9 }, 'platform-bff');

/** What MLflow answers for runs, logged models and traces, and how often it was asked. */
function mlflowKnowing(experiments: Record<string, string>) {
  const asked: string[] = [];
  const answer = (kind: string) => async (id: string) => {
    asked.push(`${kind} ${id}`);
    return experiments[id];
  };
  const client = { experimentOfRun: answer('run'), experimentOfModel: answer('model'), experimentOfTrace: answer('trace') } as unknown as MlflowClient;
  return { client, asked };
}

function setUp(experiments: Record<string, string> = {}) {
  const store = new StateStore(config, new ValkeyClient(config, new ReadinessRegistry()));
  const mlflow = mlflowKnowing(experiments);
  return { store, asked: mlflow.asked, permissions: new MlflowPermissionService(config, store, mlflow.client) };
}

const grantOf = (username: string, permission: string) => ({ username, permission, grantedBy: 'owner', grantedAt: '2026-01-01T00:00:00.000Z' });

describe('MlflowPermissionService: grants as stored', () => {
  it('reads the grants an earlier BFF stored (the key layout is a contract: an upgrade keeps every grant in force)', async () => {
    const { store, permissions } = setUp();
    await store.setJson('mlflow:grant:7:alice', grantOf('alice', 'EDIT'));
    await store.sAdd('mlflow:grantees:7', 'alice');
    await store.setJson('mlflow:registered-model-grant:fraud%20model%3Fv2:bob', grantOf('bob', 'READ'));
    await store.sAdd('mlflow:registered-model-grantees:fraud%20model%3Fv2', 'bob');
    await store.setJson('mlflow:scorer-grant:7%2Frelevance:carol', grantOf('carol', 'MANAGE'));
    await store.sAdd('mlflow:scorer-grantees:7%2Frelevance', 'carol');

    expect(await permissions.can(user('alice'), '7', 'EDIT')).toBe(true);
    expect(await permissions.can(user('bob'), 'fraud model?v2', 'READ', 'registered-model')).toBe(true);
    expect((await permissions.effective(user('carol'), '7/relevance', 'scorer')).permission).toBe('MANAGE');
    expect((await permissions.grants('fraud model?v2', 'registered-model')).map((g) => g.username)).toEqual(['bob']);
    expect((await permissions.grants('7/relevance', 'scorer')).map((g) => g.username)).toEqual(['carol']);
  });

  it('stores new grants under that same layout', async () => {
    const { store, permissions } = setUp();
    await permissions.setGrant('7', 'alice', 'READ', 'owner');
    await permissions.setGrant('fraud model?v2', 'bob', 'EDIT', 'owner', 'registered-model');
    await permissions.setGrant('7/relevance', 'carol', 'MANAGE', 'carol', 'scorer');
    expect(await store.getJson('mlflow:grant:7:alice')).toMatchObject({ username: 'alice', permission: 'READ' });
    expect(await store.sMembers('mlflow:grantees:7')).toEqual(['alice']);
    expect(await store.getJson('mlflow:registered-model-grant:fraud%20model%3Fv2:bob')).toMatchObject({ permission: 'EDIT' });
    expect(await store.sMembers('mlflow:registered-model-grantees:fraud%20model%3Fv2')).toEqual(['bob']);
    expect(await store.getJson('mlflow:scorer-grant:7%2Frelevance:carol')).toMatchObject({ permission: 'MANAGE' });
    expect(await store.sMembers('mlflow:scorer-grantees:7%2Frelevance')).toEqual(['carol']);
  });

  it('lists grants by username, and leaves out a grantee whose grant is gone (a removal cut short)', async () => {
    const { store, permissions } = setUp();
    for (const name of ['dave', 'alice', 'carol']) await permissions.setGrant('3', name, 'READ', 'owner');
    // removeGrant deletes the grant before the grantee: a replica stopped between the two leaves this.
    await store.del('mlflow:grant:3:carol');
    expect(await permissions.grants('3')).toEqual([expect.objectContaining({ username: 'alice' }), expect.objectContaining({ username: 'dave' })]);
  });

  it('keeps a registered model’s grants when it is “renamed” to its own name', async () => {
    const { permissions } = setUp();
    await permissions.registeredModelCreated('churn', 'bob');
    await permissions.setGrant('churn', 'carol', 'READ', 'bob', 'registered-model');
    await permissions.registeredModelRenamed('churn', 'churn');
    expect((await permissions.grants('churn', 'registered-model')).map((g) => [g.username, g.permission])).toEqual([
      ['bob', 'MANAGE'],
      ['carol', 'READ'],
    ]);
  });
});

describe('MlflowPermissionService: what experiment a run, logged model or trace is in', () => {
  it('asks MLflow once per logged model and per trace, and never mixes two of them up', async () => {
    const { permissions, asked } = setUp({ 'm-1': '1', 'm-2': '2', 'tr-1': '1', 'tr-2': '2' });
    expect(await permissions.experimentOfModel('m-1')).toBe('1');
    expect(await permissions.experimentOfModel('m-2')).toBe('2');
    expect(await permissions.experimentOfModel('m-1')).toBe('1');
    expect(await permissions.experimentOfTrace('tr-1')).toBe('1');
    expect(await permissions.experimentOfTrace('tr-2')).toBe('2');
    expect(await permissions.experimentOfTrace('tr-2')).toBe('2');
    expect(asked).toEqual(['model m-1', 'model m-2', 'trace tr-1', 'trace tr-2']);
  });

  it('does not remember that MLflow did not know one: nothing is written, and asked again the answer is MLflow’s new one', async () => {
    const experiments: Record<string, string> = {};
    const { permissions, asked, store } = setUp(experiments);
    const writes = jest.spyOn(store, 'setJson');
    expect(await permissions.experimentOfRun('run-late')).toBeUndefined();
    expect(await permissions.experimentOfModel('m-late')).toBeUndefined();
    expect(await permissions.experimentOfTrace('tr-late')).toBeUndefined();
    // An unknown id is not a value to store (Valkey refuses an undefined SET argument: an error, not a cache entry).
    expect(writes).not.toHaveBeenCalled();
    experiments['m-late'] = '4';
    experiments['tr-late'] = '4';
    expect(await permissions.experimentOfModel('m-late')).toBe('4');
    expect(await permissions.experimentOfTrace('tr-late')).toBe('4');
    expect(asked).toEqual(['run run-late', 'model m-late', 'trace tr-late', 'model m-late', 'trace tr-late']);
  });

  it('answers from what the BFF saw created, without asking MLflow', async () => {
    const { permissions, asked } = setUp({ 'run-9': '9', 'm-9': '9' });
    await permissions.rememberRun('run-new', '5');
    await permissions.rememberModel('m-new', '5');
    expect(await permissions.experimentOfRun('run-new')).toBe('5');
    expect(await permissions.experimentOfModel('m-new')).toBe('5');
    expect(asked).toEqual([]);
  });
});
