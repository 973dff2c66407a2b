// Mutation testing of the security-critical decision code (npm run test:mutation; docs/mutation.md).
// scripts/mutation.sh runs it one module at a time (--mutate <file>), each with its own incremental file.
import process from 'node:process';

const module = process.env.MUTATION_MODULE ?? 'all';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { configFile: 'test/mutation/jest.config.js', enableFindRelatedTests: true },
  checkers: ['typescript'],
  // The checker compiles the application only (not the specs, sandbox or benches): a smaller program per check.
  tsconfigFile: 'test/mutation/tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  plugins: ['@stryker-mutator/jest-runner', '@stryker-mutator/typescript-checker', './test/mutation/message-text.ignorer.mjs'],
  ignorers: ['message-text'],
  // Module-level tables and regexes are mutated too (Stryker's default skips nothing here).
  ignoreStatic: false,
  incremental: true,
  // Git-ignored (it holds copies of the sources): a local rerun tests only the mutants that a change touched.
  incrementalFile: `test/mutation/incremental/${module}.json`,
  concurrency: 2,
  timeoutMS: 20000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: `reports/mutation/${module}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: 'tmp/stryker',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 90, break: null },
};
