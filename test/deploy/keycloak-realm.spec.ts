import { demoUsers } from '../../sandbox/oidc-issuer';
import { sandboxClients } from '../../sandbox/index';
import { ROLE_ADMIN, ROLE_REGULAR } from '../../src/auth/access-policy';
import { loadConfig } from '../../src/config/load-config';
import { composeRaw, composeResolved, environmentOf, type Json, readDocker, variablesIn, yamlFile } from './deploy-files';

/**
 * docker/keycloak/realm.json against what the BFF's configuration (the compose BFF environment,
 * through loadConfig) expects of its identity provider, and against the sandbox's client set
 * (sandbox/index.ts sandboxClients(), which the tests and sandbox mode use in its place), so that
 * token exchange works on Keycloak's first boot. Keycloak itself is not run here (no Docker).
 */

const realm = JSON.parse(readDocker('keycloak/realm.json')) as Json;
const clients = realm.clients as Json[];
const client = (id: string) => {
  const c = clients.find((x) => x.clientId === id);
  if (!c) throw new Error(`realm.json has no client ${id}`);
  return c;
};
/** Audiences an access token issued to this client carries through its audience mappers. */
const audiencesOf = (c: Json): string[] =>
  ((c.protocolMappers ?? []) as Json[])
    .filter((m) => m.protocolMapper === 'oidc-audience-mapper' && m.config['access.token.claim'] === 'true')
    .map((m) => m.config['included.client.audience'] as string);
const serviceAccountUser = (clientId: string) => (realm.users as Json[]).find((u) => u.serviceAccountClientId === clientId);

const compose = composeResolved();
const bffEnv = environmentOf(compose.services.bff);
const config = loadConfig(bffEnv);
const rawBffEnv = environmentOf((composeRaw().services as Json).bff);
const keycloakEnv = environmentOf((composeRaw().services as Json).keycloak);

