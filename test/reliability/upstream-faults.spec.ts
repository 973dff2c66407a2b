import type { LlmEmulator } from '../../sandbox/llm-provider';
import type { MlAgentEmulator } from '../../sandbox/ml-agent';
import type { TrinoCoordinator } from '../../sandbox/trino-coordinator';
import type { TrinoGatewayEmulator } from '../../sandbox/trino-gateway';
import type { FaultMode } from '../../sandbox/types';
import { startSandbox, type Sandbox } from '../../sandbox/index';
import { startTestBff, type TestBff } from '../support/app';
import { waitUntil } from '../support/net';
import { call, emulator, openAgentSession, PROBLEM_JSON, type Answer } from './reliability-support';

jest.setTimeout(80_000);

/**
 * Every upstream's limit here. The healthy calls before and after each fault are under it too (one BFF: recovering
 * needs no restart), so it is not tight: a loaded machine can stall this process for a second between a request and
 * its answer, which a 1 s limit turned into a 504 of a healthy call.
 */
const TIMEOUT_MS = 2500;

interface Upstream {
  name: string;
  server: () => { setFault(mode: FaultMode): void; setAnswerDelayMs(ms: number): void; openRequests(): number };
  timeoutMs: number;
  request: (token: string) => Promise<Answer>;
}

/**
 * Every upstream hanging, resetting the connection, answering malformed JSON or a 500: the BFF
 * answers problem+json 504 naming the upstream's configured timeout, or 502, never 500; leaves no
 * request open at the upstream; and serves again as soon as the upstream is back (no restart).
 */
