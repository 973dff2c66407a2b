import { randomBytes } from 'node:crypto';
import { EMULATORS } from './emulators';
import { startOidcIssuer, type OidcIssuer, type SandboxClient, type SandboxUser } from './oidc-issuer';
import type { SandboxServer } from './types';

export const SANDBOX_REALM = 'platform';
export const SANDBOX_CLIENT_ID = 'platform-bff';
export const SANDBOX_FRONTEND_CLIENT_ID = 'platform-frontend';
/** The BFF's browser login (authorization code + PKCE): a confidential client with loopback redirect URIs. */
export const SANDBOX_LOGIN_CLIENT_ID = 'platform-bff-web';
export const SANDBOX_WORKSPACE = 'demo';
export const DOWNSTREAM_AUDIENCES = ['trino-gw', 'ml-agent', 'trino'] as const;

export interface Sandbox {
  issuer: OidcIssuer;
  /** Environment that points the BFF at the sandbox (merged under the user's own env). */
  env: Record<string, string>;
  /** The same env, per emulator (the issuer's first): src/sandbox-env.ts merges each group all or nothing. */
  groups: Array<{ name: string; env: Record<string, string> }>;
  servers: Array<{ name: string; server: SandboxServer }>;
  close(): Promise<void>;
}

/** The realm's clients, as docker/keycloak/realm.json declares them for a real Keycloak. */
export function sandboxClients(workspaceId: string, bffSecret: string, loginSecret = randomBytes(24).toString('base64url')): SandboxClient[] {
  return [
    { clientId: SANDBOX_FRONTEND_CLIENT_ID, audienceMappers: [SANDBOX_CLIENT_ID] },
    {
      clientId: SANDBOX_CLIENT_ID,
      secret: bffSecret,
      standardTokenExchange: true,
      serviceAccountRoles: [],
      audienceMappers: [SANDBOX_CLIENT_ID],
      // realm.json's "realm roles as platform_roles" mapper: the Trino Gateway reads its privileges there.
      realmRolesClaim: 'platform_roles',
      // The realm's per-audience client scopes (named after the audience), optional: only an exchange that asks gets them.
      optionalAudienceScopes: DOWNSTREAM_AUDIENCES.map((a) => `${workspaceId}-${a}`),
    },
    ...DOWNSTREAM_AUDIENCES.map((a) => ({ clientId: `${workspaceId}-${a}` })),
    { clientId: 'otel-collector', secret: randomBytes(16).toString('hex'), serviceAccountRoles: ['TRACE_WRITER'], audienceMappers: [SANDBOX_CLIENT_ID] },
    { clientId: 'ci-pipeline', secret: randomBytes(16).toString('hex'), serviceAccountRoles: ['REGULAR'], audienceMappers: [SANDBOX_CLIENT_ID] },
    {
      clientId: SANDBOX_LOGIN_CLIENT_ID,
      secret: loginSecret,
      redirectUris: ['http://127.0.0.1:*', 'http://localhost:*'],
      pkceMethod: 'S256',
      audienceMappers: [SANDBOX_CLIENT_ID],
    },
  ];
}

/**
 * Starts the sandbox: the OIDC issuer (Keycloak layout, demo users alice = REGULAR,
 * admin = ADMIN, viewer = no role) and every emulator of emulators.ts, on loopback. `demo`: `npm start`'s sandbox, where the OpenAPI examples' resources are created (src/sandbox-demo.ts).
 */
export async function startSandbox(
  opts: {
    issuerPort?: number;
    workspaceId?: string;
    accessTokenLifespanS?: number;
    demo?: boolean;
    /** The issuer's users (default: the demo users). */ users?: SandboxUser[];
  } = {},
): Promise<Sandbox> {
  const workspaceId = opts.workspaceId ?? SANDBOX_WORKSPACE;
  const bffSecret = randomBytes(24).toString('base64url');
  const loginSecret = randomBytes(24).toString('base64url');
  const issuer = await startOidcIssuer({
    port: opts.issuerPort,
    realm: SANDBOX_REALM,
    users: opts.users,
    clients: sandboxClients(workspaceId, bffSecret, loginSecret),
    accessTokenLifespanS: opts.accessTokenLifespanS,
  });
  const env: Record<string, string> = {
    KEYCLOAK_URL: issuer.url,
    KEYCLOAK_REALM: SANDBOX_REALM,
    BFF_CLIENT_ID: SANDBOX_CLIENT_ID,
    BFF_CLIENT_SECRET: bffSecret,
    BFF_LOGIN_CLIENT_ID: SANDBOX_LOGIN_CLIENT_ID,
    BFF_LOGIN_CLIENT_SECRET: loginSecret,
    WORKSPACE_ID: workspaceId,
  };
  const groups: Sandbox['groups'] = [{ name: 'oidc-issuer', env: { ...env } }];
  const servers: Sandbox['servers'] = [{ name: 'oidc-issuer', server: issuer }];
  const close = async () => {
    for (const { server } of [...servers].reverse()) await server.close().catch(() => undefined);
  };
  try {
    for (const emulator of EMULATORS) {
      const started = await emulator.start({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, workspaceId, env, demo: opts.demo ?? false });
      servers.push({ name: emulator.name, server: started.server });
      Object.assign(env, started.env);
      groups.push({ name: emulator.name, env: { ...started.env } });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { issuer, env, groups, servers, close };
}
