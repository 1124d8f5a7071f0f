// A small monorepo on disk for the tests: two apps, three libraries, a lockfile with nesting,
// peers, optional and dev packages.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Files = Record<string, string | object>;

export function writeTree(dir: string, files: Files): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`,
    );
  }
}

const lib = (name: string, extra: object = {}) => ({
  name,
  version: '0.1.0',
  private: true,
  type: 'module',
  exports: {
    '.': { '@x/source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
    './testing': { '@x/source': './src/testing/index.ts' },
  },
  scripts: { build: 'tsc -b' },
  ...extra,
});

/** The files of the fixture monorepo; override any of them per test. */
export function monorepo(overrides: Files = {}): Files {
  return {
    'package.json': {
      name: 'mono',
      version: '1.2.3',
      private: true,
      type: 'module',
      engines: { node: '>=22' },
      workspaces: ['apps/*', 'libs/*'],
      dependencies: {
        alpha: '1.0.0',
        '@s/beta': '2.0.0',
        unused: '3.0.0',
        '@nestjs/swagger': '1.0.0',
        '@fastify/static': '1.0.0',
      },
      devDependencies: { devonly: '4.0.0' },
    },
    'package-lock.json': {
      name: 'mono',
      version: '1.2.3',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 'mono', version: '1.2.3', workspaces: ['apps/*', 'libs/*'] },
        'apps/app1': { name: '@x/app1', version: '0.1.0' },
        'libs/lib1': { name: '@x/lib1', version: '0.1.0' },
        'node_modules/@x/app1': { resolved: 'apps/app1', link: true },
        'node_modules/@x/lib1': { resolved: 'libs/lib1', link: true },
        'node_modules/alpha': {
          version: '1.0.0',
          integrity: 'sha512-alpha',
          dependencies: { epsilon: '^1.0.0' },
        },
        'node_modules/epsilon': { version: '1.5.0', integrity: 'sha512-eps1' },
        'node_modules/@s/beta': {
          version: '2.0.0',
          integrity: 'sha512-beta',
          dependencies: { epsilon: '^2.0.0' },
          optionalDependencies: { 'native-bits': '1.0.0' },
          peerDependencies: { phi: '^1.0.0', gamma: '^1.0.0' },
          peerDependenciesMeta: { gamma: { optional: true } },
        },
        'node_modules/@s/beta/node_modules/epsilon': { version: '2.1.0', integrity: 'sha512-eps2' },
        'node_modules/native-bits': {
          version: '1.0.0',
          integrity: 'sha512-native',
          optional: true,
          os: ['linux'],
        },
        'node_modules/phi': { version: '1.0.0', integrity: 'sha512-phi', peer: true },
        'node_modules/gamma': { version: '1.0.0', integrity: 'sha512-gamma', dev: true },
        'node_modules/unused': { version: '3.0.0', integrity: 'sha512-unused' },
        'node_modules/devonly': {
          version: '4.0.0',
          integrity: 'sha512-devonly',
          dev: true,
          hasInstallScript: true,
        },
        'node_modules/@nestjs/swagger': {
          version: '1.0.0',
          integrity: 'sha512-swagger',
          peerDependencies: { '@fastify/static': '*' },
          peerDependenciesMeta: { '@fastify/static': { optional: true } },
        },
        'node_modules/@fastify/static': {
          version: '1.0.0',
          integrity: 'sha512-static',
          hasInstallScript: true,
        },
      },
    },
    'apps/app1/package.json': {
      name: '@x/app1',
      version: '0.1.0',
      type: 'module',
      scripts: { start: 'node dist/main.js', build: 'tsc -b' },
    },
    'apps/app1/README.md': '# app1\n',
    'apps/app1/tsconfig.json': '{}',
    'apps/app1/src/main.ts': 'export {};\n',
    'apps/app1/dist/main.js': [
      "import fs from 'node:fs';",
      "import { readFile } from 'fs/promises';",
      "import { util } from './util.js';",
      "import { lib } from '@x/lib1';",
      "export * from '@s/beta/sub/path';",
      "// import nope from 'in-a-comment';",
      'const text = "require(\'in-a-string\')";',
      "const lazy = () => import('alpha');",
      'const name = process.env.PLUGIN;',
      'const computed = () => import(name);',
      'export { fs, readFile, util, lib, text, lazy, computed };',
      '',
    ].join('\n'),
    'apps/app1/dist/main.d.ts': 'export {};\n',
    'apps/app1/dist/main.js.map': '{}',
    'apps/app1/dist/util.js':
      "import data from './data.json' with { type: 'json' };\nexport const util = data;\n",
    'apps/app1/dist/data.json': '{"a":1}',
    'apps/app1/dist/unreached.js': "import 'unused';\n",
    'libs/lib1/package.json': lib('@x/lib1'),
    'libs/lib1/src/index.ts': 'export {};\n',
    'libs/lib1/dist/index.js':
      "import alpha from 'alpha';\nexport const lib = alpha;\nexport const protoDir = import.meta.resolve('@x/lib2');\n",
    'libs/lib1/dist/index.d.ts': 'export {};\n',
    'libs/lib1/dist/lib.tsbuildinfo': '{}',
    'libs/lib1/proto/x/v1/x.proto': 'syntax = "proto3";\n',
    'libs/lib1/jest.config.js': 'export default {};\n',
    'libs/lib2/package.json': lib('@x/lib2'),
    'libs/lib2/dist/index.js': 'export const two = 2;\n',
    'libs/unused/package.json': lib('@x/unused'),
    'libs/unused/dist/index.js': "import 'devonly';\n",
    ...overrides,
  };
}

export function makeRepo(overrides: Files = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-docker-'));
  writeTree(dir, monorepo(overrides));
  return dir;
}
