// The jest configuration Stryker runs mutants against (npm run test:mutation): the unit tier only
// (the specs beside the code), compiled with swc instead of ts-jest, since every mutant reruns the
// specs that cover it. Type errors are the TypeScript checker's job there, not the transformer's.
const path = require('node:path');

const rootDir = path.resolve(__dirname, '../..');
// scripts/mutation.sh names the specs of the module it mutates (comma-separated); default: every unit spec.
const specs = (process.env.MUTATION_SPECS ?? '').split(',').filter(Boolean);

module.exports = {
  rootDir,
  testEnvironment: 'node',
  // As the unit project (jest.config.js): some specs check a bound at full size (the verifier's 20,000 tokens).
  testTimeout: 30000,
  testMatch: specs.length > 0 ? specs.map((s) => `<rootDir>/${s}`) : ['<rootDir>/src/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
    '^.+\\.m?js$': '<rootDir>/test/support/esm-transformer.js',
  },
  transformIgnorePatterns: [],
};
