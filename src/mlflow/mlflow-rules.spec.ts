import { principalFromClaims } from '../auth/principal';
import { ConfigError, loadConfig } from '../config/load-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { StateStore } from '../state/state-store';
import { matchRestEndpoint, paramsInQuery } from './mlflow-endpoints';
import { mlflowPathClass } from '../config/mlflow-paths';
import { MlflowPermissionService } from './mlflow-permission.service';
import type { MlflowClient } from './mlflow.client';

const BASE_ENV = { NODE_ENV: 'test', KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'platform-bff', BFF_CLIENT_SECRET: 's' };

describe('MLflow path classes (exact, normalised paths)', () => {
  it.each([
    ['/v1/traces', 'traces'],
    ['/v1/traces/x', 'unknown'],
    ['/api/2.0/mlflow/runs/get', 'rest'],
    ['/ajax-api/2.0/mlflow/experiments/search', 'rest'],
    ['/api/2.0/mlflow-artifacts/artifacts/1/x', 'rest'],
    ['/graphql', 'rest'],
    ['/get-artifact', 'rest'],
    ['/model-versions/get-artifact', 'rest'],
    ['/', 'ui'],
    ['/static-files/static/js/main.js', 'ui'],
    ['/health', 'ui'],
    ['/version', 'ui'],
    ['/healthz', 'unknown'],
    ['/admin', 'unknown'],
  ])('%s is %s', (path, kind) => expect(mlflowPathClass(path)).toBe(kind));
});

describe('the REST endpoint table', () => {
  it('knows the endpoints it lets through, with their permission, and nothing else', () => {
    expect(matchRestEndpoint('/api/2.0/mlflow/runs/log-batch')?.rule).toEqual({ op: 'run', need: 'EDIT', identity: 'log-batch' });
    expect(matchRestEndpoint('/ajax-api/2.0/mlflow/experiments/delete')?.rule).toEqual({ op: 'experiment', need: 'MANAGE' });
    expect(matchRestEndpoint('/api/2.0/mlflow/experiments/get')?.methods).toEqual(['GET', 'HEAD']);
    expect(matchRestEndpoint('/api/2.0/mlflow-artifacts/artifacts/3/run/artifacts/m.pkl')).toMatchObject({
      name: '2.0/mlflow-artifacts/artifacts/*',
      rule: { op: 'artifact', need: { GET: 'READ', HEAD: 'READ', PUT: 'EDIT', DELETE: 'MANAGE' } },
      rest: '3/run/artifacts/m.pkl',
    });
    expect(matchRestEndpoint('/api/2.0/mlflow-artifacts/artifacts')?.rule).toEqual({ op: 'artifact-list' });
    expect(matchRestEndpoint('/get-artifact')).toMatchObject({ name: '/get-artifact', rule: { op: 'run', need: 'READ' }, spelling: 'args' });
    for (const path of [
      '/api/2.0/mlflow/registered-models/search',
      '/api/2.0/mlflow/users/create',
      '/api/2.0/preview/mlflow/runs/get',
      '/api/3.0/mlflow/traces',
      '/graphql',
      '/api/get-artifact',
      '/2.0/mlflow/runs/get',
      '/api/2.0/mlflow-artifacts/artifacts/',
      '/api/2.0/mlflow/__proto__',
    ]) {
      expect([path, matchRestEndpoint(path)]).toEqual([path, undefined]);
    }
    expect([paramsInQuery('GET'), paramsInQuery('DELETE'), paramsInQuery('POST'), paramsInQuery('PUT', { op: 'artifact', need: {} })]).toEqual([
      true,
      true,
      false,
      true,
    ]);
  });
});

