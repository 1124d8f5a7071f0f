// Import graph of built ESM output: which files a service loads, and which packages they name.
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

export type ImportKind = 'static' | 're-export' | 'dynamic' | 'require' | 'import.meta.resolve';

export interface ImportRef {
  readonly specifier: string;
  readonly kind: ImportKind;
  /** 1-based line in the file, for messages. */
  readonly line: number;
}

export interface ComputedImport {
  readonly file: string;
  readonly line: number;
  readonly kind: ImportKind;
}

/**
 * Every module specifier a JavaScript file names: static imports and re-exports, `import('x')`,
 * `require('x')` and `import.meta.resolve('x')` with a literal argument. Calls whose argument is
 * not a literal are returned in `computed` (they cannot be followed; the caller decides).
 */
export function importsOf(
  source: string,
  fileName = 'module.js',
): { imports: ImportRef[]; computed: { line: number; kind: ImportKind }[] } {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const imports: ImportRef[] = [];
  const computed: { line: number; kind: ImportKind }[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const literal = (node: ts.Node | undefined): string | undefined =>
    node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
      ? node.text
      : undefined;
  const add = (arg: ts.Node | undefined, kind: ImportKind, at: ts.Node) => {
    const specifier = literal(arg);
    if (specifier === undefined) computed.push({ line: lineOf(at), kind });
    else imports.push({ specifier, kind, line: lineOf(at) });
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, 'static', node);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node.moduleSpecifier, 're-export', node);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) {
        add(node.arguments[0], 'dynamic', node);
      } else if (
        ts.isIdentifier(callee) &&
        callee.text === 'require' &&
        node.arguments.length === 1
      ) {
        add(node.arguments[0], 'require', node);
      } else if (
        ts.isPropertyAccessExpression(callee) &&
        callee.name.text === 'resolve' &&
        ts.isMetaProperty(callee.expression) &&
        callee.expression.keywordToken === ts.SyntaxKind.ImportKeyword
      ) {
        add(node.arguments[0], 'import.meta.resolve', node);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, computed };
}

const BUILTINS = new Set(builtinModules);

export function isBuiltin(specifier: string): boolean {
  return (
    specifier.startsWith('node:') ||
    BUILTINS.has(specifier) ||
    BUILTINS.has(specifier.split('/')[0]!)
  );
}

