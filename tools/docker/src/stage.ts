// Plans and writes the runtime package of one app: its built code, the workspace libraries it
// reaches, a package.json with exactly the external packages it imports (at the monorepo's
// versions) and a package-lock.json cut from the monorepo's, ready for `npm ci --omit=dev`.
import fs from 'node:fs';
import path from 'node:path';
import {
  findWorkspaces,
  type ImportGraph,
  type PackageManifest,
  readJson,
  RUNTIME_CONDITIONS,
  walkImports,
  type Workspace,
} from './imports.ts';
import { type LocalPackage, type Lockfile, pruneLockfile } from './lockfile.ts';

export interface AppPlan {
  readonly app: Workspace;
  /** The app's entry, relative to the app (and to the staged root): `dist/main.js`. */
  readonly entry: string;
  readonly graph: ImportGraph;
  /** External package name → the files importing it (or why it is needed). */
  readonly importedBy: ReadonlyMap<string, readonly string[]>;
  readonly manifest: PackageManifest & { readonly dependencies: Readonly<Record<string, string>> };
  readonly lockfile: Lockfile;
  /** External packages (name → exact version). */
  readonly external: Readonly<Record<string, string>>;
  readonly local: readonly LocalPackage[];
  /** Packages of the closure that run install scripts (informational). */
  readonly installScripts: readonly string[];
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Packages that a dependency loads at run time with a computed `require` (so no import graph can
 * see them), declared by the dependency as an optional peer: included whenever the dependency is.
 * `@nestjs/swagger` serves its UI through `@fastify/static` on the Fastify adapter.
 */
export const RUNTIME_PEERS: Readonly<Record<string, readonly string[]>> = {
  '@nestjs/swagger': ['@fastify/static'],
};

const EXACT = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** Finds an app by `gateway`, `apps/gateway` or `@flotilla/gateway`. */
export function findApp(
  workspaces: ReadonlyMap<string, Workspace>,
  app: string,
): Workspace | undefined {
  return [...workspaces.values()].find(
    (w) =>
      w.name === app ||
      w.relDir === app ||
      w.relDir === `apps/${app}` ||
      w.name.endsWith(`/${app}`),
  );
}

/** `node dist/main.js` in the start script, else "main", else dist/main.js. */
export function entryOf(manifest: PackageManifest): string {
  const start = manifest.scripts?.['start']?.match(/^node\s+(?:--\S+\s+)*(\S+\.m?js)\b/);
  return path.posix.normalize(start?.[1] ?? manifest.main ?? 'dist/main.js');
}

export function planApp(root: string, appName: string): AppPlan {
  const workspaces = findWorkspaces(root);
  const app = findApp(workspaces, appName);
  if (!app)
    throw new Error(
      `no workspace package named ${appName} (looked for apps/${appName} among ${[...workspaces.values()].map((w) => w.relDir).join(', ')})`,
    );
  const rootManifest = readJson<PackageManifest>(path.join(root, 'package.json'));
  const lock = readJson<Lockfile>(path.join(root, 'package-lock.json'));
  const entry = entryOf(app.manifest);
  const graph = walkImports(root, [path.join(app.dir, entry)], workspaces, app.name);
  const problems = [...graph.problems];
  const warnings = graph.computed.map(
    (c) =>
      `${c.file}:${c.line}: ${c.kind} with a computed specifier cannot be followed; make sure what it loads is a declared dependency`,
  );

  const needed = new Map(graph.packages);
  for (const [trigger, peers] of Object.entries(RUNTIME_PEERS)) {
    if (!needed.has(trigger)) continue;
    for (const peer of peers) {
      if (needed.has(peer)) continue;
      needed.set(peer, [`(loaded at run time by ${trigger})`]);
      const declared = lock.packages[`node_modules/${trigger}`]?.peerDependencies?.[peer];
      if (declared === undefined)
        warnings.push(
          `${trigger} no longer declares ${peer} as a peer; check RUNTIME_PEERS in tools/docker/src/stage.ts`,
        );
    }
  }

  const external: Record<string, string> = {};
  for (const [name, importers] of needed) {
    const spec = rootManifest.dependencies?.[name];
    const where = importers.slice(0, 3).join(', ') + (importers.length > 3 ? ', …' : '');
    if (spec === undefined) {
      problems.push(
        rootManifest.devDependencies?.[name] !== undefined
          ? `${name} is imported by ${where} but is a devDependency of the root package.json; production code needs it in "dependencies"`
          : `${name} is imported by ${where} but is not declared in the root package.json`,
      );
      continue;
    }
    const locked = lock.packages[`node_modules/${name}`]?.version;
    if (!locked) {
      problems.push(`${name} is not in package-lock.json (run npm install)`);
      continue;
    }
    if (EXACT.test(spec) && spec !== locked)
      problems.push(
        `${name}: package.json says ${spec}, package-lock.json has ${locked} (run npm install)`,
      );
    external[name] = EXACT.test(spec) ? spec : locked;
  }

  const sortedExternal = Object.fromEntries(
    Object.entries(external).sort(([a], [b]) => a.localeCompare(b)),
  );
  const local: LocalPackage[] = [...graph.workspaces.values()].map((w) => ({
    name: w.name,
    version: w.manifest.version ?? '0.0.0',
    location: w.relDir,
  }));
  const dependencies: Record<string, string> = { ...sortedExternal };
  for (const p of local) dependencies[p.name] = `file:${p.location}`;
  const sortedDeps = Object.fromEntries(
    Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)),
  );
  const shortName = app.relDir.split('/').pop()!;
  const manifest = {
    name: `${rootManifest.name ?? 'app'}-${shortName}-image`,
    version: app.manifest.version ?? rootManifest.version ?? '0.0.0',
    private: true,
    description: `Runtime package of ${app.name}, generated by tools/docker/src/app-dependencies.ts from its import graph. Do not edit.`,
    type: 'module',
    ...(rootManifest.engines ? { engines: rootManifest.engines } : {}),
    scripts: { start: `node ${entry}` },
    dependencies: sortedDeps,
  };
  const { lockfile, problems: lockProblems } = pruneLockfile(
    lock,
    manifest,
    Object.keys(external),
    local,
  );
  problems.push(...lockProblems);
  const installScripts = Object.entries(lockfile.packages)
    .filter(([, e]) => e['hasInstallScript'] === true)
    .map(([at]) => at.replace(/^.*node_modules\//, ''));
  return {
    app,
    entry,
    graph,
    importedBy: needed,
    manifest,
    lockfile,
    external: sortedExternal,
    local,
    installScripts,
    problems,
    warnings,
  };
}

/** Keeps the fields a runtime needs; drops scripts, dev metadata and build-time export conditions. */
export function runtimeManifest(m: PackageManifest): PackageManifest {
  const keep: Record<string, unknown> = {
    name: m.name,
    version: m.version ?? '0.0.0',
    private: true,
  };
  for (const key of ['type', 'main', 'imports', 'bin'] as const)
    if (m[key] !== undefined) keep[key] = m[key];
  if (m.exports !== undefined) {
    const filtered = filterConditions(m.exports);
    if (filtered !== undefined) keep['exports'] = filtered;
  }
  return keep as PackageManifest;
}

function filterConditions(value: unknown): unknown {
  if (typeof value === 'string' || value === null) return value;
  if (Array.isArray(value)) {
    const items = value.map(filterConditions).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (!key.startsWith('.') && !(RUNTIME_CONDITIONS as readonly string[]).includes(key))
        continue;
      const f = filterConditions(v);
      if (f !== undefined) out[key] = f;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return undefined;
}

/** Top-level entries of a package folder that never ship: sources, build and test configuration. */
const NOT_SHIPPED = [
  /^src$/,
  /^scripts$/,
  /^bench$/,
  /^tests?$/,
  /^node_modules$/,
  /^coverage$/,
  /^jest\.config\./,
  /^tsconfig.*\.json$/,
  /^eslint\.config\./,
  /\.tsbuildinfo$/,
  /\.md$/,
  /^package\.json$/,
];
/** Files inside shipped folders that a runtime never reads. */
const NOT_SHIPPED_FILE = /(\.d\.[cm]?ts|\.d\.[cm]?ts\.map|\.js\.map|\.tsbuildinfo|\.spec\.js)$/;

/** Copies a package folder's runtime files: its `files` list when it has one, else all but sources and configs. */
export function copyPackageFiles(from: string, to: string, manifest: PackageManifest): string[] {
  const copied: string[] = [];
  const top = manifest.files
    ? manifest.files.filter((f) => fs.existsSync(path.join(from, f)))
    : fs.readdirSync(from).filter((name) => !NOT_SHIPPED.some((re) => re.test(name)));
  const copy = (src: string, dest: string) => {
    const stat = fs.statSync(src);
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(src).sort())
        copy(path.join(src, name), path.join(dest, name));
    } else if (!NOT_SHIPPED_FILE.test(src)) {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
      copied.push(dest);
    }
  };
  for (const name of top.sort()) copy(path.join(from, name), path.join(to, name));
  return copied;
}

