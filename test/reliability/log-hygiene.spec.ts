import { randomBytes } from 'node:crypto';
import type { LlmEmulator } from '../../sandbox/llm-provider';
import type { MlAgentEmulator } from '../../sandbox/ml-agent';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import type { TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { call, emulator, openAgentSession, startLoggedBff, type Answer } from './reliability-support';

jest.setTimeout(60_000);

/**
 * Log hygiene: a representative slice of every module's flows — happy paths, denials and upstream
 * failures — against a BFF logging at debug level into a buffer; then no credential may appear in the
 * log: no segment of any token used (user tokens, exchanged tokens the upstreams received), no client
 * secret, provider key, session secret, basic credential, WebSocket ticket or access-token value.
 * (Every other file's BFF logs are scanned the same way after the file: test/support/log-hygiene.setup.ts;
 * this spec makes sure the flows that log the most — denials, upstream failures, IdP down — are all driven.)
 */
describe('log hygiene', () => {
  let sandbox: Sandbox;
  let bff: Awaited<ReturnType<typeof startLoggedBff>>;
  const sessionSecret = randomBytes(32).toString('base64url');
  const secrets = new Map<string, string>();
  const tokens: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startLoggedBff(sandbox, { BFF_SESSION_SECRET: sessionSecret, TRINO_TIMEOUT_MS: '800', RATE_LIMIT_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  async function token(user: string, o: Parameters<Sandbox['issuer']['issueToken']>[0] = {}): Promise<string> {
    const t = await sandbox.issuer.issueToken({ user, ...o });
    tokens.push(t);
    return t;
  }

  it("no token, secret or ticket reaches the log, through every module's flows", async () => {
    const alice = await token('alice');
    const admin = await token('admin');
    const viewer = await token('viewer');
    const expired = await token('alice', { expiresInS: -120 });
    const forged = `${alice.split('.')[0]}.${Buffer.from(JSON.stringify({ sub: 'x', preferred_username: 'admin' })).toString('base64url')}.${alice.split('.')[2]}`;
    tokens.push(forged);
    const answers: Answer[] = [];
    const go = async (p: Promise<Answer>) => answers.push(await p);

    // auth: principal, ext-authz (header, query, body token), denials.
    await go(call(bff.url, 'GET', '/auth/me', { token: alice }));
    await go(call(bff.url, 'GET', '/auth/me', { token: expired }));
    await go(call(bff.url, 'GET', '/auth/me', { token: forged }));
    await go(call(bff.url, 'GET', `/auth/me?access-token=${alice}`));
    await go(call(bff.url, 'GET', '/api/validate/v1/statement', { token: alice }));
    await go(call(bff.url, 'GET', `/api/validate/v1/statement?access-token=${encodeURIComponent(admin)}`));
    await go(call(bff.url, 'GET', '/api/auth/api/agents', { token: viewer }));
    await go(call(bff.url, 'POST', '/api/auth/api/agents', { json: { token: alice } }));
    await go(call(bff.url, 'GET', '/api/auth', { token: alice, headers: { 'x-original-uri': `/api/agents?access-token=${alice}` } }));
    await go(call(bff.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${alice}`, cookie: `bff_session=${alice}` } }));
    // token exchange + trino gateway admin (allowed, denied, IdP down).
    await go(call(bff.url, 'GET', '/trino/gateway/backend/all', { token: admin }));
    await go(
      call(bff.url, 'POST', '/trino/gateway/backend/modify/add', { token: alice, json: { name: 'x', proxyTo: 'http://x', active: true, routingGroup: 'adhoc' } }),
    );
    sandbox.issuer.setAvailability({ down: true });
    await go(call(bff.url, 'GET', '/trino/gateway/backend/all', { token: await token('admin') }));
    sandbox.issuer.setAvailability({ down: false });
    // trino: protocol paging, run to completion, an upstream failure, the rate limit.
    const first = await call(bff.url, 'POST', '/v1/statement', { token: alice, body: 'SELECT * FROM tpch.tiny.nation', headers: { 'content-type': 'text/plain' } });
    answers.push(first);
    let next = first.json?.nextUri as string | undefined;
    while (next) {
      const page = await call(bff.url, 'GET', new URL(next).pathname, { token: alice });
      answers.push(page);
      next = page.json?.nextUri as string | undefined;
    }
    await go(call(bff.url, 'GET', new URL(first.json!.nextUri as string).pathname, { token: admin }));
    await go(call(bff.url, 'POST', '/trino/query', { token: admin, json: { sql: 'SELECT name FROM tpch.tiny.nation' } }));
    emulator<TrinoCoordinator>(sandbox, 'trino-coordinator').setFault('error500');
    await go(call(bff.url, 'POST', '/trino/query', { token: admin, json: { sql: 'SELECT 1' } }));
    emulator<TrinoCoordinator>(sandbox, 'trino-coordinator').setFault('hang');
    await go(call(bff.url, 'POST', '/v1/statement', { token: viewer, body: 'SELECT 1' }));
    emulator<TrinoCoordinator>(sandbox, 'trino-coordinator').setFault('none');
    await go(call(bff.url, 'POST', '/v1/statement', { token: alice, body: 'SELECT 1' })); // 429: third call of alice
    // ml-agent: catalogs, workflow, invalid identifier, upstream failure.
    await go(call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: alice }));
    await go(
      call(bff.url, 'POST', '/chatbot/run-workflow-trino', {
        token: alice,
        json: { catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'profile', parameters: {} },
      }),
    );
    await go(call(bff.url, 'GET', '/chatbot/trino/schemas/bad%20name', { token: alice }));
    emulator<MlAgentEmulator>(sandbox, 'ml-agent').setFault('reset');
    await go(call(bff.url, 'GET', '/chatbot/trino/catalogs', { token: alice }));
    emulator<MlAgentEmulator>(sandbox, 'ml-agent').setFault('none');
    // agents: CRUD, denial, ticket, a WebSocket turn with the ticket and one with the token, an LLM failure.
    const agent = await call(bff.url, 'POST', '/api/agents', { token: alice, json: { name: 'Hygiene' } });
    answers.push(agent);
    const id = agent.json!.id as string;
    await go(call(bff.url, 'GET', `/api/agents/${id}`, { token: viewer }));
    await go(call(bff.url, 'GET', `/api/agents/${id}`, { token: await token('admin', { claims: { realm_access: { roles: ['REGULAR'] } } }) }));
    const ticket = await call(bff.url, 'POST', `/api/agents/${id}/ws-ticket`, { token: alice });
    answers.push(ticket);
    secrets.set('ws ticket', ticket.json!.ticket as string);
    const llm = emulator<LlmEmulator>(sandbox, 'llm-provider');
    llm.setChunkDelayMs(0);
    const session = await openAgentSession(bff.url, id, alice);
    await session.turn('hello');
    llm.setFault('error500');
    await session.turn('fail please');
    llm.setFault('none');
    session.ws.close();
    await session.closed;
    // The WebSocket with the ticket (single use: the second upgrade is refused) and a refused upgrade with a bad token.
    const ticketed = await openAgentSession(bff.url, id, ticket.json!.ticket as string, 'ticket');
    await ticketed.turn('with a ticket');
    ticketed.ws.close();
    await ticketed.closed;
    await expect(openAgentSession(bff.url, id, ticket.json!.ticket as string, 'ticket')).rejects.toThrow(/upgrade refused: 401/);
    await expect(openAgentSession(bff.url, id, `${alice}x`)).rejects.toThrow(/upgrade refused: 401/);
    // mlflow: proxied read and a denial.
    await go(call(bff.url, 'GET', '/mlflow/api/2.0/mlflow/experiments/search?max_results=1', { token: alice }));
    await go(call(bff.url, 'GET', '/mlflow/api/2.0/mlflow/experiments/search?max_results=1', { token: viewer }));

    expect(answers.some((a) => a.status >= 500 && a.status !== 502 && a.status !== 503 && a.status !== 504)).toBe(false);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(10);

    // What the upstreams received: exchanged tokens and the provider key must not be logged either.
    for (const name of ['trino-gateway', 'ml-agent', 'llm-provider'] as const) {
      const server = emulator<TrinoGatewayEmulator | MlAgentEmulator | LlmEmulator>(sandbox, name);
      for (const r of server.requests) {
        const auth = r.headers.authorization;
        if (typeof auth === 'string' && /^Bearer /i.test(auth)) tokens.push(auth.slice(7).trim());
      }
    }
    for (const key of ['BFF_CLIENT_SECRET', 'BFF_LOGIN_CLIENT_SECRET', 'LLM_API_KEY', 'TRINO_GATEWAY_BASIC_AUTH'] as const) secrets.set(key, sandbox.env[key]);
    secrets.set('TRINO_GATEWAY_BASIC_AUTH password', sandbox.env.TRINO_GATEWAY_BASIC_AUTH.split(':').slice(1).join(':'));
    secrets.set('BFF_SESSION_SECRET', sessionSecret);
    const unique = [...new Set(tokens)];
    expect(unique.length).toBeGreaterThan(8);
    for (const [i, t] of unique.entries()) {
      t.split('.')
        .filter((segment) => segment.length >= 16)
        .forEach((segment, s) => secrets.set(`token #${i} segment ${s}`, segment));
    }

    const log = bff.logs();
    expect(log.length).toBeGreaterThan(1000); // the flows were logged (request lines, warnings, errors)
    const leaked = [...secrets].filter(([, value]) => value && log.includes(value)).map(([what]) => what);
    expect(leaked).toEqual([]);
  });
});
