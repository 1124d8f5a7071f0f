import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { type Files, makeRepo } from './fixture.ts';
import { entryOf, planApp, runtimeManifest, stageApp } from './stage.ts';

const repos: string[] = [];
const repo = (overrides: Files = {}) => {
  const dir = makeRepo(overrides);
  repos.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of repos.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();

describe('planApp', () => {
  it('depends on exactly the external packages the app and its libraries import, at the root’s versions, and links the libraries', () => {
    const plan = planApp(repo(), 'app1');
    expect(plan.problems).toEqual([]);
    expect(plan.entry).toBe('dist/main.js');
    expect(plan.external).toEqual({ '@s/beta': '2.0.0', alpha: '1.0.0' });
    expect(plan.manifest).toEqual({
      name: 'mono-app1-image',
      version: '0.1.0',
      private: true,
      description: expect.stringContaining('@x/app1'),
      type: 'module',
      engines: { node: '>=22' },
      scripts: { start: 'node dist/main.js' },
      dependencies: {
        '@s/beta': '2.0.0',
        '@x/lib1': 'file:libs/lib1',
        '@x/lib2': 'file:libs/lib2',
        alpha: '1.0.0',
      },
    });
    expect(Object.keys(plan.lockfile.packages)).toEqual([
      '',
      'libs/lib1',
      'libs/lib2',
      'node_modules/@s/beta',
      'node_modules/@s/beta/node_modules/epsilon',
      'node_modules/@x/lib1',
      'node_modules/@x/lib2',
      'node_modules/alpha',
      'node_modules/epsilon',
      'node_modules/native-bits',
      'node_modules/phi',
    ]);
    expect(plan.lockfile.packages['']!.dependencies).toEqual(plan.manifest.dependencies);
    expect(plan.warnings).toEqual([
      expect.stringMatching(/^apps\/app1\/dist\/main.js:10: dynamic with a computed specifier/),
    ]);
  });

  it('refuses, naming the importer, a package that is only a devDependency or not declared at all', () => {
    const plan = planApp(
      repo({
        'apps/app1/dist/util.js': "import 'devonly/x';\nimport 'ghost';\nexport const util = 1;\n",
      }),
      'app1',
    );
    expect(plan.problems).toEqual([
      'devonly is imported by apps/app1/dist/util.js but is a devDependency of the root package.json; production code needs it in "dependencies"',
      'ghost is imported by apps/app1/dist/util.js but is not declared in the root package.json',
    ]);
    expect(() => stageApp(plan, path.join(repos[0]!, 'out'))).toThrow(/cannot stage @x\/app1/);
  });

  it('refuses when package.json and package-lock.json disagree', () => {
    const dir = repo();
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    pkg.dependencies.alpha = '1.0.1';
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
    expect(planApp(dir, 'app1').problems).toEqual([
      'alpha: package.json says 1.0.1, package-lock.json has 1.0.0 (run npm install)',
    ]);
  });

  it('adds the packages a dependency loads at run time by a computed require (RUNTIME_PEERS)', () => {
    const plan = planApp(
      repo({ 'apps/app1/dist/util.js': "import '@nestjs/swagger';\nexport const util = 1;\n" }),
      'app1',
    );
    expect(plan.problems).toEqual([]);
    expect(plan.external).toMatchObject({ '@nestjs/swagger': '1.0.0', '@fastify/static': '1.0.0' });
    expect(plan.importedBy.get('@fastify/static')).toEqual([
      '(loaded at run time by @nestjs/swagger)',
    ]);
    expect(plan.installScripts).toEqual(['@fastify/static']);
  });

  it('finds the app by short name, path or package name, and fails clearly for an unknown one', () => {
    const dir = repo();
    for (const name of ['app1', 'apps/app1', '@x/app1'])
      expect(planApp(dir, name).app.name).toBe('@x/app1');
    expect(() => planApp(dir, 'nope')).toThrow(/no workspace package named nope/);
  });

  it('reads the entry from the start script', () => {
    expect(entryOf({ name: 'a', scripts: { start: 'node dist/main.js' } })).toBe('dist/main.js');
    expect(
      entryOf({ name: 'a', scripts: { start: 'node --enable-source-maps ./build/server.mjs' } }),
    ).toBe('build/server.mjs');
    expect(entryOf({ name: 'a', main: 'lib/index.js' })).toBe('lib/index.js');
    expect(entryOf({ name: 'a' })).toBe('dist/main.js');
  });
});

describe('stageApp', () => {
  it('writes the runtime package: the app at the root, the libraries it reaches, no sources, types, maps or configs', () => {
    const dir = repo();
    const out = path.join(dir, 'stage');
    stageApp(planApp(dir, 'app1'), out);
    expect(files(out)).toEqual([
      'dist/data.json',
      'dist/main.js',
      'dist/unreached.js',
      'dist/util.js',
      'libs/lib1/dist/index.js',
      'libs/lib1/package.json',
      'libs/lib1/proto/x/v1/x.proto',
      'libs/lib2/dist/index.js',
      'libs/lib2/package.json',
      'package-lock.json',
      'package.json',
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'libs/lib1/package.json'), 'utf8'))).toEqual({
      name: '@x/lib1',
      version: '0.1.0',
      private: true,
      type: 'module',
      exports: { '.': { default: './dist/index.js' } },
    });
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(out, 'package-lock.json'), 'utf8'));
    expect(lock.packages[''].dependencies).toEqual(manifest.dependencies);
  });

  it('keeps only runtime conditions in a library’s exports', () => {
    expect(
      runtimeManifest({
        name: 'l',
        exports: {
          '.': { types: './a.d.ts', import: './a.js' },
          './src': { '@x/source': './s.ts' },
        },
        scripts: { x: 'y' },
      }),
    ).toEqual({
      name: 'l',
      version: '0.0.0',
      private: true,
      exports: { '.': { import: './a.js' } },
    });
  });
});
