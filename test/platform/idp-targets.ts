import { randomBytes } from 'node:crypto';
import { startSandbox, SANDBOX_CLIENT_ID, SANDBOX_FRONTEND_CLIENT_ID, SANDBOX_LOGIN_CLIENT_ID, SANDBOX_REALM, type Sandbox } from '../../sandbox/index';
import { freePort } from '../support/net';
import { startKeycloak, type RealKeycloak } from '../support/platform/keycloak';
import { addWorkspace } from '../support/platform/keycloak-workspace';
import type { Json } from './keycloak-scenarios';

/**
 * One identity provider the Keycloak scenarios run against: the sandbox issuer (sandbox/oidc-issuer.ts)
 * or a real Keycloak with docker/keycloak/realm.json. The scenarios only use what this interface gives,
 * so that both are driven the same way; what differs is how an operator (the test) changes the realm.
 */
export interface IdpTarget {
  kind: 'sandbox' | 'keycloak';
  /** KEYCLOAK_URL */
  url: string;
  realm: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** The workspace the BFF runs for (not the demo one). */
  workspaceId: string;
  /** The BFF's env keys for this identity provider. */
  env: Record<string, string>;
  /** A demo user's password. */
  password(user: string): string;
  /** A service account's client secret (otel-collector, ci-pipeline). */
  clientSecret(clientId: string): string;
  /** A new signing key becomes the active one; the previous one is removed. Returns the new kid. */
  rotateSigningKey(): Promise<string>;
  /** Lets the BFF's browser login client redirect to this URI (an operator registers the deployment's callback). */
  allowLoginRedirect(uri: string): Promise<void>;
  /** Access tokens of the BFF's browser login client live this long (undefined: the realm's default again). */
  setLoginTokenLifespan(seconds: number | undefined): Promise<void>;
  /** Refresh grants of the BFF's browser login client that reached the identity provider so far, refused ones included. */
  refreshGrants(): Promise<number>;
  /** The port the realm's back-channel logout URL points at (start BFF replica A on it). */
  backchannelPort: number;
  /** Points a client's back-channel logout URL elsewhere (an operator's change of the client). */
  setBackchannelLogoutUrl(clientId: string, url: string): Promise<void>;
  /** Ends every session of a user as an admin does (Keycloak: POST /admin/realms/{realm}/users/{id}/logout). */
  signOutUser(sub: string): Promise<void>;
  /** The sandbox to start in-process BFFs with (its emulators are unused by the Keycloak target). */
  sandbox: Sandbox;
  stop(): Promise<void>;
}

export const SCENARIO_WORKSPACE = 'acme';

/** Keycloak's event types of a refresh grant, granted and refused. */
const REFRESH_EVENTS = ['REFRESH_TOKEN', 'REFRESH_TOKEN_ERROR'];

export async function sandboxTarget(workspaceId = SCENARIO_WORKSPACE): Promise<IdpTarget> {
  const sandbox = await startSandbox({ workspaceId });
  const issuer = sandbox.issuer;
  // As the realm file configures it: the clients whose tokens the BFF serves post their logouts to the BFF.
  const backchannelPort = await freePort();
  for (const id of [SANDBOX_FRONTEND_CLIENT_ID, SANDBOX_LOGIN_CLIENT_ID]) {
    issuer.clients.get(id)!.backchannelLogoutUrl = `http://127.0.0.1:${backchannelPort}/auth/backchannel-logout`;
  }
  return {
    kind: 'sandbox',
    url: issuer.url,
    realm: SANDBOX_REALM,
    issuer: issuer.issuer,
    tokenEndpoint: issuer.tokenEndpoint,
    jwksUri: issuer.jwksUri,
    workspaceId,
    env: { ...sandbox.groups[0].env },
    password: (user) => issuer.users.find((u) => u.username === user)!.password,
    clientSecret: (id) => issuer.clients.get(id)!.secret!,
    async rotateSigningKey() {
      const old = issuer.currentKid;
      const kid = await issuer.rotateKeys();
      issuer.withdrawKey(old);
      return kid;
    },
    allowLoginRedirect: async (uri) => {
      issuer.clients.get(SANDBOX_LOGIN_CLIENT_ID)!.redirectUris!.push(uri);
    },
    setLoginTokenLifespan: async (seconds) => {
      issuer.clients.get(SANDBOX_LOGIN_CLIENT_ID)!.accessTokenLifespanS = seconds;
    },
    backchannelPort,
    signOutUser: (sub) => issuer.logoutUser(sub),
    setBackchannelLogoutUrl: async (clientId, url) => {
      issuer.clients.get(clientId)!.backchannelLogoutUrl = url;
    },
    // The scenarios run one at a time, and only the BFF's browser sessions refresh.
    refreshGrants: async () => issuer.stats.grants.refresh_token ?? 0,
    sandbox,
    stop: () => sandbox.close(),
  };
}