describe('docker/keycloak/realm.json', () => {
  it('is the realm the BFF is configured for, with TLS required for external clients', () => {
    expect(realm.realm).toBe(config.keycloak.realm);
    expect(realm.enabled).toBe(true);
    expect(realm.sslRequired).toBe('external');
  });

  it('every ${PLACEHOLDER} is resolved by Keycloak from an environment variable the compose keycloak service sets', () => {
    const placeholders = [...readDocker('keycloak/realm.json').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}/g)].map((m) => m[1]);
    expect(placeholders.length).toBeGreaterThan(0);
    for (const name of new Set(placeholders)) {
      if (keycloakEnv[name] === undefined) throw new Error(`realm.json uses \${${name}}, which the keycloak service does not set`);
    }
  });

  it('the BFF client: confidential, standard token exchange enabled, its secret the one the BFF is given', () => {
    const bff = client(config.clientId);
    expect(bff.enabled).toBe(true);
    expect(bff.publicClient).toBe(false);
    expect(bff.bearerOnly).not.toBe(true);
    expect(bff.clientAuthenticatorType).toBe('client-secret');
    expect(bff.attributes['standard.token.exchange.enabled']).toBe('true');
    // Client credentials for the BFF's own service account.
    expect(bff.serviceAccountsEnabled).toBe(true);
    // The same docker/.env variable feeds Keycloak's import and the BFF.
    const realmVar = /^\$\{([A-Z_]+)\}$/.exec(bff.secret)?.[1];
    expect(realmVar).toBeDefined();
    expect(variablesIn(keycloakEnv[realmVar!]).map((v) => v.name)).toEqual(variablesIn(rawBffEnv.BFF_CLIENT_SECRET).map((v) => v.name));
  });

  it('every downstream audience the BFF exchanges for exists, and is "available" in the BFF\'s tokens (Keycloak V2 only narrows)', () => {
    const downstream = [config.trinoGateway.audience, config.mlAgent.audience, config.trino.audience].map((a) => `${config.workspaceId}-${a}`);
    expect(downstream).toEqual(['demo-trino-gw', 'demo-ml-agent', 'demo-trino']);
    for (const id of downstream) {
      const c = client(id);
      expect(c.enabled).toBe(true);
      expect(c.publicClient).toBe(false);
      // An audience, not a way in: no password grant, no service account.
      expect(c.directAccessGrantsEnabled).toBe(false);
      expect(c.serviceAccountsEnabled).toBe(false);
    }
    // Available through the BFF client's optional client scopes (one per audience, named after it), which only
    // its exchanges ask for: never through its own mappers, which would put them into its client-credentials token.
    const bff = client(config.clientId);
    expect(audiencesOf(bff).filter((a) => downstream.includes(a))).toEqual([]);
    const scopes = realm.clientScopes as Json[];
    for (const id of downstream) {
      expect(bff.optionalClientScopes).toContain(id);
      expect(bff.defaultClientScopes ?? []).not.toContain(id);
      const scope = scopes.find((x) => x.name === id);
      expect(scope && audiencesOf(scope)).toEqual([id]);
    }
  });

  it('declares the default client scopes Keycloak would create (a realm that lists clientScopes gets no others)', () => {
    const names = (realm.clientScopes as Json[]).map((x) => x.name as string);
    expect(names).toEqual(expect.arrayContaining(['profile', 'email', 'roles', 'web-origins', 'acr', 'basic', 'offline_access']));
    expect(realm.defaultDefaultClientScopes).toEqual(['profile', 'email', 'roles', 'web-origins', 'acr', 'basic']);
    for (const name of [...realm.defaultDefaultClientScopes, ...realm.defaultOptionalClientScopes]) expect(names).toContain(name);
  });

  it('user tokens carry the BFF in aud (the requester must be in the subject token\'s aud), never only "account"', () => {
    for (const aud of config.auth.audiences) expect(aud).not.toBe('account');
    const frontend = client('platform-frontend');
    expect(frontend.publicClient).toBe(true);
    expect(frontend.attributes['pkce.code.challenge.method']).toBe('S256');
    expect(audiencesOf(frontend)).toEqual(expect.arrayContaining([config.clientId]));
    expect(config.auth.audiences.some((a) => audiencesOf(frontend).includes(a))).toBe(true);
    // The BFF's browser login client (MLflow UI sessions) also issues tokens the BFF accepts and may exchange.
    const login = client(bffEnv.BFF_LOGIN_CLIENT_ID);
    expect(login.publicClient).toBe(false);
    expect(login.standardFlowEnabled).toBe(true);
    expect(login.redirectUris).toContain(`${config.publicUrl}/auth/callback`);
    expect(audiencesOf(login)).toEqual(expect.arrayContaining([config.clientId]));
    expect(variablesIn(keycloakEnv[/^\$\{([A-Z_]+)\}$/.exec(login.secret)![1]]).map((v) => v.name)).toEqual(
      variablesIn(rawBffEnv.BFF_LOGIN_CLIENT_SECRET).map((v) => v.name),
    );
  });

  it('mirrors the sandbox client set (sandboxClients): confidentiality, token exchange, service accounts and roles, audience mappers, login flow', () => {
    const expected = sandboxClients(config.workspaceId, 'secret');
    expect(clients.map((c) => c.clientId).sort()).toEqual(expected.map((c) => c.clientId).sort());
    for (const s of expected) {
      const c = client(s.clientId);
      if (s.secret !== undefined) expect([s.clientId, c.publicClient]).toEqual([s.clientId, false]);
      else if (s.audienceMappers) expect([s.clientId, c.publicClient]).toEqual([s.clientId, true]);
      // An audience-only client of the sandbox: in Keycloak it may be confidential, but gets no token by itself.
      else expect([s.clientId, c.directAccessGrantsEnabled, c.serviceAccountsEnabled]).toEqual([s.clientId, false, false]);
      expect([s.clientId, c.attributes?.['standard.token.exchange.enabled'] === 'true']).toEqual([s.clientId, s.standardTokenExchange === true]);
      expect([s.clientId, c.serviceAccountsEnabled === true]).toEqual([s.clientId, s.serviceAccountRoles !== undefined]);
      if (s.serviceAccountRoles) {
        const user = serviceAccountUser(s.clientId);
        expect(user).toBeDefined();
        expect([...(user!.realmRoles as string[])].sort()).toEqual([...s.serviceAccountRoles].sort());
      }
      expect(audiencesOf(c)).toEqual(expect.arrayContaining(s.audienceMappers ?? []));
      if (s.redirectUris) expect(c.standardFlowEnabled).toBe(true);
      if (s.pkceMethod) expect(c.attributes['pkce.code.challenge.method']).toBe(s.pkceMethod);
    }
  });

  it('the OTEL collector service account may send traces (MLFLOW_TRACE_CLIENTS), with the TRACE_WRITER role', () => {
    expect(config.mlflow.traceClients).toEqual(['otel-collector']);
    for (const id of config.mlflow.traceClients) {
      const c = client(id);
      expect(c.publicClient).toBe(false);
      expect(c.serviceAccountsEnabled).toBe(true);
      expect(c.standardFlowEnabled).toBe(false);
      expect(audiencesOf(c)).toEqual(expect.arrayContaining([config.clientId]));
      expect(serviceAccountUser(id)!.realmRoles).toContain('TRACE_WRITER');
    }
  });

  it('defines the roles the BFF authorizes with (REGULAR, ADMIN) and every role a user or service account is given', () => {
    const roles = (realm.roles.realm as Json[]).map((r) => r.name as string);
    expect(roles).toEqual(expect.arrayContaining([ROLE_REGULAR, ROLE_ADMIN, 'TRACE_WRITER']));
    for (const u of realm.users as Json[]) for (const r of (u.realmRoles ?? []) as string[]) expect(roles).toContain(r);
    for (const group of Object.keys(JSON.parse(bffEnv.MLFLOW_GROUP_PERMISSIONS) as Record<string, string>)) {
      if (group.startsWith('/')) expect((realm.groups as Json[]).map((g) => `/${g.name}`)).toContain(group);
      else expect(roles).toContain(group);
    }
  });

  it('has the demo users of the sandbox (same ids, emails, roles, groups), with a password from docker/.env', () => {
    const humans = (realm.users as Json[]).filter((u) => !u.serviceAccountClientId);
    const demo = demoUsers();
    expect(humans.map((u) => u.username).sort()).toEqual(demo.map((u) => u.username).sort());
    for (const d of demo) {
      const u = humans.find((x) => x.username === d.username)!;
      expect(u.id).toBe(d.sub);
      expect(u.email).toBe(d.email);
      expect(u.enabled).toBe(true);
      expect([...(u.realmRoles as string[])].sort()).toEqual([...d.roles].sort());
      expect(u.groups).toEqual(d.groups);
      expect(u.credentials).toEqual([{ type: 'password', value: '${DEMO_USER_PASSWORD}', temporary: false }]);
    }
  });

  it('tokens the BFF exchanges carry what Trino and the Trino Gateway read: preferred_username and platform_roles', () => {
    const gw = yamlFile('trino-gateway/config.yaml').authentication.oauth;
    const bff = client(config.clientId);
    const roleClaim = ((bff.protocolMappers ?? []) as Json[]).find((m) => m.protocolMapper === 'oidc-usermodel-realm-role-mapper');
    expect(roleClaim?.config['claim.name']).toBe(gw.privilegesField);
    expect(roleClaim?.config['access.token.claim']).toBe('true');
    expect(roleClaim?.config.multivalued).toBe('true');
    // preferred_username comes from Keycloak's default "profile" scope, which every client keeps.
    for (const c of clients)
      expect([c.clientId, c.defaultClientScopes ?? realm.defaultDefaultClientScopes]).toEqual([c.clientId, expect.arrayContaining(['profile'])]);
    expect(gw.userIdField).toBe(config.trino.userClaim);
  });
});
