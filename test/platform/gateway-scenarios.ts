import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.service';
import type { TestBff } from '../support/app';
import { bearer, type Json } from '../support/trino-raw';

/**
 * One scenario list for the BFF's Trino Gateway admin routes, run against two targets: the sandbox's
 * gateway emulator with the sandbox issuer, and the real Trino Gateway (docker/trino-gateway's config,
 * on PostgreSQL) with a real Keycloak (docker/keycloak/realm.json), in trino-gateway.spec.ts. What the
 * BFF's client observes must agree; a scenario that passes on one target and fails on the other is an
 * emulator (or BFF) defect. Both gateways start with no backend and the shipped routing rules.
 */
export interface GatewayTarget {
  /** A BFF pointed at the target's identity provider and gateway. */
  bff: () => TestBff;
  /** A user's access token for the BFF, from the target's identity provider (password login). */
  token: (user: string) => Promise<string>;
  /**
   * A BFF of the same gateway whose identity provider is unreachable, with BREAK_GLASS_USERS holding
   * BREAK_GLASS_LOGIN and TRINO_GATEWAY_BASIC_AUTH the gateway's break-glass account.
   */
  breakGlassBff: () => TestBff;
  /** The routing rules of docker/trino-gateway/routing-rules.yaml, as the gateway answers them. */
  shippedRules: () => Json[];
}

export const BREAK_GLASS_LOGIN = { user: 'ops', password: 'correct horse battery staple' };

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

async function call(bff: TestBff, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${bff.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Json | Json[] | string = text;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as Json };
}

