import type { RealKeycloak } from './keycloak';

/** The BFF's downstream audiences, `${WORKSPACE_ID}-${audience}` (sandbox/index.ts DOWNSTREAM_AUDIENCES). */
const AUDIENCES = ['trino-gw', 'ml-agent', 'trino'];
const BFF_CLIENT = 'platform-bff';

/**
 * What an operator adds to the realm for a new WORKSPACE_ID (the README's "A new workspace in the realm"),
 * through the admin REST API: for each downstream audience `${ws}-${a}`, a client of that id, and a client
 * scope of the same name with an audience mapper, added to platform-bff as an OPTIONAL client scope. The BFF
 * asks for that scope when it exchanges a token for the audience; tokens that do not ask (the BFF's own
 * client-credentials token, the users' tokens) never carry it.
 */
export async function addWorkspace(kc: RealKeycloak, ws: string): Promise<void> {
  const { admin } = kc;
  const bff = (await admin.call<Array<{ id: string }>>('GET', `/clients?clientId=${BFF_CLIENT}`)).body[0].id;
  for (const a of AUDIENCES) {
    const clientId = `${ws}-${a}`;
    const client = await admin.call('POST', '/clients', {
      clientId,
      name: clientId,
      enabled: true,
      protocol: 'openid-connect',
      publicClient: false,
      bearerOnly: false,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
    });
    if (client.status !== 201 && client.status !== 409) throw new Error(`creating client ${clientId}: ${client.status}`);
    const scope = await admin.call('POST', '/client-scopes', {
      name: clientId,
      protocol: 'openid-connect',
      attributes: { 'include.in.token.scope': 'true', 'display.on.consent.screen': 'false' },
      protocolMappers: [
        {
          name: `audience ${clientId}`,
          protocol: 'openid-connect',
          protocolMapper: 'oidc-audience-mapper',
          config: { 'included.client.audience': clientId, 'access.token.claim': 'true', 'id.token.claim': 'false', 'introspection.token.claim': 'true' },
        },
      ],
    });
    if (scope.status !== 201 && scope.status !== 409) throw new Error(`creating client scope ${clientId}: ${scope.status}`);
    const scopes = (await admin.call<Array<{ id: string; name: string }>>('GET', '/client-scopes')).body;
    const scopeId = scopes.find((s) => s.name === clientId)!.id;
    const added = await admin.call('PUT', `/clients/${bff}/optional-client-scopes/${scopeId}`);
    if (added.status !== 204) throw new Error(`adding ${clientId} to ${BFF_CLIENT}'s optional client scopes: ${added.status}`);
  }
}
