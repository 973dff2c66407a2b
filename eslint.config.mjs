// ESLint flat config: eslint with zero warnings runs in the test command (`npm run lint`).
// ESLint's and typescript-eslint's `recommended` sets over the TypeScript of src/, sandbox/, bench/, test/
// and scripts/; formatting is prettier's alone (eslint-config-prettier, last, turns off the rules that
// would fight it). The type-checked sets are not used: they take ~4x as long and flag mostly the `any`
// of parsed JSON in tests and of library types (no-unsafe-*), which `strict` TypeScript already polices.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Build output, generated and scratch files; the few plain .js files (jest config, the entry
    // writer, the ESM transformer, the bench peers' own package) are not part of the TypeScript tree.
    ignores: ['dist/', 'node_modules/', '**/node_modules/', 'tmp/', 'openapi/', 'coverage/', '**/*.js'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: {
      // A disable comment that no longer silences anything is itself a finding (counts against --max-warnings=0).
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // A leading underscore marks a binding kept on purpose: `const { jti: _jti, ...rest } = claims` omits a key.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // `let f; hook(() => f?.()); … f = build()` binds late on purpose (src/app.factory.ts): a const there would be read in its TDZ.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Test helpers rethrow with the original's message (and the process output) in the new one; a `cause` would make jest print it all twice.
      'preserve-caught-error': 'off',
    },
  },
  prettier,
);
