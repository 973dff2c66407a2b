import { mergeSandboxEnv, type SandboxEnvGroup } from './sandbox-env';

const IDP_KEYS = ['KEYCLOAK_URL', 'BFF_CLIENT_ID'];
const groups: SandboxEnvGroup[] = [
  { name: 'oidc-issuer', env: { KEYCLOAK_URL: 'http://127.0.0.1:1', BFF_CLIENT_ID: 'platform-bff', WORKSPACE_ID: 'demo' } },
  { name: 'llm-provider', env: { LLM_BASE_URL: 'http://127.0.0.1:2/v1', LLM_API_KEY: 'sandbox-random-key', AGENT_MODELS: 'sandbox-chat' } },
  { name: 'trino-gateway', env: { TRINO_GATEWAY_URL: 'http://127.0.0.1:3', TRINO_GATEWAY_BASIC_AUTH: 'bff-break-glass:pw' } },
];

describe('mergeSandboxEnv', () => {
  it('fills every group the user left alone, and never lets the user move the issuer', () => {
    const env = mergeSandboxEnv({ KEYCLOAK_URL: undefined, BFF_CLIENT_ID: 'mine', PORT: '3000' }, groups, IDP_KEYS);
    expect(env).toEqual({
      KEYCLOAK_URL: 'http://127.0.0.1:1',
      BFF_CLIENT_ID: 'platform-bff',
      WORKSPACE_ID: 'demo',
      LLM_BASE_URL: 'http://127.0.0.1:2/v1',
      LLM_API_KEY: 'sandbox-random-key',
      AGENT_MODELS: 'sandbox-chat',
      TRINO_GATEWAY_URL: 'http://127.0.0.1:3',
      TRINO_GATEWAY_BASIC_AUTH: 'bff-break-glass:pw',
      PORT: '3000',
    });
  });

  it("takes none of a group's values when the user set one of its keys: their provider never gets the sandbox's key", () => {
    const env = mergeSandboxEnv({ LLM_BASE_URL: 'https://llm.example.com/v1' }, groups, IDP_KEYS);
    expect(env.LLM_BASE_URL).toBe('https://llm.example.com/v1');
    expect(env.LLM_API_KEY).toBeUndefined();
    expect(env.AGENT_MODELS).toBeUndefined();
    // The other emulators still apply.
    expect(env.TRINO_GATEWAY_URL).toBe('http://127.0.0.1:3');
    expect(env.KEYCLOAK_URL).toBe('http://127.0.0.1:1');

    const keyOnly = mergeSandboxEnv({ TRINO_GATEWAY_BASIC_AUTH: 'me:secret' }, groups, IDP_KEYS);
    expect([keyOnly.TRINO_GATEWAY_URL, keyOnly.TRINO_GATEWAY_BASIC_AUTH]).toEqual([undefined, 'me:secret']);
    expect(keyOnly.LLM_API_KEY).toBe('sandbox-random-key');
  });

  it('treats an empty value as unset, and keeps a WORKSPACE_ID of the user', () => {
    const env = mergeSandboxEnv({ LLM_BASE_URL: '', WORKSPACE_ID: 'acme' }, groups, IDP_KEYS);
    expect(env.LLM_API_KEY).toBe('sandbox-random-key');
    expect(env.WORKSPACE_ID).toBe('acme');
    expect(env.BFF_CLIENT_ID).toBe('platform-bff');
  });

  it('does not change the env it was given', () => {
    const user = { LLM_BASE_URL: 'https://llm.example.com/v1' };
    mergeSandboxEnv(user, groups, IDP_KEYS);
    expect(user).toEqual({ LLM_BASE_URL: 'https://llm.example.com/v1' });
  });
});