export function isRelative(specifier: string): boolean {
  return (
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier.startsWith('/') ||
    specifier.startsWith('file:')
  );
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** `@scope/name/sub` → `./sub`; `name` → `.` (the key used in package.json "exports"). */
export function subpathOf(specifier: string): string {
  const rest = specifier.slice(packageNameOf(specifier).length);
  return rest ? `.${rest}` : '.';
}

export interface PackageManifest {
  readonly name: string;
  readonly version?: string;
  readonly type?: string;
  readonly main?: string;
  readonly exports?: unknown;
  readonly files?: readonly string[];
  readonly scripts?: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly workspaces?: readonly string[];
  readonly engines?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

export interface Workspace {
  readonly name: string;
  /** Absolute directory. */
  readonly dir: string;
  /** Directory relative to the repository root, with forward slashes (`libs/config`). */
  readonly relDir: string;
  readonly manifest: PackageManifest;
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The npm workspaces of a repository (patterns `dir/*` and plain directories). */
export function findWorkspaces(root: string): Map<string, Workspace> {
  const manifest = readJson<PackageManifest>(path.join(root, 'package.json'));
  const found = new Map<string, Workspace>();
  for (const pattern of manifest.workspaces ?? []) {
    const dirs = pattern.endsWith('/*')
      ? fs.existsSync(path.join(root, pattern.slice(0, -2)))
        ? fs
            .readdirSync(path.join(root, pattern.slice(0, -2)), { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => path.join(pattern.slice(0, -2), d.name))
        : []
      : [pattern];
    for (const rel of dirs) {
      const file = path.join(root, rel, 'package.json');
      if (!fs.existsSync(file)) continue;
      const m = readJson<PackageManifest>(file);
      found.set(m.name, {
        name: m.name,
        dir: path.join(root, rel),
        relDir: rel.split(path.sep).join('/'),
        manifest: m,
      });
    }
  }
  return found;
}

/** Conditions a production `node` process resolves with (no `@flotilla/source`, no `types`). */
export const RUNTIME_CONDITIONS = ['node', 'import', 'module-sync', 'default'] as const;

function pickTarget(target: unknown, conditions: readonly string[]): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const picked = pickTarget(t, conditions);
      if (picked) return picked;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    for (const [condition, value] of Object.entries(target)) {
      if (conditions.includes(condition)) {
        const picked = pickTarget(value, conditions);
        if (picked) return picked;
      }
    }
  }
  return undefined;
}

/**
 * Resolves a subpath (`.` or `./x`) through a package's "exports" (or "main") as Node would with
 * the given conditions; `*` patterns are supported. Returns a path relative to the package.
 */
export function resolveExport(
  manifest: PackageManifest,
  subpath: string,
  conditions: readonly string[] = RUNTIME_CONDITIONS,
): string | undefined {
  const exp = manifest.exports;
  if (exp === undefined) return subpath === '.' ? (manifest.main ?? 'index.js') : subpath;
  const map: Record<string, unknown> =
    typeof exp === 'string' ||
    Array.isArray(exp) ||
    (exp && typeof exp === 'object' && !Object.keys(exp).some((k) => k.startsWith('.')))
      ? { '.': exp }
      : (exp as Record<string, unknown>);
  if (subpath in map) return pickTarget(map[subpath], conditions);
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const [before, after] = [key.slice(0, star), key.slice(star + 1)];
    if (subpath.startsWith(before) && subpath.endsWith(after) && subpath.length >= key.length - 1) {
      const match = subpath.slice(before.length, subpath.length - after.length);
      return pickTarget(value, conditions)?.split('*').join(match);
    }
  }
  return undefined;
}

export interface ImportGraph {
  /** Every file reached (absolute), JavaScript and other modules (JSON). */
  readonly files: ReadonlySet<string>;
  /** External package name → files (relative to the root) that import it. */
  readonly packages: ReadonlyMap<string, readonly string[]>;
  /** Workspace packages (other than the app) the app reaches. */
  readonly workspaces: ReadonlyMap<string, Workspace>;
  readonly computed: readonly ComputedImport[];
  readonly problems: readonly string[];
}

const JS = /\.(m?js|cjs)$/;

function resolveFile(candidate: string): string | undefined {
  for (const c of [candidate, `${candidate}.js`, path.join(candidate, 'index.js')]) {
    if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  }
  return undefined;
}

/**
 * Walks the import graph from `entries` (absolute files): relative imports are followed, imports
 * of workspace packages are resolved through their package.json "exports" (runtime conditions,
 * i.e. their built `dist`) and followed, Node built-ins are ignored, and every other bare
 * specifier is recorded as an external package with the files importing it.
 */
export function walkImports(
  root: string,
  entries: readonly string[],
  workspaces: ReadonlyMap<string, Workspace>,
  self?: string,
): ImportGraph {
  const files = new Set<string>();
  const packages = new Map<string, Set<string>>();
  const reached = new Map<string, Workspace>();
  const computed: ComputedImport[] = [];
  const problems: string[] = [];
  const rel = (f: string) => path.relative(root, f).split(path.sep).join('/');
  const queue: string[] = [];
  const enqueue = (file: string) => {
    if (!files.has(file)) {
      files.add(file);
      queue.push(file);
    }
  };
  for (const entry of entries) {
    if (!fs.existsSync(entry))
      problems.push(`entry ${rel(entry)} does not exist (is the app built?)`);
    else enqueue(entry);
  }
  while (queue.length) {
    const file = queue.shift()!;
    if (!JS.test(file)) continue;
    const { imports, computed: dyn } = importsOf(fs.readFileSync(file, 'utf8'), file);
    for (const d of dyn) computed.push({ file: rel(file), ...d });
    for (const ref of imports) {
      const at = `${rel(file)}:${ref.line}`;
      if (isBuiltin(ref.specifier)) continue;
      if (isRelative(ref.specifier)) {
        const target = ref.specifier.startsWith('file:')
          ? new URL(ref.specifier).pathname
          : path.resolve(path.dirname(file), ref.specifier);
        const resolved = resolveFile(target);
        if (resolved) enqueue(resolved);
        else
          problems.push(
            `${at}: cannot resolve '${ref.specifier}' (stale or missing build output?)`,
          );
        continue;
      }
      const name = packageNameOf(ref.specifier);
      const ws = workspaces.get(name);
      if (!ws) {
        const importers = packages.get(name) ?? new Set<string>();
        importers.add(rel(file));
        packages.set(name, importers);
        continue;
      }
      if (name !== self) reached.set(name, ws);
      const target = resolveExport(ws.manifest, subpathOf(ref.specifier));
      const resolved = target ? resolveFile(path.resolve(ws.dir, target)) : undefined;
      if (resolved) enqueue(resolved);
      else
        problems.push(
          `${at}: '${ref.specifier}' does not resolve to a built file of ${ws.relDir} (${target ?? 'no matching export'}; is it built?)`,
        );
    }
  }
  return {
    files,
    packages: new Map(
      [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]),
    ),
    workspaces: new Map([...reached].sort(([a], [b]) => a.localeCompare(b))),
    computed,
    problems,
  };
}
