// Tiers: unit (beside the code, and the sandbox/support self-tests),
// integration (the real app in-process, sandbox upstreams, real redis/nginx),
// e2e (the built app as a process, over real sockets, with real clients),
// platform (the same scenarios against the sandbox emulators and the real systems).
const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // NestJS 12 ships ESM only; jest-runtime's module loader cannot require() ESM (see the transformer).
    '^.+\\.m?js$': '<rootDir>/test/support/esm-transformer.js',
  },
  transformIgnorePatterns: [],
  rootDir: __dirname,
  // No stray application logs between the results (Nest's default logger writes to the terminal).
  setupFiles: ['<rootDir>/test/support/quiet-nest-logger.ts'],
};

// Every file that runs a BFF has its logs captured and scanned for credentials afterwards (issue 7 item 4).
const LOG_HYGIENE = '<rootDir>/test/support/log-hygiene.setup.ts';

module.exports = {
  testTimeout: 30000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/unit/**/*.spec.ts', '<rootDir>/test/sandbox/**/*.spec.ts', '<rootDir>/test/support/**/*.spec.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      setupFilesAfterEnv: [LOG_HYGIENE],
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts', '<rootDir>/test/deploy/**/*.spec.ts', '<rootDir>/test/reliability/**/*.spec.ts'],
    },
    { ...shared, displayName: 'e2e', setupFilesAfterEnv: [LOG_HYGIENE], testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'] },
    // The real platform (Keycloak, Trino, Trino Gateway, their clients), fetched by scripts/fetch-*.sh into ~/.cache/platform-bff.
    { ...shared, displayName: 'platform', setupFilesAfterEnv: [LOG_HYGIENE], testMatch: ['<rootDir>/test/platform/**/*.spec.ts'] },
    // The real MLflow server (scripts/setup-mlflow.sh) behind the BFF, with MLflow's own clients.
    { ...shared, displayName: 'mlflow-real', setupFilesAfterEnv: [LOG_HYGIENE], testMatch: ['<rootDir>/test/mlflow-real/**/*.spec.ts'] },
  ],
};
