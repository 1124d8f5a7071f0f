// Lint rules, including the layer boundaries Nx enforces from project tags:
//   type:domain     pure code; may import only other domain code and a short list of pure libraries
//   type:contracts  shared schemas and subject names; may import domain
//   type:infra      adapters (NATS, PostgreSQL, OpenTelemetry, config, testing); may import domain, contracts, infra
//   type:application the generic command handler and read-your-writes; may import all of the above
//   type:app        deployable services and tools; may import anything above, never another app
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    ignores: ['**/dist', '**/out-tsc', '**/node_modules', '.nx', 'tmp', '.flotilla', '**/jest.config.js', 'jest.preset.js', 'tools/jest/**'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain'],
              allowedExternalImports: ['zod', 'yaml', 'typeid-js', 'node:crypto', 'fast-check', '@jest/globals'],
            },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts'] },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', 'type:infra'] },
            { sourceTag: 'type:application', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', 'type:infra', 'type:application'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', 'type:infra', 'type:application'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-inferrable-types': ['error', { ignoreParameters: true }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.spec.ts', 'tools/**/*.ts', 'apps/cli/**/*.ts', '**/bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
];
