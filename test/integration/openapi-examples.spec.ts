import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBff, type TestBff } from '../support/app';

/**
 * Every example of openapi/openapi.json, sent as Swagger UI's "Try it out" sends it (parameters and
 * body filled from the spec's examples, the demo admin's token for secured operations), succeeds
 * against the app in sandbox mode. An operation is an example when the spec fills everything it
 * requires: every required parameter has an example, and so has every required property of a
 * required body. The operations the spec leaves for the user to fill (an agent's id, a MLflow path)
 * are listed, so that a new operation is a conscious choice.
 */

interface Schema {
  $ref?: string;
  type?: string;
  example?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  example?: unknown;
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema; example?: unknown }> };
  security?: unknown[];
  responses?: Record<string, unknown>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const spec = JSON.parse(readFileSync(join(__dirname, '../../openapi/openapi.json'), 'utf8')) as Spec;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const resolve = (s: Schema | undefined): Schema | undefined => (s?.$ref ? spec.components.schemas[s.$ref.split('/').pop()!] : s);
const paramExample = (p: Parameter): unknown => p.example ?? p.schema?.example;

/** The body Swagger UI pre-fills, or undefined when the spec does not fill every required property. */
function bodyExample(op: Operation): { contentType: string; body: unknown } | undefined {
  const [contentType, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [];
  if (!contentType || !media) return undefined;
  if (media.example !== undefined) return { contentType, body: media.example };
  const schema = resolve(media.schema);
  if (!schema) return undefined;
  if (schema.example !== undefined) return { contentType, body: schema.example };
  if (!schema.properties) return undefined;
  const body: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties)) {
    const example = resolve(prop)?.example;
    if (example !== undefined) body[name] = example;
    else if (schema.required?.includes(name)) return undefined;
  }
  return { contentType, body };
}

interface Example {
  name: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  secured: boolean;
  /** The statuses the operation documents. */
  documented: string[];
}

function examples(): { runnable: Example[]; leftToTheUser: string[] } {
  const runnable: Example[] = [];
  const leftToTheUser: string[] = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = ops[method];
      if (!op) continue;
      const name = `${method.toUpperCase()} ${path}`;
      const params = op.parameters ?? [];
      const missing = params.filter((p) => (p.required || p.in === 'path') && paramExample(p) === undefined);
      const body = op.requestBody ? bodyExample(op) : undefined;
      if (missing.length > 0 || (op.requestBody?.required && !body)) {
        leftToTheUser.push(name);
        continue;
      }
      let url = path;
      const query = new URLSearchParams();
      const headers: Record<string, string> = {};
      for (const p of params) {
        const value = paramExample(p);
        if (value === undefined) continue;
        if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(value)));
        else if (p.in === 'query') query.set(p.name, String(value));
        else if (p.in === 'header') headers[p.name] = String(value);
      }
      if ([...query.keys()].length > 0) url += `?${query.toString()}`;
      let text: string | undefined;
      if (body) {
        headers['content-type'] = body.contentType;
        text = typeof body.body === 'string' ? body.body : JSON.stringify(body.body);
      }
      runnable.push({
        name,
        method: method.toUpperCase(),
        url,
        headers,
        body: text,
        secured: (op.security?.length ?? 0) > 0,
        documented: Object.keys(op.responses ?? {}),
      });
    }
  }
  return { runnable, leftToTheUser };
}

/**
 * Examples that do not succeed yet, each with why: they name a resource the user creates first (an
 * agent, a query, a grant), or share one path example among methods the path does not take. Each is
 * checked to still fail, so that fixing one makes this test say to remove it from the list.
 */
const NOT_YET: Record<string, string> = {
  'GET /api/agents/{id}': 'the example id names no agent: an agent is created first (POST /api/agents)',
  'DELETE /api/agents/{id}': 'the example id names no agent',
  'PATCH /api/agents/{id}/settings': 'the example id names no agent',
  'POST /api/agents/{id}/ws-ticket': 'the example id names no agent',
  'GET /mlflow-permissions/experiments/{experimentId}/users/{username}': 'no grant exists before the PUT example',
  'PUT /mlflow-permissions/experiments/{experimentId}/users/{username}': 'the sandbox MLflow has no experiment 1',
  'DELETE /mlflow-permissions/experiments/{experimentId}/users/{username}': 'no grant exists to delete',
  'PUT /mlflow/{path}': 'the path example is a GET/POST endpoint of MLflow',
  'PATCH /mlflow/{path}': 'the path example is a GET/POST endpoint of MLflow',
  'DELETE /mlflow/{path}': 'the path example is a GET/POST endpoint of MLflow',
  'GET /ui/query.html': 'the example names no query: a query is submitted first',
  'GET /v1/query/{queryId}': 'the example query id names no query',
  'DELETE /v1/query/{queryId}': 'the example query id names no query',
};

describe('every example of openapi/openapi.json succeeds in sandbox mode', () => {
  let bff: TestBff;
  let token: string;
  const { runnable, leftToTheUser } = examples();

  beforeAll(async () => {
    bff = await startTestBff();
    token = await bff.token('admin');
  });
  afterAll(async () => {
    await bff?.close();
    await bff?.sandbox.close();
  });

  it('the examples include the first query a user tries, POST /trino/query', () => {
    const query = runnable.find((e) => e.name === 'POST /trino/query');
    expect(JSON.parse(query?.body ?? '{}')).toMatchObject({ sql: 'SELECT nationkey, name FROM nation ORDER BY nationkey', catalog: 'tpch', schema: 'tiny' });
    expect(runnable.length).toBeGreaterThan(10);
  });

  it('lists the operations whose required input the spec leaves to the user', () => {
    expect(leftToTheUser.sort()).toEqual([
      'DELETE /v1/statement/executing/{path}',
      'DELETE /v1/statement/queued/{path}',
      'GET /auth/callback',
      'GET /v1/statement/executing/{path}',
      'GET /v1/statement/queued/{path}',
    ]);
  });

  it.each(runnable.map((e) => [e.name, e] as const))('%s', async (_name, example) => {
    const notYet = NOT_YET[example.name];
    const headers = { ...example.headers, ...(example.secured ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(`${bff.url}${example.url}`, { method: example.method, headers, body: example.body, redirect: 'manual' });
    const text = await res.text();
    // Success is a 2xx, or a redirect the operation documents as its answer (the browser login's 302 to the identity provider).
    const success = (res.status >= 200 && res.status < 300) || (res.status >= 300 && res.status < 400 && example.documented.includes(String(res.status)));
    if (notYet) {
      // Still failing as listed; once it succeeds, remove it from NOT_YET.
      expect([example.name, success]).toEqual([example.name, false]);
      return;
    }
    expect([example.name, res.status, success ? 'success' : text.slice(0, 300)]).toEqual([example.name, res.status, 'success']);
  });

  it('POST /trino/query answers the example with the 25 nations in key order', async () => {
    const res = await fetch(`${bff.url}/trino/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: runnable.find((e) => e.name === 'POST /trino/query')!.body,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { columns: Array<{ name: string; type: string }>; rows: unknown[][] };
    expect(body.columns.map((c) => [c.name, c.type])).toEqual([
      ['nationkey', 'bigint'],
      ['name', 'varchar(25)'],
    ]);
    expect(body.rows).toHaveLength(25);
    expect(body.rows.slice(0, 3)).toEqual([
      [0, 'ALGERIA'],
      [1, 'ARGENTINA'],
      [2, 'BRAZIL'],
    ]);
    expect(body.rows.map((r) => r[0])).toEqual([...Array(25).keys()]);
  });
});