/** Defines the scenarios (jest `it`s, in order: later ones build on earlier ones) for one target; call inside a describe. */
export function gatewayScenarios(target: GatewayTarget): void {
  const tokens: Record<string, string> = {};
  const audit: AuditRecord[] = [];
  const as = (user: string) => bearer(tokens[user]);
  const get = (user: string, path: string) => call(target.bff(), 'GET', path, as(user));
  const post = (user: string, path: string, body?: unknown) => call(target.bff(), 'POST', path, as(user), body);
  const names = (list: Json) => (list as unknown as Json[]).map((b) => b.name as string).sort();
  const PROXY = 'https://trino-a.example.com:8443';

  beforeAll(async () => {
    for (const user of ['alice', 'admin', 'viewer']) tokens[user] = await target.token(user);
    target
      .bff()
      .app.get(AuditLog)
      .subscribe((e) => audit.push(e));
  });
  beforeEach(() => {
    audit.length = 0;
  });

  it('ADMIN adds a backend (the gateway’s defaults filled in); a REGULAR user lists it; adding it again is 409', async () => {
    const added = await post('admin', '/trino/gateway/backend/modify/add', { name: 'trino-a', proxyTo: `${PROXY}/` });
    expect(added).toEqual({ status: 200, body: { name: 'trino-a', proxyTo: `${PROXY}/`, active: true, routingGroup: 'adhoc', externalUrl: `${PROXY}/` } });
    // Stored without the trailing slash.
    const stored = { name: 'trino-a', proxyTo: PROXY, active: true, routingGroup: 'adhoc', externalUrl: PROXY };
    expect(await get('alice', '/trino/gateway/backend/all')).toEqual({ status: 200, body: [stored] });
    expect(await get('alice', '/trino/gateway/backend/active')).toEqual({ status: 200, body: [stored] });
    const again = await post('admin', '/trino/gateway/backend/modify/add', { name: 'trino-a', proxyTo: PROXY });
    expect([again.status, again.body.reason]).toEqual([409, 'conflict']);
    expect(audit.map((e) => [e.action, e.actor.username, e.target, e.outcome])).toEqual([
      ['trino-gateway.backend.add', 'admin', 'trino-a', 'success'],
      ['trino-gateway.backend.add', 'admin', 'trino-a', 'failure'],
    ]);
  });

  it('ADMIN updates, deactivates and activates it; the active list follows', async () => {
    const updated = await post('admin', '/trino/gateway/backend/modify/update', {
      name: 'trino-a',
      proxyTo: PROXY,
      routingGroup: 'etl',
      externalUrl: 'https://a.example.com',
    });
    expect(updated).toEqual({ status: 200, body: { name: 'trino-a', proxyTo: PROXY, active: true, routingGroup: 'etl', externalUrl: 'https://a.example.com' } });
    expect(await post('admin', '/trino/gateway/backend/deactivate/trino-a')).toEqual({ status: 200, body: { name: 'trino-a', action: 'deactivated' } });
    expect((await get('alice', '/trino/gateway/backend/active')).body).toEqual([]);
    expect((await get('alice', '/trino/gateway/backend/all')).body).toEqual([
      { name: 'trino-a', proxyTo: PROXY, active: false, routingGroup: 'etl', externalUrl: 'https://a.example.com' },
    ]);
    expect(await post('admin', '/trino/gateway/backend/activate/trino-a')).toEqual({ status: 200, body: { name: 'trino-a', action: 'activated' } });
    expect(names((await get('alice', '/trino/gateway/backend/active')).body)).toEqual(['trino-a']);
  });

  it('activate, deactivate and delete of an unknown backend: 404, audited as a failure, never a success', async () => {
    for (const path of ['/trino/gateway/backend/activate/nope', '/trino/gateway/backend/deactivate/nope']) {
      const res = await post('admin', path);
      expect([path, res.status, res.body.reason]).toEqual([path, 404, 'not_found']);
    }
    const deleted = await post('admin', '/trino/gateway/backend/modify/delete', { name: 'nope' });
    expect([deleted.status, deleted.body.reason]).toEqual([404, 'not_found']);
    expect(audit.map((e) => [e.action, e.target, e.outcome, e.reason])).toEqual([
      ['trino-gateway.backend.activate', 'nope', 'failure', 'not_found'],
      ['trino-gateway.backend.deactivate', 'nope', 'failure', 'not_found'],
      ['trino-gateway.backend.delete', 'nope', 'failure', 'not_found'],
    ]);
  });

  it('a REGULAR user’s write is refused by the BFF (403) and changes nothing', async () => {
    for (const [path, body] of [
      ['/trino/gateway/backend/modify/add', { name: 'trino-b', proxyTo: PROXY }],
      ['/trino/gateway/backend/deactivate/trino-a', undefined],
      ['/trino/gateway/backend/modify/delete', { name: 'trino-a' }],
      ['/trino/webapp/updateRoutingRules', { name: 'etl', condition: 'true' }],
    ] as const) {
      const res = await post('alice', path, body);
      expect([path, res.status, res.body.reason]).toEqual([path, 403, 'insufficient_role']);
    }
    expect(names((await get('admin', '/trino/gateway/backend/active')).body)).toEqual(['trino-a']);
  });

  it('routing rules: the gateway itself takes ADMIN from the token’s claims (admin reads them, alice gets 403)', async () => {
    expect(await get('admin', '/trino/webapp/getRoutingRules')).toEqual({ status: 200, body: target.shippedRules() });
    const alice = await get('alice', '/trino/webapp/getRoutingRules');
    expect([alice.status, alice.body.reason]).toEqual([403, 'insufficient_role']);
  });

  it('a user with no realm role: the gateway does not accept the token (the BFF answers 502)', async () => {
    const res = await get('viewer', '/trino/gateway/backend/all');
    expect([res.status, res.body.reason]).toEqual([502, 'upstream_error']);
  });

  it('ADMIN replaces a routing rule by name; an unknown name is 404 and changes nothing', async () => {
    const [shipped] = target.shippedRules();
    const changed = { ...shipped, description: 'changed by the platform tier', priority: 5 };
    const res = await post('admin', '/trino/webapp/updateRoutingRules', changed);
    expect(res).toEqual({ status: 200, body: [changed] });
    const unknown = await post('admin', '/trino/webapp/updateRoutingRules', { ...shipped, name: 'nope' });
    expect([unknown.status, unknown.body.reason]).toEqual([404, 'not_found']);
    expect((await post('admin', '/trino/webapp/updateRoutingRules', shipped)).body).toEqual(target.shippedRules());
  });

  it('break-glass: with Keycloak unreachable, the BFF reaches the gateway with its presetUsers account', async () => {
    const bff = target.breakGlassBff();
    const login = basic(BREAK_GLASS_LOGIN.user, BREAK_GLASS_LOGIN.password);
    expect(names((await call(bff, 'GET', '/trino/gateway/backend/all', login)).body)).toEqual(['trino-a']);
    expect(await call(bff, 'POST', '/trino/gateway/backend/deactivate/trino-a', login)).toEqual({ status: 200, body: { name: 'trino-a', action: 'deactivated' } });
    expect((await call(bff, 'GET', '/trino/gateway/backend/active', login)).body).toEqual([]);
    expect(await call(bff, 'GET', '/trino/webapp/getRoutingRules', login)).toEqual({ status: 200, body: target.shippedRules() });
    expect(await call(bff, 'POST', '/trino/gateway/backend/activate/trino-a', login)).toEqual({ status: 200, body: { name: 'trino-a', action: 'activated' } });
    const wrong = await call(bff, 'GET', '/trino/gateway/backend/all', basic(BREAK_GLASS_LOGIN.user, 'wrong'));
    expect([wrong.status, wrong.body.reason]).toEqual([401, 'token_invalid']);
  });

  it('ADMIN deletes the backend; deleting it again is 404', async () => {
    expect(await post('admin', '/trino/gateway/backend/modify/delete', { name: 'trino-a' })).toEqual({ status: 200, body: { name: 'trino-a', action: 'deleted' } });
    expect((await get('alice', '/trino/gateway/backend/all')).body).toEqual([]);
    const again = await post('admin', '/trino/gateway/backend/modify/delete', { name: 'trino-a' });
    expect([again.status, again.body.reason]).toEqual([404, 'not_found']);
  });
}
