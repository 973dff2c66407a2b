import type { Principal } from '../auth/principal';
import { principalFromClaims } from '../auth/principal';
import { ProblemException } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { downstreamToken } from '../token-exchange/exchange-context';
import type { TokenExchangeService } from '../token-exchange/token-exchange.service';
import type { BearerCaller } from '../token-exchange/upstream-caller';
import type { RunWorkflowRequestDto } from './dto/run-workflow.dto';
import type { MlAgentClient, MlAgentCall, MlAgentWorkflowSubmission } from './ml-agent.client';
import { MlAgentService } from './ml-agent.service';
import { submitterEmail } from './workflow-submitter';

const principal = (claims: Record<string, unknown> = {}): Principal =>
  principalFromClaims(
    { sub: 'u-1', preferred_username: 'alice', email: 'alice@example.com', iss: 'https://idp/realms/p', aud: 'platform-bff', exp: 4102444800, ...claims },
    'platform-bff',
  );

function setup(tokenMode: 'exchange' | 'forward', opts: { url?: string | null; exchangeFails?: ProblemException } = {}) {
  const config = {
    workspaceId: 'demo',
    mlAgent: { url: opts.url === null ? undefined : (opts.url ?? 'http://ml-agent'), audience: 'ml-agent', tokenMode },
  } as AppConfig;
  const exchanged: Array<[string, string, string]> = [];
  const exchange = {
    exchangeFor: async (audience: string, subject: string, p: Principal) => {
      exchanged.push([audience, subject, p.subject]);
      if (opts.exchangeFails) throw opts.exchangeFails;
      return `exchanged-for-${audience}`;
    },
  } as unknown as TokenExchangeService;
  /** What the client sent: like the real one, it checks its configuration, then resolves the call's credential as it sends. */
  const calls: Array<{ op: string; call: { bearer: string; requestId: string }; args: unknown[] }> = [];
  const send = async (op: string, call: MlAgentCall, args: unknown[]) => {
    client.assertConfigured();
    calls.push({ op, call: { bearer: await call.credential.get(), requestId: call.requestId }, args });
  };
  const client = {
    assertConfigured: () => {
      if (!config.mlAgent.url) throw new ProblemException(503, 'upstream_unavailable', 'not configured');
    },
    listCatalogs: async (call: MlAgentCall) => (await send('catalogs', call, []), { catalogs: ['tpch'] }),
    listSchemas: async (call: MlAgentCall, c: string) => (await send('schemas', call, [c]), { schemas: ['tiny'] }),
    listTables: async (call: MlAgentCall, c: string, s: string) => (await send('tables', call, [c, s]), { tables: ['nation'] }),
    runWorkflow: async (call: MlAgentCall, sub: MlAgentWorkflowSubmission) => (await send('run', call, [sub]), { runId: 'run-1', status: 'SUBMITTED' }),
  } as unknown as MlAgentClient;
  /** The caller as @CurrentCaller() hands it over: the token the controller's @ExchangeTokenFor rule gives for ML-Agent. */
  const rule = { audience: config.mlAgent.audience, forwardRawToken: tokenMode === 'forward' };
  const caller = (p: Principal = principal()): BearerCaller => ({
    via: 'bearer',
    principal: p,
    token: downstreamToken(rule, { principal: p, token: 'raw-user-token' }, (aud, subject, who) => exchange.exchangeFor(aud, subject, who)),
    requestId: 'req-1',
  });
  return { service: new MlAgentService(client), exchanged, calls, caller };
}

const request = (extra: Partial<RunWorkflowRequestDto> = {}): RunWorkflowRequestDto => ({
  catalog: 'tpch',
  schema: 'tiny',
  table: 'nation',
  workflow: 'profile',
  ...extra,
});