describe('upstreams hanging, resetting, answering garbage', () => {
  let sandbox: Sandbox;
  let bff: TestBff;
  let alice: string;
  let admin: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    bff = await startTestBff(
      {
        TRINO_TIMEOUT_MS: String(TIMEOUT_MS),
        TRINO_GATEWAY_TIMEOUT_MS: String(TIMEOUT_MS),
        LLM_TIMEOUT_MS: String(TIMEOUT_MS),
        ML_AGENT_TIMEOUT_MS: String(TIMEOUT_MS),
        RATE_LIMIT_PER_MINUTE: '0',
      },
      { sandbox },
    );
    alice = await bff.token('alice');
    admin = await bff.token('admin');
  });
  afterAll(async () => {
    await bff?.close();
    await sandbox?.close();
  });

  const upstreams: Upstream[] = [
    {
      name: 'Trino (POST /v1/statement)',
      server: () => emulator<TrinoCoordinator>(sandbox, 'trino-coordinator'),
      timeoutMs: TIMEOUT_MS,
      request: (token) => call(bff.url, 'POST', '/v1/statement', { token, body: 'SELECT 1', headers: { 'content-type': 'text/plain' } }),
    },
    {
      name: 'Trino (POST /trino/query)',
      server: () => emulator<TrinoCoordinator>(sandbox, 'trino-coordinator'),
      timeoutMs: TIMEOUT_MS,
      request: (token) => call(bff.url, 'POST', '/trino/query', { token, json: { sql: 'SELECT 1' } }),
    },
    {
      name: 'Trino Gateway (GET /trino/gateway/backend/all)',
      server: () => emulator<TrinoGatewayEmulator>(sandbox, 'trino-gateway'),
      timeoutMs: TIMEOUT_MS,
      request: () => call(bff.url, 'GET', '/trino/gateway/backend/all', { token: admin }),
    },
    {
      name: 'ML-Agent (GET /chatbot/trino/catalogs)',
      server: () => emulator<MlAgentEmulator>(sandbox, 'ml-agent'),
      timeoutMs: TIMEOUT_MS,
      request: (token) => call(bff.url, 'GET', '/chatbot/trino/catalogs', { token }),
    },
  ];

  const expected: Record<Exclude<FaultMode, 'none'>, number[]> = { hang: [504], reset: [502], malformed: [502], error500: [502] };

  for (const u of upstreams) {
    describe(u.name, () => {
      afterEach(() => u.server().setFault('none'));

      for (const fault of ['reset', 'malformed', 'error500', 'hang'] as const) {
        it(
          `${fault}: ${expected[fault].join('/')} problem+json (a hang ended by its configured timeout), nothing left open, then recovers`,
          async () => {
            const healthy = await u.request(alice);
            expect(healthy.status).toBe(200);

            u.server().setFault(fault);
            const res = await u.request(alice);
            expect(expected[fault]).toContain(res.status);
            expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
            if (fault === 'hang') {
              // Ended by the upstream's configured limit, which the problem names (no wall-clock assertion).
              expect(res.json?.reason).toBe('upstream_timeout');
              expect(res.json?.detail).toContain(`within ${u.timeoutMs} ms`);
            } else {
              // Answered as soon as the upstream failed, not after waiting for the limit.
              expect(res.json?.reason).toMatch(/^upstream_(unavailable|error)$/);
            }
            // The BFF gave up on the upstream request too (no request left hanging there).
            await waitUntil(() => u.server().openRequests() === 0, { timeoutMs: 3000, what: `${u.name}: no open upstream request` });

            u.server().setFault('none');
            expect((await u.request(alice)).status).toBe(200);
          },
          u.timeoutMs + 20_000,
        );
      }

      it(
        'an answer twice its timeout late is not waited for: 504 naming the limit, the upstream request closed',
        async () => {
          // The emulator's delay is a timer of this process armed after the BFF's own (which started with the
          // request): the BFF's limit is due first whatever the load, so a 504 here is its limit at work.
          u.server().setAnswerDelayMs(2 * u.timeoutMs);
          try {
            const res = await u.request(alice);
            expect([res.status, res.json?.reason]).toEqual([504, 'upstream_timeout']);
            expect(res.json?.detail).toContain(`within ${u.timeoutMs} ms`);
            await waitUntil(() => u.server().openRequests() === 0, { timeoutMs: 3000, what: `${u.name}: no open upstream request` });
          } finally {
            u.server().setAnswerDelayMs(0);
          }
          expect((await u.request(alice)).status).toBe(200);
        },
        u.timeoutMs + 20_000,
      );
    });
  }

  describe('LLM provider (a WebSocket turn)', () => {
    const llm = () => emulator<LlmEmulator>(sandbox, 'llm-provider');
    let agentId: string;
    beforeAll(async () => {
      const created = await call(bff.url, 'POST', '/api/agents', { token: alice, json: { name: 'Faults' } });
      expect(created.status).toBe(201);
      agentId = created.json!.id as string;
      llm().setChunkDelayMs(0);
    });
    afterEach(() => llm().setFault('none'));

    const reasons: Record<Exclude<FaultMode, 'none'>, string[]> = {
      hang: ['upstream_timeout'],
      reset: ['upstream_unavailable', 'upstream_error'],
      malformed: ['upstream_error', 'upstream_unavailable'],
      error500: ['upstream_error', 'upstream_unavailable'],
    };
    for (const fault of ['reset', 'malformed', 'error500', 'hang'] as const) {
      it(`${fault}: an error frame (${reasons[fault].join(' or ')}) (a hang ended by LLM_TIMEOUT_MS), the session stays usable`, async () => {
        const session = await openAgentSession(bff.url, agentId, alice);
        try {
          llm().setFault(fault);
          const failed = await session.turn('hello');
          expect(failed.end.type).toBe('error');
          expect(reasons[fault]).toContain(failed.end.reason);
          if (fault === 'hang') expect(failed.end.detail).toContain(`within ${TIMEOUT_MS} ms`);
          await waitUntil(() => llm().openRequests() === 0, { timeoutMs: 3000, what: 'no open request at the LLM' });
          llm().setFault('none');
          const ok = await session.turn('hello again');
          expect(ok.end.type).toBe('done');
          expect(ok.text.length).toBeGreaterThan(0);
        } finally {
          session.ws.close();
          await session.closed;
        }
      });
    }

    it('events twice LLM_TIMEOUT_MS apart are not waited for: an upstream_timeout frame naming the limit, the session stays usable', async () => {
      const session = await openAgentSession(bff.url, agentId, alice);
      try {
        // The emulator's delay is a timer of this process armed after the BFF's own (which started with the call).
        llm().setChunkDelayMs(2 * TIMEOUT_MS);
        const failed = await session.turn('hello');
        expect([failed.end.type, failed.end.reason]).toEqual(['error', 'upstream_timeout']);
        expect(failed.end.detail).toContain(`within ${TIMEOUT_MS} ms`);
        await waitUntil(() => llm().openRequests() === 0, { what: 'no open request at the LLM' });
        llm().setChunkDelayMs(0);
        expect((await session.turn('hello again')).end.type).toBe('done');
      } finally {
        llm().setChunkDelayMs(0);
        session.ws.close();
        await session.closed;
      }
    });
  });
});
