import { loadConfig } from '../../src/config/load-config';
import { startTestBff, type TestBff } from '../support/app';
import { composeResolved, environmentOf, type Json, parseProperties, readDocker, yamlFile } from './deploy-files';

/**
 * docker/envoy/envoy.yaml: the ext_authz filter in front of Trino (issue 10 items 2 and 5).
 * No Envoy binary runs here, so the checks are (1) the configuration itself, read with a YAML
 * parser, and (2) the BFF's real answers to the exact check requests this configuration makes
 * Envoy send (Envoy's ext_authz http_service: same method, path_prefix + original path and query, no body, only
 * the allowed headers), with the upstream request derived from them the way Envoy documents it.
 */

const envoy = yamlFile('envoy/envoy.yaml');
const listener = (envoy.static_resources.listeners as Json[])[0];
const hcm = listener.filter_chains[0].filters.find((f: Json) => f.name === 'envoy.filters.network.http_connection_manager').typed_config as Json;
const filters = hcm.http_filters as Json[];
const extAuthz = filters.find((f) => f.name === 'envoy.filters.http.ext_authz')!.typed_config as Json;
const clusters = envoy.static_resources.clusters as Json[];
const endpointOf = (name: string) => {
  const cluster = clusters.find((c) => c.name === name);
  if (!cluster) throw new Error(`no cluster ${name}`);
  return cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address as { address: string; port_value: number };
};
const exact = (list: Json | undefined): string[] => ((list?.patterns ?? []) as Json[]).map((p) => p.exact as string);
const routes = hcm.route_config.virtual_hosts[0].routes as Json[];

