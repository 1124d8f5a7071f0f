// A package-lock.json (v2/v3) cut down to the packages one app needs, so `npm ci` in the image
// installs exactly the versions the monorepo was tested with, and nothing else.

export interface LockEntry {
  readonly name?: string;
  readonly version?: string;
  readonly resolved?: string;
  readonly integrity?: string;
  readonly link?: boolean;
  readonly dev?: boolean;
  readonly optional?: boolean;
  readonly devOptional?: boolean;
  readonly peer?: boolean;
  readonly inBundle?: boolean;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
  readonly [key: string]: unknown;
}

export interface Lockfile {
  readonly name?: string;
  readonly version?: string;
  readonly lockfileVersion: number;
  readonly requires?: boolean;
  readonly packages: Readonly<Record<string, LockEntry>>;
}

/**
 * Where npm would find `name` when required from the package installed at `from` ('' is the
 * root): `from/node_modules/name`, then each ancestor's `node_modules`, up to the root.
 */
export function resolveInLock(
  packages: Readonly<Record<string, LockEntry>>,
  from: string,
  name: string,
): string | undefined {
  let at = from;
  for (;;) {
    const candidate = at ? `${at}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!at) return undefined;
    const i = at.lastIndexOf('/node_modules/');
    at = i < 0 ? '' : at.slice(0, i);
  }
}

type EdgeKind = 'prod' | 'optional' | 'peer';

function edgesOf(entry: LockEntry): { name: string; kind: EdgeKind }[] {
  const edges: { name: string; kind: EdgeKind }[] = [];
  for (const name of Object.keys(entry.dependencies ?? {})) edges.push({ name, kind: 'prod' });
  for (const name of Object.keys(entry.optionalDependencies ?? {}))
    edges.push({ name, kind: 'optional' });
  for (const name of Object.keys(entry.peerDependencies ?? {})) {
    // Optional peers are only installed when something else needs them; that edge, if any, is walked.
    if (!entry.peerDependenciesMeta?.[name]?.optional) edges.push({ name, kind: 'peer' });
  }
  return edges;
}

export interface PrunedLock {
  /** Lock locations (`node_modules/a`, `node_modules/a/node_modules/b`) the app needs. */
  readonly locations: readonly string[];
  readonly problems: readonly string[];
}

/**
 * The closure of `roots` (package names required by the root) over the lockfile's dependency,
 * optional-dependency and (non-optional) peer edges, resolved exactly as npm lays them out.
 */
export function closure(
  lock: Lockfile,
  roots: readonly string[],
): PrunedLock & { optional: ReadonlySet<string>; peer: ReadonlySet<string> } {
  const { packages } = lock;
  const problems: string[] = [];
  const reach = (allow: (kind: EdgeKind) => boolean, report: boolean): Set<string> => {
    const seen = new Set<string>();
    const queue: string[] = [];
    const visit = (from: string, name: string, kind: EdgeKind, required: boolean) => {
      const at = resolveInLock(packages, from, name);
      if (!at) {
        if (report && required)
          problems.push(
            `${from || 'the root'} needs ${name} (${kind}), which package-lock.json does not contain (run npm install)`,
          );
        return;
      }
      if (packages[at]!.link) {
        if (report)
          problems.push(
            `${name} resolves to the workspace link ${at}; workspace packages are staged separately`,
          );
        return;
      }
      if (!seen.has(at)) {
        seen.add(at);
        queue.push(at);
      }
    };
    for (const name of roots) visit('', name, 'prod', true);
    while (queue.length) {
      const at = queue.shift()!;
      for (const edge of edgesOf(packages[at]!)) {
        if (allow(edge.kind)) visit(at, edge.name, edge.kind, edge.kind === 'prod');
      }
    }
    return seen;
  };
  const all = reach(() => true, true);
  const strict = reach((k) => k !== 'optional', false);
  const nonPeer = reach((k) => k !== 'peer', false);
  const locations = [...all].sort();
  return {
    locations,
    problems,
    optional: new Set(locations.filter((l) => !strict.has(l))),
    peer: new Set(locations.filter((l) => !nonPeer.has(l))),
  };
}

export interface LocalPackage {
  readonly name: string;
  readonly version: string;
  /** Where the package sits in the staged tree (`libs/config`). */
  readonly location: string;
}

/**
 * A lockfile for a package whose dependencies are `external` (name → version, every one present
 * in `lock`) plus `local` packages linked from folders, the way npm records `file:` directories.
 */
export function pruneLockfile(
  lock: Lockfile,
  root: {
    readonly name: string;
    readonly version: string;
    readonly dependencies: Readonly<Record<string, string>>;
  },
  external: readonly string[],
  local: readonly LocalPackage[],
): { lockfile: Lockfile; problems: readonly string[] } {
  const { locations, problems, optional, peer } = closure(lock, external);
  const packages: Record<string, LockEntry> = {
    '': { name: root.name, version: root.version, dependencies: root.dependencies },
  };
  for (const at of locations) {
    // Everything kept is needed in production: drop the monorepo's dev flags, recompute the rest.
    const {
      dev: _dev,
      devOptional: _devOptional,
      optional: _optional,
      peer: _peer,
      ...entry
    } = lock.packages[at]!;
    packages[at] = {
      ...entry,
      ...(optional.has(at) ? { optional: true } : {}),
      ...(peer.has(at) ? { peer: true } : {}),
    };
  }
  for (const p of local) {
    packages[p.location] = { name: p.name, version: p.version };
    packages[`node_modules/${p.name}`] = { resolved: p.location, link: true };
  }
  const sorted = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) =>
      a === '' ? -1 : b === '' ? 1 : a.localeCompare(b),
    ),
  );
  return {
    lockfile: {
      name: root.name,
      version: root.version,
      lockfileVersion: 3,
      requires: true,
      packages: sorted,
    },
    problems,
  };
}
