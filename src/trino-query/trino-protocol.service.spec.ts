import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { principalFromClaims } from '../auth/principal';
import { MetricsService } from '../common/metrics.service';
import type { AppConfig } from '../config/app-config';
import type { StateStore } from '../state/state-store';
import { QueryOwnership } from './query-ownership';
import { TrinoProtocolService, type ProtocolRequest } from './trino-protocol.service';
import { TrinoClient, type TrinoCall } from './trino.client';

const config = { trino: { url: 'http://trino:8080', userClaim: 'preferred_username', auth: 'none', audience: 'trino', timeoutMs: 5000 } } as AppConfig;
const alice = principalFromClaims({ sub: 'a-1', iss: 'http://idp/realms/p', exp: 2e9, preferred_username: 'alice' }, 'platform-bff');
const bob = principalFromClaims({ sub: 'b-1', iss: 'http://idp/realms/p', exp: 2e9, preferred_username: 'bob' }, 'platform-bff');

function setup() {
  const state = new Map<string, unknown>();
  const store = { setJson: async (k: string, v: unknown) => void state.set(k, v), getJson: async (k: string) => state.get(k) } as unknown as StateStore;
  const calls: TrinoCall[] = [];
  const client = new TrinoClient(config);
  client.send = async (call: TrinoCall) => {
    calls.push(call);
    // The owner must be known before the answer (and its nextUri) leaves the BFF.
    const body = JSON.stringify({
      id: 'q1',
      infoUri: 'http://10.1.2.3:8080/ui/query.html?q1',
      nextUri: 'http://10.1.2.3:8080/v1/statement/queued/q1/yab/1',
      stats: { state: 'QUEUED' },
      warnings: [],
    });
    return { status: 200, headers: { 'content-type': 'application/json', 'x-trino-set-catalog': 'tpch' }, body: Readable.from([Buffer.from(body)]) };
  };
  const metrics = new MetricsService();
  const service = new TrinoProtocolService(config, client, new QueryOwnership(store), metrics);
  const request = (principal = alice, headers: Record<string, string> = {}): ProtocolRequest => ({
    auth: { principal, token: 'jwt' },
    headers,
    publicBase: 'https://bff.example.com',
    signal: new AbortController().signal,
  });
  return { service, calls, state, metrics, request };
}

describe('TrinoProtocolService', () => {
  afterEach(() => jest.restoreAllMocks());

  it('submits as the token’s user, binds the owner, re-bases URIs and keeps protocol headers', async () => {
    const { service, calls, state, request } = setup();
    const answer = await service.submit(request(alice, { 'x-trino-catalog': 'tpch', authorization: 'Bearer jwt' }), 'SELECT 1');
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/v1/statement', body: 'SELECT 1', headers: { 'x-trino-catalog': 'tpch' }, caller: { user: 'alice' } });
    expect(calls[0].headers).not.toHaveProperty('authorization');
    expect(state.get('trino:query-owner:q1')).toEqual({ iss: alice.issuer, sub: 'a-1', user: 'alice' });
    expect(answer.headers['x-trino-set-catalog']).toBe('tpch');
    const body = JSON.parse(answer.body as string) as Record<string, string>;
    expect(body.nextUri).toBe('https://bff.example.com/v1/statement/queued/q1/yab/1');
    expect(body.infoUri).toBe('https://bff.example.com/ui/query.html?q1');
  });

  it('counts and logs a client-sent identity that differs from the token’s user', async () => {
    const { service, calls, metrics, request } = setup();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await service.submit(request(alice, { 'x-trino-user': 'admin', 'x-trino-original-user': 'root' }), 'SELECT 1');
    expect(calls[0].headers).not.toHaveProperty('x-trino-user');
    expect(calls[0].headers).not.toHaveProperty('x-trino-original-user');
    expect(calls[0].caller?.user).toBe('alice');
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ event: 'trino.impersonation_attempt', header: 'x-trino-user', claimed: 'admin', user: 'alice', sub: 'a-1' }),
      expect.any(String),
    );
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ event: 'trino.impersonation_attempt', header: 'x-trino-original-user', claimed: 'root' }),
      expect.any(String),
    );
    const text = await metrics.registry.getSingleMetricAsString('bff_trino_impersonation_attempts_total');
    expect(text).toContain('bff_trino_impersonation_attempts_total{header="x-trino-user"} 1');
  });

  it('refuses another user’s query without calling Trino', async () => {
    const { service, calls, request } = setup();
    await service.submit(request(alice), 'SELECT 1');
    await expect(service.follow(request(bob), 'queued', 'q1/yab/1', 'GET', {})).rejects.toMatchObject({ reason: 'not_found' });
    await expect(service.queryInfo(request(bob), 'q1')).rejects.toMatchObject({ reason: 'not_found' });
    await expect(service.cancelQuery(request(bob), 'q1')).rejects.toMatchObject({ reason: 'not_found' });
    expect(calls).toHaveLength(1);
  });
});