describe('docker/envoy/envoy.yaml: the configuration', () => {
  it('ext_authz calls the BFF at path_prefix /api/validate and never fails open', () => {
    expect(extAuthz['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    expect(extAuthz.http_service.path_prefix).toBe('/api/validate');
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(extAuthz.with_request_body).toBeUndefined();
    // ext_authz runs before the router.
    expect(filters.map((f) => f.name)).toEqual(['envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
  });

  it('sends Authorization to the BFF, copies only x-trino-user back onto the upstream request', () => {
    expect(exact(extAuthz.allowed_headers)).toContain('authorization');
    expect(exact(extAuthz.http_service.authorization_response.allowed_upstream_headers)).toEqual(['x-trino-user']);
    expect(exact(extAuthz.http_service.authorization_response.allowed_client_headers)).toContain('www-authenticate');
    // The deprecated request-level list is not used.
    expect(extAuthz.http_service.authorization_request?.allowed_headers).toBeUndefined();
  });

  it('its clusters are the compose services: the BFF on its PORT, Trino on its plain-HTTP port', () => {
    const compose = composeResolved();
    const bff = loadConfig(environmentOf(compose.services.bff));
    const authz = endpointOf(extAuthz.http_service.server_uri.cluster);
    expect(authz).toEqual({ address: 'bff', port_value: bff.port });
    expect(extAuthz.http_service.server_uri.uri).toBe(`http://bff:${bff.port}`);
    const trino = parseProperties(readDocker('trino/config.properties'));
    expect(endpointOf('trino')).toEqual({ address: 'trino', port_value: Number(trino.get('http-server.http.port')) });
    // That port trusts X-Trino-User (Trino's insecure authenticator), which only Envoy sets.
    expect(trino.get('http-server.authentication.allow-insecure-over-http')).toBe('true');
    expect(compose.services.envoy.networks).toEqual(expect.arrayContaining(['trino']));
  });

  it('the client token never reaches Trino; only /v1/info (public in Trino) skips the check', () => {
    for (const route of routes) {
      expect(route.route.cluster).toBe('trino');
      expect(route.request_headers_to_remove).toContain('authorization');
      const disabled = route.typed_per_filter_config?.['envoy.filters.http.ext_authz']?.disabled === true;
      expect(disabled).toBe(route.match.path === '/v1/info');
    }
    expect(routes.map((r) => r.match.prefix ?? r.match.path)).toEqual(['/v1/info', '/v1/']);
    expect(hcm.use_remote_address).toBe(true);
  });
});

describe('docker/envoy/envoy.yaml: the check requests it makes, answered by the real BFF', () => {
  let bff: TestBff;
  const prefix = extAuthz.http_service.path_prefix as string;
  const forwarded = new Set(['authorization', ...exact(extAuthz.allowed_headers)]);
  const upstreamAllowed = exact(extAuthz.http_service.authorization_response.allowed_upstream_headers);
  const clientAllowed = exact(extAuthz.http_service.authorization_response.allowed_client_headers);

  beforeAll(async () => {
    bff = await startTestBff();
  });
  afterAll(async () => {
    await bff?.close();
  });

  /** What Envoy does with one client request: the check, then the upstream request or the denial. */
  async function throughEnvoy(
    method: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; toClient: Record<string, string>; upstream: Record<string, string> | undefined }> {
    const checkHeaders: Record<string, string> = { 'content-length': '0' };
    for (const [k, v] of Object.entries(headers)) if (forwarded.has(k.toLowerCase())) checkHeaders[k.toLowerCase()] = v;
    const check = await fetch(`${bff.url}${prefix}${path}`, { method, headers: checkHeaders });
    await check.arrayBuffer();
    const route = routes.find((r) => (r.match.path ? path.split('?')[0] === r.match.path : path.startsWith(r.match.prefix)))!;
    if (check.status !== 200) {
      const toClient = Object.fromEntries([...check.headers].filter(([k]) => clientAllowed.includes(k)));
      return { status: check.status, toClient, upstream: undefined };
    }
    const upstream: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) upstream[k.toLowerCase()] = v;
    for (const name of upstreamAllowed) {
      const v = check.headers.get(name);
      if (v !== null) upstream[name] = v;
    }
    for (const name of (check.headers.get('x-envoy-auth-headers-to-remove') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      delete upstream[name];
    for (const name of route.request_headers_to_remove as string[]) delete upstream[name];
    return { status: 200, toClient: {}, upstream };
  }

  it('a valid token: Trino gets X-Trino-User from the token, and neither the token nor smuggled identity headers', async () => {
    const alice = await bff.token('alice');
    const r = await throughEnvoy('POST', '/v1/statement', {
      authorization: `Bearer ${alice}`,
      'x-trino-user': 'admin',
      'x-trino-original-user': 'admin',
      'x-trino-source': 'trino-cli',
    });
    expect(r.status).toBe(200);
    expect(r.upstream).toEqual({ 'x-trino-user': 'alice', 'x-trino-source': 'trino-cli' });
  });

  it('nextUri polls are checked the same way (method and query travel with the path)', async () => {
    const admin = await bff.token('admin');
    const r = await throughEnvoy('GET', '/v1/statement/executing/20250101_120000_00001_abcde/y1a2b3/1?maxWait=1s', { authorization: `Bearer ${admin}` });
    expect(r.status).toBe(200);
    expect(r.upstream!['x-trino-user']).toBe('admin');
    const del = await throughEnvoy('DELETE', '/v1/statement/executing/20250101_120000_00001_abcde/y1a2b3/1', { authorization: `Bearer ${admin}` });
    expect(del.status).toBe(200);
  });

  it('a token in the access-token query parameter is seen by the BFF (it is part of :path)', async () => {
    const alice = await bff.token('alice');
    const r = await throughEnvoy('GET', `/v1/query/20250101_120000_00001_abcde?access-token=${alice}`, {});
    expect(r.status).toBe(200);
    expect(r.upstream!['x-trino-user']).toBe('alice');
  });

  it('no token, an expired or a foreign token: 401 to the client with WWW-Authenticate, Trino never called', async () => {
    const none = await throughEnvoy('POST', '/v1/statement', {});
    expect(none.status).toBe(401);
    expect(none.upstream).toBeUndefined();
    expect(none.toClient['www-authenticate']).toMatch(/^Bearer/);
    expect(none.toClient['content-type']).toMatch(/application\/problem\+json/);
    const expired = await throughEnvoy('POST', '/v1/statement', { authorization: `Bearer ${await bff.token('alice', { expiresInS: -120 })}` });
    expect(expired.status).toBe(401);
    const foreign = await throughEnvoy('POST', '/v1/statement', { authorization: `Bearer ${await bff.token('alice', { claims: { aud: 'account' } })}` });
    expect([401, 403]).toContain(foreign.status);
    expect(foreign.upstream).toBeUndefined();
  });
});
