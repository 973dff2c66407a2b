import { MAX_JSON_DEPTH } from '../../src/common/json-depth';
import { openAgentSocket } from '../support/agent-socket';
import { startTestBff, type TestBff } from '../support/app';
import { httpRequest } from '../support/net';

jest.setTimeout(60_000);

/** A JSON array nested `depth` levels deep: `[[[…]]]`. */
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** Issue 15 item 4: JSON nested deeper than MAX_JSON_DEPTH is refused while it is read (400 validation_failed), on every route. */
describe('deeply nested JSON (issue 15 item 4)', () => {
  let bff: TestBff;
  let token: string;
  const json = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    bff = await startTestBff();
    token = await bff.token('alice');
  });
  afterAll(() => bff?.close());

  const createAgent = (body: string) => httpRequest(`${bff.url}/api/agents`, { method: 'POST', headers: json(token), body });

  function expectRefused(res: { status: number; headers: Record<string, unknown>; body: string }) {
    expect({ status: res.status, type: res.headers['content-type'] }).toEqual({ status: 400, type: expect.stringMatching(/^application\/problem\+json/) });
    expect(JSON.parse(res.body)).toMatchObject({ status: 400, reason: 'validation_failed', detail: expect.stringContaining(`${MAX_JSON_DEPTH}`) });
  }

  it('a body nested 200,000 deep (≈400 KB, under the body limit) on a DTO route is a 400, not a 500', async () => {
    const res = await createAgent(`{"name":"deep","settings":{"x":${nested(200_000)}}}`);
    expectRefused(res);
  });

  it('the limit is exact: MAX_JSON_DEPTH levels pass the parser, one more is refused', async () => {
    // The outer object is level 1; `settings` (an object) level 2; its value fills the rest.
    const at = await createAgent(`{"name":"deep","settings":{"x":${nested(MAX_JSON_DEPTH - 2)}}}`);
    expect(at.status).not.toBe(500);
    expect(JSON.parse(at.body).detail ?? '').not.toContain('nests deeper');
    expectRefused(await createAgent(`{"name":"deep","settings":{"x":${nested(MAX_JSON_DEPTH - 1)}}}`));
    // Brackets inside strings are text, not nesting.
    const inString = await createAgent(JSON.stringify({ name: 'brackets', description: `${'['.repeat(500)}"\\`, settings: {} }));
    expect(inString.status).toBe(201);
  });

  it('on the MLflow proxy too', async () => {
    const res = await httpRequest(`${bff.url}/mlflow/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: json(token),
      body: `{"name":"deep","tags":${nested(200_000)}}`,
    });
    expectRefused(res);
  });

  it('in a WebSocket frame of the agents socket: an error frame validation_failed, and the socket stays usable', async () => {
    const created = await createAgent(JSON.stringify({ name: 'ws depth' }));
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { id: string }).id;
    const s = await openAgentSocket(`${bff.url.replace(/^http/, 'ws')}/api/agents/${id}/react`, { headers: { authorization: `Bearer ${token}` } });
    if (!('ws' in s)) throw new Error(`upgrade refused: ${s.status} ${s.body}`);
    try {
      s.ws.send(`{"type":"user_message","content":"hi","x":${nested(30_000)}}`); // 60 KB: under the 64 KiB frame cap
      const f = await s.next();
      expect(f).toMatchObject({ type: 'error', reason: 'validation_failed', detail: expect.stringContaining(`${MAX_JSON_DEPTH}`) });
      const ok = await s.turn('hello');
      expect(ok.done?.type).toBe('done');
    } finally {
      s.ws.close();
      await s.closed;
    }
  });

  it('while four deep bodies are processed at once, /health/live is answered and nothing is a 500', async () => {
    const deep = `{"name":"deep","settings":{"x":${nested(250_000)}}}`;
    const attacks = Array.from({ length: 4 }, () => createAgent(deep));
    const live = httpRequest(`${bff.url}/health/live`);
    const [liveRes, ...answers] = await Promise.all([live, ...attacks]);
    expect(liveRes.status).toBe(200);
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 400]);
  });
});