describe('MlAgentService', () => {
  it('exchange mode: every call carries the token exchanged for ML_AGENT_AUDIENCE, never the raw one', async () => {
    const { service, exchanged, calls, caller } = setup('exchange');
    await service.listCatalogs(caller());
    await service.listSchemas(caller(), 'tpch');
    await service.listTables(caller(), 'tpch', 'tiny');
    await service.runWorkflow(caller(), request());
    expect(exchanged).toEqual(Array(4).fill(['ml-agent', 'raw-user-token', 'u-1']));
    expect(calls.map((c) => [c.op, c.call])).toEqual(
      ['catalogs', 'schemas', 'tables', 'run'].map((op) => [op, { bearer: 'exchanged-for-ml-agent', requestId: 'req-1' }]),
    );
    expect(calls[1].args).toEqual(['tpch']);
    expect(calls[2].args).toEqual(['tpch', 'tiny']);
  });

  it('forward mode: the raw token, and no exchange', async () => {
    const { service, exchanged, calls, caller } = setup('forward');
    await service.listCatalogs(caller());
    await service.runWorkflow(caller(), request());
    expect(exchanged).toEqual([]);
    expect(calls.map((c) => c.call.bearer)).toEqual(['raw-user-token', 'raw-user-token']);
  });

  it('run-workflow sends the named fields and the token’s email; a client email is dropped', async () => {
    const { service, calls, caller } = setup('exchange');
    await service.runWorkflow(caller(), request({ email: 'mallory@evil.example', parameters: { sampleRows: 5 } }));
    expect(calls[0].args[0]).toEqual({
      catalog: 'tpch',
      schema: 'tiny',
      table: 'nation',
      workflow: 'profile',
      parameters: { sampleRows: 5 },
      email: 'alice@example.com',
    });
    await service.runWorkflow(caller(), request());
    expect((calls[1].args[0] as MlAgentWorkflowSubmission).parameters).toEqual({});
  });

  it('run-workflow without a usable email claim (and not a service account) is a 403 claim_missing before any exchange', async () => {
    const notServiceAccounts = [{ client_id: 'other-client', azp: 'platform-frontend' }, { azp: 'platform-frontend' }, { clientId: 'x' }];
    for (const [email, extra] of [undefined, '', 'no-at-sign', 'two\nlines@x.y'].flatMap((e) => notServiceAccounts.map((x) => [e, x] as const))) {
      const { service, exchanged, calls, caller } = setup('exchange');
      const err = await service.runWorkflow(caller(principal({ email, ...extra })), request()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProblemException);
      expect([email, (err as ProblemException).getStatus(), (err as ProblemException).reason]).toEqual([email, 403, 'claim_missing']);
      expect(exchanged).toEqual([]);
      expect(calls).toEqual([]);
    }
  });

  it('ML_AGENT_URL unset: 503 before any exchange', async () => {
    const { service, exchanged, caller } = setup('exchange', { url: null });
    await expect(service.listCatalogs(caller())).rejects.toMatchObject({ reason: 'upstream_unavailable' });
    await expect(service.runWorkflow(caller(), request())).rejects.toMatchObject({ reason: 'upstream_unavailable' });
    expect(exchanged).toEqual([]);
  });

  it('a failed exchange is the exchange’s problem, and nothing is sent', async () => {
    const { service, calls, caller } = setup('exchange', { exchangeFails: new ProblemException(503, 'identity_provider_unavailable') });
    await expect(service.listTables(caller(), 'tpch', 'tiny')).rejects.toMatchObject({ reason: 'identity_provider_unavailable' });
    expect(calls).toEqual([]);
  });

  it('a service account (client_id or clientId claim equal to azp, no email) submits as its client id from the token', async () => {
    for (const marker of [{ client_id: 'ci-pipeline' }, { clientId: 'ci-pipeline' }]) {
      const { service, calls, caller } = setup('exchange');
      const sa = principal({ email: undefined, preferred_username: 'service-account-ci-pipeline', azp: 'ci-pipeline', ...marker });
      await service.runWorkflow(caller(sa), request({ email: 'mallory@evil.example' }));
      const sent = calls[0].args[0] as Record<string, unknown>;
      expect(sent.submittedBy).toEqual({ type: 'service_account', clientId: 'ci-pipeline' });
      expect(sent).not.toHaveProperty('email');
    }
    // A user with an email is submitted by email, whatever else the token says.
    const { service, calls, caller } = setup('exchange');
    await service.runWorkflow(caller(principal({ azp: 'ci-pipeline', client_id: 'ci-pipeline' })), request());
    expect(calls[0].args[0]).toMatchObject({ email: 'alice@example.com' });
    expect(calls[0].args[0]).not.toHaveProperty('submittedBy');
  });

  it('submitterEmail takes only a plausible email claim', () => {
    expect(submitterEmail(principal())).toBe('alice@example.com');
    expect(submitterEmail(principal({ email: ['a@b.c'] }))).toBeUndefined();
  });
});