export async function keycloakTarget(workspaceId = SCENARIO_WORKSPACE): Promise<IdpTarget & { keycloak: RealKeycloak }> {
  const backchannelPort = await freePort();
  const keycloak = await startKeycloak({ backchannelLogoutUrl: `http://127.0.0.1:${backchannelPort}/auth/backchannel-logout` });
  const sandbox = await startSandbox({ workspaceId });
  await addWorkspace(keycloak, workspaceId);
  const { secrets, admin } = keycloak;
  const clientUuid = async (clientId: string) => {
    const res = await admin.call<Array<{ id: string }>>('GET', `/clients?clientId=${encodeURIComponent(clientId)}`);
    return res.body[0].id;
  };
  const loginClient = await clientUuid(SANDBOX_LOGIN_CLIENT_ID);
  // The realm records its refreshes (an operator's choice; the shipped realm records none), so that the test counts them.
  const events = await admin.call('PUT', '/events/config', { eventsEnabled: true, enabledEventTypes: REFRESH_EVENTS, eventsExpiration: 3600 });
  if (events.status !== 204) throw new Error(`enabling the realm's events: ${events.status}`);
  const updateLoginClient = async (change: (rep: Json) => void) => {
    const rep = (await admin.call<Json>('GET', `/clients/${loginClient}`)).body;
    change(rep);
    const res = await admin.call('PUT', `/clients/${loginClient}`, rep);
    if (res.status !== 204) throw new Error(`updating ${SANDBOX_LOGIN_CLIENT_ID}: ${res.status}`);
  };
  return {
    kind: 'keycloak',
    keycloak,
    url: keycloak.url,
    realm: keycloak.realm,
    issuer: keycloak.issuer,
    tokenEndpoint: keycloak.tokenEndpoint,
    jwksUri: keycloak.jwksUri,
    workspaceId,
    env: {
      KEYCLOAK_URL: keycloak.url,
      KEYCLOAK_REALM: keycloak.realm,
      BFF_CLIENT_ID: SANDBOX_CLIENT_ID,
      BFF_CLIENT_SECRET: secrets.BFF_CLIENT_SECRET,
      BFF_LOGIN_CLIENT_ID: SANDBOX_LOGIN_CLIENT_ID,
      BFF_LOGIN_CLIENT_SECRET: secrets.BFF_LOGIN_CLIENT_SECRET,
      WORKSPACE_ID: workspaceId,
    },
    password: () => secrets.DEMO_USER_PASSWORD,
    clientSecret: (id) => ({ 'otel-collector': secrets.OTEL_COLLECTOR_CLIENT_SECRET, 'ci-pipeline': secrets.CI_PIPELINE_CLIENT_SECRET })[id]!,
    async rotateSigningKey() {
      // A new RSA key provider with a higher priority becomes the active key; the old providers are removed.
      const realmId = (await admin.call<{ id: string }>('GET', '')).body.id;
      const before = (await admin.call<Array<{ id: string; providerId: string }>>('GET', `/components?type=org.keycloak.keys.KeyProvider`)).body;
      const created = await admin.call('POST', '/components', {
        name: `rsa-rotated-${randomBytes(4).toString('hex')}`,
        providerId: 'rsa-generated',
        providerType: 'org.keycloak.keys.KeyProvider',
        parentId: realmId,
        config: { priority: ['1000'], enabled: ['true'], active: ['true'], algorithm: ['RS256'], keySize: ['2048'] },
      });
      if (created.status !== 201) throw new Error(`adding a key provider: ${created.status}`);
      for (const p of before.filter((c) => c.providerId === 'rsa-generated')) await admin.call('DELETE', `/components/${p.id}`);
      const keys = (await admin.call<{ active: Record<string, string> }>('GET', '/keys')).body;
      return keys.active.RS256;
    },
    allowLoginRedirect: (uri) => updateLoginClient((rep) => (rep.redirectUris = [...(rep.redirectUris ?? []), uri])),
    setLoginTokenLifespan: (seconds) =>
      updateLoginClient((rep) => {
        const { 'access.token.lifespan': _previous, ...attributes } = rep.attributes ?? {};
        rep.attributes = seconds === undefined ? attributes : { ...attributes, 'access.token.lifespan': String(seconds) };
      }),
    async refreshGrants() {
      const types = REFRESH_EVENTS.map((t) => `type=${t}`).join('&');
      const events = await admin.call<unknown[]>('GET', `/events?client=${SANDBOX_LOGIN_CLIENT_ID}&${types}&max=10000`);
      if (events.status !== 200) throw new Error(`reading the realm's events: ${events.status}`);
      return events.body.length;
    },
    backchannelPort,
    async setBackchannelLogoutUrl(clientId, url) {
      const id = await clientUuid(clientId);
      const rep = (await admin.call<Json>('GET', `/clients/${id}`)).body;
      rep.attributes = { ...rep.attributes, 'backchannel.logout.url': url };
      const res = await admin.call('PUT', `/clients/${id}`, rep);
      if (res.status !== 204) throw new Error(`updating ${clientId}: ${res.status}`);
    },
    async signOutUser(sub) {
      const res = await admin.call('POST', `/users/${sub}/logout`);
      if (res.status !== 204) throw new Error(`signing out user ${sub}: ${res.status}`);
    },
    sandbox,
    async stop() {
      await sandbox.close();
      await keycloak.stop();
    },
  };
}
