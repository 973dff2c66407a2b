import { Logger } from '@nestjs/common';
import { MetricsService } from '../common/metrics.service';
import { ProblemException } from '../common/problem';
import type { AppConfig } from '../config/app-config';
import { startMlAgent, type MlAgentEmulator } from '../../sandbox/ml-agent';
import { startOidcIssuer, type OidcIssuer } from '../../sandbox/oidc-issuer';
import { startTrinoCoordinator, type TrinoCoordinator } from '../../sandbox/trino-coordinator';
import { MlAgentClient, MlAgentRefusal, type MlAgentWorkflowSubmission } from './ml-agent.client';
import { mlAgentReadiness } from './ml-agent.module';

/** The client's timeout: long enough for a cold first call on a loaded machine; the hang test uses its own short one. */
const TIMEOUT_MS = 10_000;
const HANG_TIMEOUT_MS = 400;
const config = (url: string | undefined) => ({ mlAgent: { url, audience: 'ml-agent', tokenMode: 'exchange' } }) as AppConfig;

/** The client against the real ML-Agent emulator (which queries a real Trino coordinator emulator). */
describe('MlAgentClient', () => {
  let issuer: OidcIssuer;
  let trino: TrinoCoordinator;
  let agent: MlAgentEmulator;
  let client: MlAgentClient;
  let bearer: string;
  const call = () => ({ credential: { get: async () => bearer }, requestId: 'req-42' });
  const submission: MlAgentWorkflowSubmission = {
    catalog: 'tpch',
    schema: 'tiny',
    table: 'nation',
    workflow: 'profile',
    parameters: {},
    email: 'alice@example.com',
  };

  beforeAll(async () => {
    Logger.overrideLogger(false); // the client's warnings are expected here
    issuer = await startOidcIssuer({ realm: 'platform' });
    trino = await startTrinoCoordinator();
    agent = await startMlAgent({ verify: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-ml-agent' }, trinoUrl: trino.url });
    client = new MlAgentClient(config(agent.url), TIMEOUT_MS, new MetricsService());
    bearer = await issuer.issueToken({ user: 'alice', claims: { aud: 'demo-ml-agent' } });
  });
  afterAll(async () => {
    await agent?.close();
    await trino?.close();
    await issuer?.close();
  });
  beforeEach(() => {
    agent.setFault('none');
    agent.clearRequests();
  });

  it('calls the documented paths with the bearer token and the request id, and checks the answers', async () => {
    expect(await client.listCatalogs(call())).toEqual({ catalogs: ['hive', 'sandbox', 'system', 'tpch'] });
    expect((await client.listSchemas(call(), 'tpch')).schemas).toContain('tiny');
    expect((await client.listTables(call(), 'tpch', 'tiny')).tables).toContain('nation');
    expect(await client.runWorkflow(call(), submission)).toEqual({
      runId: expect.stringMatching(/^run-/),
      status: 'COMPLETED',
      workflow: 'profile',
      table: 'tpch.tiny.nation',
      submittedBy: 'alice@example.com',
    });
    expect(agent.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /trino/catalogs',
      'GET /trino/schemas/tpch',
      'GET /trino/tables/tpch/tiny',
      'POST /run-workflow-trino',
    ]);
    for (const r of agent.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${bearer}`);
      expect(r.headers['x-request-id']).toBe('req-42');
    }
    expect(JSON.parse(agent.requests[3].body ?? '')).toEqual(submission);
  });

  it('no answer within the timeout is a 504 upstream_timeout', async () => {
    agent.setFault('hang'); // ML-Agent never answers: only the client's timeout ends the call
    const quick = new MlAgentClient(config(agent.url), HANG_TIMEOUT_MS, new MetricsService());
    const err = await quick.listCatalogs(call()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemException);
    expect([(err as ProblemException).getStatus(), (err as ProblemException).reason]).toEqual([504, 'upstream_timeout']);
  });

  it.each([
    ['error500', 502, 'upstream_unavailable'],
    ['reset', 502, 'upstream_unavailable'],
    ['malformed', 502, 'upstream_unavailable'],
  ] as const)('fault %s is a %d %s', async (fault, status, reason) => {
    agent.setFault(fault);
    const err = (await client.listCatalogs(call()).catch((e: unknown) => e)) as ProblemException;
    expect(err).toBeInstanceOf(ProblemException);
    expect([err.getStatus(), err.reason]).toEqual([status, reason]);
  });

  it('unreachable is a 502, unset is a 503', async () => {
    const closed = await startMlAgent({ verify: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-ml-agent' }, trinoUrl: trino.url });
    await closed.close();
    const gone = new MlAgentClient(config(closed.url), TIMEOUT_MS, new MetricsService());
    await expect(gone.listCatalogs(call())).rejects.toMatchObject({ reason: 'upstream_unavailable' });
    expect(((await gone.listCatalogs(call()).catch((e: unknown) => e)) as ProblemException).getStatus()).toBe(502);
    const unset = new MlAgentClient(config(undefined), TIMEOUT_MS, new MetricsService());
    expect(() => unset.assertConfigured()).toThrow(ProblemException);
    expect(((await unset.listCatalogs(call()).catch((e: unknown) => e)) as ProblemException).getStatus()).toBe(503);
    // The credential (a token exchange) is resolved only for a call that will be sent.
    const credential = { get: jest.fn(async () => bearer) };
    await expect(unset.runWorkflow({ credential, requestId: 'r' }, submission)).rejects.toMatchObject({ reason: 'upstream_unavailable' });
    expect(credential.get).not.toHaveBeenCalled();
  });

  it('ML-Agent not accepting the token (its 401) is a 502 upstream_error, not the caller’s 401', async () => {
    const wrongAudience = await issuer.issueToken({ user: 'alice', claims: { aud: 'platform-bff' } });
    const err = (await client.listCatalogs({ credential: { get: async () => wrongAudience }, requestId: 'r' }).catch((e: unknown) => e)) as ProblemException;
    expect([err.getStatus(), err.reason]).toEqual([502, 'upstream_error']);
    expect(JSON.stringify(err.body())).not.toContain(wrongAudience);
  });

  it('ML-Agent’s other 4xx pass through with status and body', async () => {
    const notFound = (await client.listTables(call(), 'tpch', 'nosuch').catch((e: unknown) => e)) as MlAgentRefusal;
    expect(notFound).toBeInstanceOf(MlAgentRefusal);
    expect(notFound.body('/x', 'req-1')).toEqual({
      type: 'urn:problem:bff:not_found',
      title: 'Not found',
      status: 404,
      reason: 'not_found',
      detail: expect.stringContaining('ML-Agent: line 1:'),
      instance: '/x',
      requestId: 'req-1',
      upstreamBody: { detail: expect.stringContaining("Schema 'nosuch' does not exist") },
    });

    // FastAPI validation errors: kept verbatim, and listed as field errors.
    const invalid = (await client.runWorkflow(call(), { ...submission, email: 'no-at-sign' }).catch((e: unknown) => e)) as MlAgentRefusal;
    expect(invalid.getStatus()).toBe(422);
    const body = invalid.body();
    expect(body.reason).toBe('upstream_error');
    expect(body.errors).toEqual([{ field: 'email', message: expect.stringContaining('not a valid email') }]);
    expect(body.upstreamBody).toEqual({ detail: [expect.objectContaining({ loc: ['body', 'email'], type: 'value_error' })] });
  });

  // The /health/ready check of the module, against the same emulator.
  it('mlAgentReadiness: up when reachable; degraded when unreachable or in forward mode (with the security warning)', async () => {
    expect(await mlAgentReadiness(agent.url, 'exchange')()).toEqual({ status: 'up' });
    const forward = await mlAgentReadiness(agent.url, 'forward')();
    expect(forward).toEqual({ status: 'degraded', detail: expect.stringContaining('security warning: ML_AGENT_TOKEN_MODE=forward') });
    const closed = await startMlAgent({ verify: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'demo-ml-agent' }, trinoUrl: trino.url });
    await closed.close();
    expect(await mlAgentReadiness(closed.url, 'exchange')()).toEqual({ status: 'degraded', detail: 'ML-Agent unreachable' });
    expect((await mlAgentReadiness(undefined, 'forward')()).detail).toContain('ML_AGENT_URL is not set');
  });
});