/**
 * Writes the plan to `out`: package.json and package-lock.json, the app's runtime files at the
 * root (so the entry is `out/dist/main.js`), each workspace library at its repository path
 * (`out/libs/config`, linked by npm as node_modules/@flotilla/config).
 */
export function stageApp(plan: AppPlan, out: string): { files: number } {
  if (plan.problems.length)
    throw new Error(`cannot stage ${plan.app.name}:\n  ${plan.problems.join('\n  ')}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  let files = copyPackageFiles(plan.app.dir, out, plan.app.manifest).length;
  const workspaces = plan.graph.workspaces;
  for (const p of plan.local) {
    const ws = workspaces.get(p.name)!;
    const dest = path.join(out, p.location);
    files += copyPackageFiles(ws.dir, dest, ws.manifest).length;
    fs.writeFileSync(
      path.join(dest, 'package.json'),
      `${JSON.stringify(runtimeManifest(ws.manifest), null, 2)}\n`,
    );
  }
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(plan.manifest, null, 2)}\n`);
  fs.writeFileSync(
    path.join(out, 'package-lock.json'),
    `${JSON.stringify(plan.lockfile, null, 2)}\n`,
  );
  if (!fs.existsSync(path.join(out, plan.entry)))
    throw new Error(`staged ${plan.app.name} has no ${plan.entry}`);
  return { files: files + 2 };
}
