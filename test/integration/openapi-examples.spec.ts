import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSandbox } from '../../sandbox/index';
import { createSandboxDemo } from '../../src/sandbox-demo';
import { startTestBff, type TestBff } from '../support/app';

/**
 * Every example of openapi/openapi.json, sent as Swagger UI's "Try it out" sends it (parameters and
 * body filled from the spec's examples, the demo admin's token for secured operations), succeeds
 * against the app in sandbox mode. An operation is an example when the spec fills everything it
 * requires: every required parameter has an example, and so has every required property of a
 * required body. The operations the spec leaves for the user to fill (a Trino nextUri's path, the
 * login callback's code, the identity provider's logout_token) are listed, so that a new operation is a conscious choice. The examples name
 * the resources sandbox mode creates at start (src/sandbox-demo.ts), as `npm start` does.
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

describe('every example of openapi/openapi.json succeeds in sandbox mode', () => {
  let bff: TestBff;
  let token: string;
  const { runnable, leftToTheUser } = examples();
  // As a user would try them: what deletes a resource comes after what uses it.
  const inOrder = [...runnable].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));

  beforeAll(async () => {
    // npm start's sandbox: the demo data the examples name (the first query and run get the examples' ids).
    const sandbox = await startSandbox({ demo: true });
    bff = await startTestBff({}, { sandbox });
    await createSandboxDemo({
      app: bff.app,
      baseUrl: bff.url,
      token: (user) => bff.token(user),
      emulators: new Set(sandbox.groups.map((g) => g.name)),
    });
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
      'POST /auth/backchannel-logout',
    ]);
  });

  it.each(inOrder.map((e) => [e.name, e] as const))('%s', async (_name, example) => {
    const headers = { ...example.headers, ...(example.secured ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(`${bff.url}${example.url}`, { method: example.method, headers, body: example.body, redirect: 'manual' });
    const text = await res.text();
    // Success is a 2xx, or a redirect the operation documents as its answer (the browser login's 302 to the identity provider).
    const success = (res.status >= 200 && res.status < 300) || (res.status >= 300 && res.status < 400 && example.documented.includes(String(res.status)));
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
