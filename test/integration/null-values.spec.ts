import { startTestBff, type TestBff } from '../support/app';
import { httpRequest } from '../support/net';

/**
 * `null` where the spec declares an optional, non-nullable field, and a JSON `null` as a whole body:
 * a 400 validation_failed naming the field, never forwarded. schemathesis (test/e2e/schemathesis.spec.ts,
 * its negative_data_rejection check) found each of these answered 200/201: class-validator's IsOptional
 * lets `null` through, and Nest's ValidationPipe reads a `null` body as `{}`. The agents' own fields are
 * in agents.spec.ts.
 */
jest.setTimeout(30_000);

describe('null is not an absent value', () => {
  let bff: TestBff;
  let admin: string;

  beforeAll(async () => {
    bff = await startTestBff();
    admin = await bff.token('admin');
  });
  afterAll(() => bff?.close());

  const post = (path: string, body: string) =>
    httpRequest(`${bff.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body });

  const backend = { name: 'trino-null', proxyTo: 'http://127.0.0.1:9', active: true, routingGroup: 'adhoc', externalUrl: 'http://127.0.0.1:9' };
  const rule = { name: 'airflow', description: 'd', priority: 1, actions: ['result.put("routingGroup", "etl")'], condition: 'true' };
  const workflow = { catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'profile' };

  it.each([
    ['/trino/query', { sql: 'SELECT 1', catalog: null }, 'catalog'],
    ['/trino/query', { sql: 'SELECT 1', catalog: 'tpch', schema: null }, 'schema'],
    ['/trino/query', { sql: 'SELECT 1', maxRows: null }, 'maxRows'],
    ['/trino/gateway/backend/modify/add', { ...backend, active: null }, 'active'],
    ['/trino/gateway/backend/modify/update', { ...backend, routingGroup: null }, 'routingGroup'],
    ['/trino/gateway/backend/modify/update', { ...backend, externalUrl: null }, 'externalUrl'],
    ['/trino/webapp/updateRoutingRules', { ...rule, priority: null }, 'priority'],
    ['/trino/webapp/updateRoutingRules', { ...rule, description: null }, 'description'],
    ['/trino/webapp/updateRoutingRules', { ...rule, actions: null }, 'actions'],
    ['/chatbot/run-workflow-trino', { ...workflow, parameters: null }, 'parameters'],
  ])('POST %s with %j: 400 naming %s', async (path, body, field) => {
    const res = await post(path, JSON.stringify(body));
    expect([res.status, res.headers['content-type']]).toEqual([400, expect.stringMatching(/^application\/problem\+json/)]);
    const problem = JSON.parse(res.body) as { reason: string; errors: Array<{ field: string }> };
    expect(problem.reason).toBe('validation_failed');
    expect(problem.errors.map((e) => e.field)).toContain(field);
  });

  it('a JSON null body is refused where the body is an object, also where the body is optional', async () => {
    const agent = JSON.parse((await post('/api/agents', JSON.stringify({ name: 'null body' }))).body) as { id: string };
    for (const path of [`/api/agents/${agent.id}/ws-ticket`, '/api/agents', '/trino/query', '/trino/gateway/backend/modify/add']) {
      const res = await post(path, 'null');
      expect([path, res.status]).toEqual([path, 400]);
      expect(JSON.parse(res.body)).toMatchObject({ reason: 'validation_failed', errors: [{ field: 'body', message: 'the body must be a JSON object, not null' }] });
    }
    // No body at all is still no body: the ticket's body is optional.
    const res = await httpRequest(`${bff.url}/api/agents/${agent.id}/ws-ticket`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(201);
  });
});
