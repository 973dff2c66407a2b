import { loadConfig } from '../../src/config/load-config';

const KEYCLOAK = { KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'bff', BFF_CLIENT_SECRET: 's3cret' };

describe('the listen address', () => {
  it('is loopback in sandbox mode: demo tokens are not usable from the network', () => {
    expect(loadConfig({}, { sandbox: true }).host).toBe('127.0.0.1');
  });
  it('is what HOST says, in sandbox mode too', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }, { sandbox: true }).host).toBe('0.0.0.0');
  });
  it('is every interface with a real identity provider (the image, behind its gateway)', () => {
    expect(loadConfig(KEYCLOAK).host).toBe('0.0.0.0');
  });
});
