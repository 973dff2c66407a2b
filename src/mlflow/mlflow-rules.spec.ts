import { principalFromClaims } from '../auth/principal';
import type { ProblemException } from '../common/problem';
import { ConfigError, loadConfig } from '../config/load-config';
import { ReadinessRegistry } from '../common/readiness.registry';
import { ValkeyClient } from '../state/valkey-client';
import { StateStore } from '../state/state-store';
import { matchRestEndpoint, needOf, paramsInQuery } from './mlflow-endpoints';
import { mlflowPathClass } from '../config/mlflow-paths';
import { sourceOf, versionSources } from './mlflow-registry';
import { MAX_REFILL_PAGES, refill, startSearch } from './mlflow-search';
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
    expect(matchRestEndpoint('/graphql')).toMatchObject({ name: '/graphql', methods: ['POST'], rule: { op: 'graphql' } });
    expect(matchRestEndpoint('/get-artifact')).toMatchObject({ name: '/get-artifact', rule: { op: 'run', need: 'READ' }, spelling: 'args' });
    for (const path of [
      '/api/2.0/mlflow/registered-models/list',
      '/api/2.0/mlflow/users/create',
      '/api/2.0/preview/mlflow/runs/get',
      // MLflow 2's trace API (MLflow 3's clients use /api/3.0) stays refused.
      '/api/2.0/mlflow/traces',
      '/graphql/',
      '/api/2.0/graphql',
      '/api/get-artifact',
      '/2.0/mlflow/runs/get',
      '/api/2.0/mlflow-artifacts/artifacts/',
      '/api/2.0/mlflow/__proto__',
    ]) {
      expect([path, matchRestEndpoint(path)]).toEqual([path, undefined]);
    }
    // MLflow reads request.args on GET only: a DELETE's parameters are its JSON body, as for POST.
    expect([paramsInQuery('GET'), paramsInQuery('DELETE'), paramsInQuery('POST'), paramsInQuery('PUT', { op: 'artifact', need: {} })]).toEqual([
      true,
      false,
      false,
      true,
    ]);
  });

  it('a row’s level for a method: the one level of the row, or the method’s; MANAGE for a method the row does not name (fail closed)', () => {
    expect([needOf('EDIT', 'GET'), needOf({ GET: 'READ', POST: 'EDIT' }, 'POST'), needOf({ GET: 'READ' }, 'DELETE'), needOf({ GET: 'READ' }, 'HEAD')]).toEqual([
      'EDIT',
      'EDIT',
      'MANAGE',
      'MANAGE',
    ]);
  });

  it('decides the model registry on registered-model permissions, as MLflow’s auth app does', () => {
    expect(matchRestEndpoint('/ajax-api/2.0/mlflow/registered-models/search')?.rule).toEqual({ op: 'search-registered-models' });
    expect(matchRestEndpoint('/api/2.0/mlflow/registered-models/delete')?.rule).toEqual({ op: 'registered-model', need: 'MANAGE', after: 'delete' });
    expect(matchRestEndpoint('/api/2.0/mlflow/registered-models/rename')?.rule).toEqual({ op: 'registered-model', need: 'EDIT', after: 'rename' });
    expect(matchRestEndpoint('/api/2.0/mlflow/registered-models/alias')?.rule).toEqual({
      op: 'registered-model',
      need: { GET: 'READ', HEAD: 'READ', POST: 'EDIT', DELETE: 'MANAGE' },
    });
    expect(matchRestEndpoint('/model-versions/get-artifact')).toMatchObject({ rule: { op: 'registered-model', need: 'READ' }, spelling: 'args' });
    expect(matchRestEndpoint('/api/2.0/mlflow/model-versions/create')?.rule).toEqual({ op: 'create-model-version' });
  });
});

/** The detail of the problem a call throws. */
function detailOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as ProblemException).detail;
  }
  return undefined;
}

describe('a model version’s source', () => {
  it('names what the caller must be able to read', () => {
    expect(sourceOf('models:/m-0123456789abcdef')).toEqual({ loggedModel: 'm-0123456789abcdef' });
    expect(sourceOf('models:/churn/3')).toEqual({ registeredModel: 'churn' });
    expect(sourceOf('models:/churn@champion')).toEqual({ registeredModel: 'churn' });
    expect(sourceOf('runs:/abc123/model')).toEqual({ run: 'abc123' });
    expect(sourceOf('mlflow-artifacts:/7/models/m-1/artifacts')).toEqual({ experiment: '7' });
    expect(sourceOf('mlflow-artifacts:/7/../8/models')).toEqual({ experiment: '8' });
  });

  it('refuses anything MLflow would read from its own disk or another store', () => {
    for (const source of ['/etc', 'file:///etc/passwd', 's3://bucket/m', 'mlflow-artifacts:/../x', 'runs:/', 'models:/', 'http://x/y', 'mlflow-artifacts:/x/1']) {
      expect([source, detailOf(() => sourceOf(source))]).toEqual([source, expect.stringContaining('source must be')]);
    }
  });
});

describe('a prompt version’s source (MLflow keeps prompts as registered models)', () => {
  const PROMPT = [{ key: 'mlflow.prompt.is_prompt', value: 'true' }];

  it('is MLflow’s placeholder, which names nothing to read: the Python client’s register_prompt and the UI send dummy-source', () => {
    expect(versionSources('dummy-source', PROMPT)).toEqual([]);
    expect(versionSources('prompt-template', [{ key: 'mlflow.prompt.is_prompt', value: 'True' }])).toEqual([]);
  });

  it('is refused when it is anything else, and a placeholder is no source for a model version', () => {
    expect(detailOf(() => versionSources('/etc', PROMPT))).toContain('placeholder');
    expect(detailOf(() => versionSources('runs:/abc123/model', PROMPT))).toContain('placeholder');
    // As MLflow reads the tags: the last value of a key wins, and only "true" makes a prompt.
    const undone = [...PROMPT, { key: 'mlflow.prompt.is_prompt', value: 'false' }];
    expect(detailOf(() => versionSources('dummy-source', undone))).toContain('source must be');
    expect(detailOf(() => versionSources('dummy-source', undefined))).toContain('source must be');
    expect(versionSources('runs:/abc123/model', undone)).toEqual([{ run: 'abc123' }]);
  });
});

