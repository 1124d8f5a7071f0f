import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { makeRepo } from './fixture.ts';
import {
  findWorkspaces,
  importsOf,
  isBuiltin,
  packageNameOf,
  resolveExport,
  subpathOf,
  walkImports,
} from './imports.ts';

describe('importsOf', () => {
  it('finds static imports, re-exports, import(), require() and import.meta.resolve() with literal specifiers', () => {
    const src = [
      "import a from 'a';",
      "import { b } from '@s/b/deep';",
      "import './side-effect.js';",
      "export { c } from './c.js';",
      "export * from 'd';",
      "const e = await import('e');",
      "const f = require('f');",
      "const g = import.meta.resolve('g/package.json');",
      'const t = import(`h`);',
    ].join('\n');
    const { imports, computed } = importsOf(src);
    expect(imports.map((i) => [i.specifier, i.kind])).toEqual([
      ['a', 'static'],
      ['@s/b/deep', 'static'],
      ['./side-effect.js', 'static'],
      ['./c.js', 're-export'],
      ['d', 're-export'],
      ['e', 'dynamic'],
      ['f', 'require'],
      ['g/package.json', 'import.meta.resolve'],
      ['h', 'dynamic'],
    ]);
    expect(computed).toEqual([]);
  });

  it('ignores specifiers in comments and strings, and reports computed ones with their line', () => {
    const src = [
      "// import x from 'commented';",
      'const s = "import y from \'quoted\'";',
      'const n = process.env.X;',
      'await import(n);',
      'require(`a${n}`);',
    ].join('\n');
    const { imports, computed } = importsOf(src);
    expect(imports).toEqual([]);
    expect(computed).toEqual([
      { line: 4, kind: 'dynamic' },
      { line: 5, kind: 'require' },
    ]);
  });
});

describe('specifiers', () => {
  it('maps specifiers to package names and export subpaths', () => {
    expect(packageNameOf('@nestjs/core')).toBe('@nestjs/core');
    expect(packageNameOf('@nestjs/core/injector/module.js')).toBe('@nestjs/core');
    expect(packageNameOf('rxjs/operators')).toBe('rxjs');
    expect(subpathOf('rxjs')).toBe('.');
    expect(subpathOf('@s/b/x/y.js')).toBe('./x/y.js');
  });

  it('knows Node built-ins, with and without node:, including subpaths', () => {
    for (const s of ['node:fs', 'fs', 'fs/promises', 'node:test', 'crypto', 'worker_threads'])
      expect([s, isBuiltin(s)]).toEqual([s, true]);
    for (const s of ['zod', '@nestjs/core', 'fsevents'])
      expect([s, isBuiltin(s)]).toEqual([s, false]);
  });

  it('resolves package.json exports with runtime conditions only (not the source or types conditions)', () => {
    const m = {
      name: 'x',
      exports: {
        '.': {
          '@x/source': './src/index.ts',
          types: './dist/index.d.ts',
          default: './dist/index.js',
        },
        './testing': { '@x/source': './src/testing.ts' },
        './feature/*': { import: './dist/feature/*.js', require: './cjs/*.cjs' },
        './alt': [{ worker: './w.js' }, './alt.js'],
      },
    };
    expect(resolveExport(m, '.')).toBe('./dist/index.js');
    expect(resolveExport(m, './testing')).toBeUndefined();
    expect(resolveExport(m, './feature/a/b')).toBe('./dist/feature/a/b.js');
    expect(resolveExport(m, './alt')).toBe('./alt.js');
    expect(resolveExport(m, './missing')).toBeUndefined();
    expect(resolveExport({ name: 'y', exports: './main.js' }, '.')).toBe('./main.js');
    expect(
      resolveExport({ name: 'z', exports: { import: './esm.js', default: './cjs.js' } }, '.'),
    ).toBe('./esm.js');
    expect(resolveExport({ name: 'w', main: 'lib/w.js' }, '.')).toBe('lib/w.js');
  });
});

describe('walkImports', () => {
  const repo = makeRepo();
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));
  const workspaces = findWorkspaces(repo);
  const walk = () =>
    walkImports(repo, [path.join(repo, 'apps/app1/dist/main.js')], workspaces, '@x/app1');

  it('finds the workspaces', () => {
    expect([...workspaces.keys()].sort()).toEqual(['@x/app1', '@x/lib1', '@x/lib2', '@x/unused']);
    expect(workspaces.get('@x/lib1')!.relDir).toBe('libs/lib1');
  });

  it('follows relative imports and the libraries the app reaches (their dist), and records external packages with their importers', () => {
    const graph = walk();
    expect([...graph.files].map((f) => path.relative(repo, f)).sort()).toEqual([
      'apps/app1/dist/data.json',
      'apps/app1/dist/main.js',
      'apps/app1/dist/util.js',
      'libs/lib1/dist/index.js',
      'libs/lib2/dist/index.js',
    ]);
    expect(Object.fromEntries(graph.packages)).toEqual({
      '@s/beta': ['apps/app1/dist/main.js'],
      alpha: ['apps/app1/dist/main.js', 'libs/lib1/dist/index.js'],
    });
    expect([...graph.workspaces.keys()]).toEqual(['@x/lib1', '@x/lib2']);
    expect(graph.computed).toEqual([{ file: 'apps/app1/dist/main.js', line: 10, kind: 'dynamic' }]);
    expect(graph.problems).toEqual([]);
  });

  it('reports a relative import or a library that does not resolve to built output', () => {
    fs.writeFileSync(
      path.join(repo, 'apps/app1/dist/util.js'),
      "import './gone.js';\nimport '@x/lib1/testing';\nexport const util = 1;\n",
    );
    const graph = walk();
    expect(graph.problems).toEqual([
      "apps/app1/dist/util.js:1: cannot resolve './gone.js' (stale or missing build output?)",
      "apps/app1/dist/util.js:2: '@x/lib1/testing' does not resolve to a built file of libs/lib1 (no matching export; is it built?)",
    ]);
  });

  it('reports a missing entry (the app is not built)', () => {
    expect(
      walkImports(repo, [path.join(repo, 'apps/app1/dist/nope.js')], workspaces).problems,
    ).toEqual(['entry apps/app1/dist/nope.js does not exist (is the app built?)']);
  });
});
