import { ConfigError, loadConfig, type Env, type ConfigProblem } from '../../src/config/load-config';

/** The problems loadConfig reports for `env` (sandbox mode, so no identity-provider keys are needed). */
function problemsOf(env: Env): ConfigProblem[] {
  try {
    loadConfig(env, { sandbox: true });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration messages: one precise message per key, with the allowed values', () => {
  it.each([
    ['TRINO_AUTH', 'bogus', 'must be one of: none, exchange, basic'],
    ['ML_AGENT_TOKEN_MODE', 'x', 'must be one of: exchange, forward'],
    ['LOG_LEVEL', 'loud', 'must be one of: fatal, error, warn, info, debug, trace, silent'],
    ['NODE_ENV', 'prod', 'must be one of: development, production, test'],
    ['PORT', 'abc', 'must be an integer from 0 to 65535'],
    ['PORT', '70000', 'must be an integer from 0 to 65535'],
    ['PORT', '3000.5', 'must be an integer from 0 to 65535'],
    ['TRINO_TIMEOUT_MS', '5', 'must be an integer from 100 to 600000'],
    ['VALKEY_COMMAND_TIMEOUT_MS', '10', 'must be an integer from 50 to 60000'],
    ['AGENT_TOKEN_QUOTA', '-1', 'must be an integer of at least 0'],
    ['TRUST_PROXY', 'maybe', 'must be one of: true, false, 1, 0'],
  ])('%s=%s: %s', (key, value, rule) => {
    expect(problemsOf({ [key]: value })).toEqual([{ key, rule }]);
  });

  it('all at once, one line each, never the value', () => {
    const err = (() => {
      try {
        loadConfig({ TRINO_AUTH: 'bogus', ML_AGENT_TOKEN_MODE: 'x', PORT: 'abc' }, { sandbox: true });
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(err.message).toBe(
      [
        'Invalid configuration (3 problems):',
        '  - PORT: must be an integer from 0 to 65535',
        '  - TRINO_AUTH: must be one of: none, exchange, basic',
        '  - ML_AGENT_TOKEN_MODE: must be one of: exchange, forward',
      ].join('\n'),
    );
  });
});

describe('a required key that is missing', () => {
  it('says it is required, once', () => {
    let problems: ConfigProblem[] = [];
    try {
      loadConfig({ KEYCLOAK_URL: 'https://kc.example.com', KEYCLOAK_REALM: 'platform', BFF_CLIENT_ID: 'bff' });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([{ key: 'BFF_CLIENT_SECRET', rule: 'is required when KEYCLOAK_URL is set' }]);
  });
});