describe('filtered searches, refilled', () => {
  /** MLflow's pages over `items`, `size` at a time, its token the offset. */
  const upstream = (items: string[]) => (token: string | undefined, size: number) => {
    const from = token ? Number(token) : 0;
    const page = items.slice(from, from + size);
    return { items: page.map((name) => ({ name })), ...(from + size < items.length ? { next_page_token: String(from + size) } : {}) };
  };
  const readAll = async (items: string[], visible: Set<string>, size?: number) => {
    const mlflow = upstream(items);
    const pages: string[][] = [];
    let token: string | undefined;
    let fetches = 0;
    do {
      const p: Record<string, unknown> = { ...(size ? { max_results: size } : {}), ...(token ? { page_token: token } : {}) };
      const cursor = startSearch(p);
      const first = mlflow(p.page_token as string | undefined, (p.max_results as number | undefined) ?? 3);
      const page = await refill(
        first,
        cursor,
        'items',
        async (xs) => (xs as Array<{ name: string }>).map((x) => visible.has(x.name)),
        async (t, n) => {
          fetches++;
          return mlflow(t, n);
        },
      );
      pages.push(((page.items as Array<{ name: string }> | undefined) ?? []).map((x) => x.name));
      token = page.next_page_token as string | undefined;
    } while (token);
    return { pages, fetches };
  };

  it('pages are full until the last, every visible item once, in MLflow’s order', async () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    expect((await readAll(items, new Set(['b', 'c', 'f', 'g', 'j']), 2)).pages).toEqual([['b', 'c'], ['f', 'g'], ['j']]);
    expect((await readAll(items, new Set(['a', 'j']), 1)).pages).toEqual([['a'], ['j']]);
    expect((await readAll(items, new Set(items), 4)).pages).toEqual([
      ['a', 'b', 'c', 'd'],
      ['e', 'f', 'g', 'h'],
      ['i', 'j'],
    ]);
    expect((await readAll(items, new Set(), 3)).pages).toEqual([[]]);
  });

  it('without max_results, MLflow’s own page size is kept', async () => {
    expect((await readAll(['a', 'b', 'c', 'd', 'e', 'f', 'g'], new Set(['a', 'e', 'f', 'g']))).pages).toEqual([['a', 'e', 'f'], ['g']]);
  });

  it('reads at most MAX_REFILL_PAGES of MLflow’s pages for one answer, then goes on from the cursor', async () => {
    const items = Array.from({ length: 100 }, (_, i) => `x${String(i).padStart(3, '0')}`);
    const r = await readAll(items, new Set(['x099']), 1);
    expect(r.pages.flat()).toEqual(['x099']);
    // Each of MLflow's 100 pages read once: the first of each answer, then the refills.
    expect(r.pages.length).toBe(Math.ceil(100 / MAX_REFILL_PAGES));
    expect(r.fetches + r.pages.length).toBe(100);
  });

  it('refuses a forged cursor', () => {
    expect(detailOf(() => startSearch({ page_token: 'bff1.not-json' }))).toBe('page_token is malformed');
    expect(detailOf(() => startSearch({ page_token: `bff1.${Buffer.from(JSON.stringify({ s: -1 })).toString('base64url')}` }))).toBe('page_token is malformed');
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
  const store = new StateStore(config, new ValkeyClient(config, new ReadinessRegistry()));
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

  it('registered models: their own grants, by name; the creator’s MANAGE; grants follow a rename and go with a deletion', async () => {
    await permissions.setGrant('7', 'alice', 'MANAGE', 'owner');
    // An experiment grant gives nothing on a registered model of the same name, nor the reverse.
    expect(await permissions.can(user('alice'), '7', 'READ', 'registered-model')).toBe(false);
    await permissions.setGrant('stale', 'mallory', 'MANAGE', 'mallory', 'registered-model');
    await permissions.registeredModelCreated('stale', 'bob');
    expect((await permissions.grants('stale', 'registered-model')).map((g) => [g.username, g.permission])).toEqual([['bob', 'MANAGE']]);
    await permissions.setGrant('stale', 'carol', 'READ', 'bob', 'registered-model');
    await permissions.registeredModelRenamed('stale', 'fresh');
    expect(await permissions.grants('stale', 'registered-model')).toEqual([]);
    expect([
      await permissions.can(user('carol'), 'fresh', 'READ', 'registered-model'),
      await permissions.can(user('carol'), 'fresh', 'EDIT', 'registered-model'),
    ]).toEqual([true, false]);
    expect(await permissions.can(user('reader', [], ['READERS']), 'any-model', 'READ', 'registered-model')).toBe(true);
    await permissions.forgetRegisteredModel('fresh');
    expect(await permissions.can(user('bob'), 'fresh', 'READ', 'registered-model')).toBe(false);
  });

  it('resolves a run to its experiment once, then from the cache', async () => {
    expect(await permissions.experimentOfRun('r1')).toBe('7');
    expect(await permissions.experimentOfRun('r1')).toBe('7');
    expect(await permissions.experimentOfRun('r2')).toBeUndefined();
    expect((client.experimentOfRun as jest.Mock).mock.calls.map((c) => c[0])).toEqual(['r1', 'r2']);
  });
});