describe('MLflow configuration', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...BASE_ENV, ...env });
      return [];
    } catch (err) {
      return (err as ConfigError).problems.map((p) => p.key);
    }
  };

  it('accepts UI paths as public, parses the group permissions and trace clients', () => {
    const c = loadConfig({
      ...BASE_ENV,
      MLFLOW_PUBLIC_PATHS: 'GET /health, GET /version',
      MLFLOW_TRACE_CLIENTS: 'otel-collector,otel-b',
      MLFLOW_GROUP_PERMISSIONS: '{"/data-team":"EDIT","ADMIN":"MANAGE"}',
    });
    expect(c.mlflow.publicPaths).toEqual(['GET /health', 'GET /version']);
    expect(c.mlflow.traceClients).toEqual(['otel-collector', 'otel-b']);
    expect([...c.mlflow.groupPermissions]).toEqual([
      ['/data-team', 'EDIT'],
      ['ADMIN', 'MANAGE'],
    ]);
    expect(c.session).toMatchObject({ cookieName: 'bff_session', secure: false, loginClientId: 'platform-bff', loginClientSecret: 's' });
    expect(loadConfig({ ...BASE_ENV, PUBLIC_URL: 'https://bff.example.com' }).session).toMatchObject({ cookieName: '__Host-bff_session', secure: true });
  });

  it('refuses public REST, trace or unnormalised paths, bad permissions, and insecure __Host- cookies — naming only the key', () => {
    expect(problems({ MLFLOW_PUBLIC_PATHS: 'GET /api/2.0/mlflow/experiments/search,POST /v1/traces,GET /health/,FETCH /health,GET /a/../health' })).toEqual([
      'MLFLOW_PUBLIC_PATHS[0]',
      'MLFLOW_PUBLIC_PATHS[1]',
      'MLFLOW_PUBLIC_PATHS[2]',
      'MLFLOW_PUBLIC_PATHS[3]',
      'MLFLOW_PUBLIC_PATHS[4]',
    ]);
    expect(problems({ MLFLOW_GROUP_PERMISSIONS: '{"/data-team":"OWNER"}' })).toEqual(['MLFLOW_GROUP_PERMISSIONS entry 1']);
    expect(problems({ MLFLOW_GROUP_PERMISSIONS: '["EDIT"]' })).toEqual(['MLFLOW_GROUP_PERMISSIONS']);
    expect(problems({ MLFLOW_TRACE_CLIENTS: 'a b' })).toEqual(['MLFLOW_TRACE_CLIENTS']);
    expect(problems({ BFF_SESSION_COOKIE: '__Host-s' })).toEqual(['BFF_SESSION_COOKIE']);
    expect(problems({ BFF_SESSION_SECRET: 'short' })).toEqual(['BFF_SESSION_SECRET']);
    expect(problems({ NODE_ENV: 'production', VALKEY_URL: 'redis://valkey:6379' })).toEqual(['BFF_SESSION_SECRET']);
    expect(problems({ BFF_LOGIN_CLIENT_ID: 'web' })).toEqual(['BFF_LOGIN_CLIENT_SECRET']);
  });
});

describe('experiment permissions', () => {
  const config = loadConfig({ ...BASE_ENV, MLFLOW_GROUP_PERMISSIONS: '{"/data-team":"EDIT","ADMIN":"MANAGE","READERS":"READ"}' });
  const store = new StateStore(config, new ReadinessRegistry());
  const client = { experimentOfRun: jest.fn(async (run: string) => (run === 'r1' ? '7' : undefined)) } as unknown as MlflowClient;
  const permissions = new MlflowPermissionService(config, store, client);
  const user = (username: string, groups: string[] = [], roles: string[] = []) =>
    principalFromClaims({ sub: username, preferred_username: username, groups, realm_access: { roles }, iss: 'i', exp: 9e9 }, 'platform-bff');

  it('takes the highest group or role default, adds grants on top, and fails closed without either', async () => {
    expect(permissions.groupDefault(user('a', ['/data-team'], ['READERS']))).toBe('EDIT');
    expect(permissions.groupDefault(user('b', [], ['ADMIN']))).toBe('MANAGE');
    expect(await permissions.effective(user('nobody'), '1')).toEqual({ permission: 'NO_PERMISSIONS', groupDefault: 'NO_PERMISSIONS', grant: undefined });
    await permissions.setGrant('1', 'reader', 'READ', 'owner');
    expect(await permissions.can(user('reader'), '1', 'READ')).toBe(true);
    expect(await permissions.can(user('reader'), '1', 'EDIT')).toBe(false);
    expect(await permissions.can(user('reader'), '2', 'READ')).toBe(false);
    // A READ grant never lowers what a group gives.
    await permissions.setGrant('1', 'teammate', 'READ', 'owner');
    expect((await permissions.effective(user('teammate', ['/data-team']), '1')).permission).toBe('EDIT');
    expect([...(await permissions.readable(user('reader'), ['1', '2', '1']))]).toEqual(['1']);
    expect((await permissions.grants('1')).map((g) => [g.username, g.permission])).toEqual([
      ['reader', 'READ'],
      ['teammate', 'READ'],
    ]);
    expect(await permissions.removeGrant('1', 'reader')).toBe(true);
    expect(await permissions.removeGrant('1', 'reader')).toBe(false);
    expect(await permissions.can(user('reader'), '1', 'READ')).toBe(false);
  });

  it('resolves a run to its experiment once, then from the cache', async () => {
    expect(await permissions.experimentOfRun('r1')).toBe('7');
    expect(await permissions.experimentOfRun('r1')).toBe('7');
    expect(await permissions.experimentOfRun('r2')).toBeUndefined();
    expect((client.experimentOfRun as jest.Mock).mock.calls.map((c) => c[0])).toEqual(['r1', 'r2']);
  });
});
