import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { blueprintHash, compareSemVer, validateBlueprint, ValidationError, type Blueprint } from '@flotilla/domain';

/**
 * `flotilla apply`, the pure part: what a set of declared objects means against what the gateway
 * holds. Each plan says what would be sent; the command sends it (or, with --dry-run, prints it).
 */

/** A declared object that cannot be read (the file, the document index and what is wrong). */
export class ManifestError extends Error {}

/**
 * `kind: Cluster`: a cluster as an operator declares it. `spec` takes what POST /api/clusters
 * (creation) and PUT /api/clusters/{id} (bounds, policy) accept, and `target_workers` (scale).
 */
export const clusterManifest = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.literal('Cluster'),
  metadata: z.strictObject({
    id: z.string().min(1),
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
  }),
  spec: z.strictObject({
    blueprint_id: z.string().min(1),
    blueprint_version: z.string().optional(),
    type: z.string().optional(),
    environment: z.enum(['development', 'staging', 'production']).optional(),
    target_workers: z.number().int().min(0).optional(),
    min_workers: z.number().int().min(0).optional(),
    max_workers: z.number().int().min(0).optional(),
    /** Scaling policy keys as the API names them (queuePerWorkerUp, cooldownUpSeconds, …). */
    policy: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ClusterManifest = z.infer<typeof clusterManifest>;

export type Manifest =
  | { readonly kind: 'Blueprint'; readonly id: string; readonly source: string; readonly document: Blueprint }
  | { readonly kind: 'Cluster'; readonly id: string; readonly source: string; readonly document: ClusterManifest };

/** Every document of a YAML or JSON text (`---` separates YAML documents). */
export function parseManifests(text: string, source: string): Manifest[] {
  const docs = parseAllDocuments(text, { version: '1.2', schema: 'core', merge: false, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new ManifestError(`${source}: not a YAML or JSON document`);
  const out: Manifest[] = [];
  docs.forEach((doc, index) => {
    const where = docs.length > 1 ? `${source} (document ${index + 1})` : source;
    if (doc.errors.length) throw new ManifestError(`${where}: ${doc.errors[0]!.message}`);
    const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (raw === null || raw === undefined) return; // an empty document (a trailing `---`)
    const kind = (raw as { kind?: unknown }).kind;
    if (kind === 'Cluster') {
      const parsed = clusterManifest.safeParse(raw);
      if (!parsed.success) throw new ManifestError(`${where}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`).join('; ')}`);
      out.push({ kind: 'Cluster', id: parsed.data.metadata.id, source: where, document: parsed.data });
      return;
    }
    if (kind !== undefined && kind !== 'Blueprint') throw new ManifestError(`${where}: unknown kind ${JSON.stringify(kind)} (expected Blueprint or Cluster)`);
    let document: Blueprint;
    try {
      document = validateBlueprint(raw);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new ManifestError(`${where}: ${err.issues.map((i) => `${i.path || '(document)'}: ${i.message}`).join('; ') || err.message}`);
    }
    out.push({ kind: 'Blueprint', id: document.metadata.id, source: where, document });
  });
  return out;
}

/** What GET /api/blueprints/{id} tells about the versions already published. */
export interface RemoteBlueprint {
  readonly latest_version: string;
  readonly versions: readonly { readonly version: string; readonly hash: string }[];
}

export type BlueprintPlan =
  | { readonly action: 'unchanged'; readonly version: string }
  | { readonly action: 'create' | 'configure'; readonly version: string; readonly document: Blueprint; readonly changes: readonly string[] };

const withVersion = (b: Blueprint, version: string): Blueprint => ({ ...b, metadata: { ...b.metadata, version } });

/** The next patch version above `version` (`1.2.3` → `1.2.4`; a pre-release loses its suffix). */
export function nextPatch(version: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new ManifestError(`cannot bump version '${version}'`);
  return `${m[1]}.${m[2]}.${Number(m[3]) + 1}`;
}

/**
 * A blueprint is unchanged when the version it names is published with the same content, or when
 * its content (whatever version it names) is what the latest version holds. Changed content goes
 * out as a new version: the one it names when that is above the latest, else the next patch
 * version (the API refuses to republish a version with other content, or to go backwards), so
 * editing a file and applying it again is enough.
 */
export function planBlueprint(local: Blueprint, remote: RemoteBlueprint | null): BlueprintPlan {
  const named = local.metadata.version;
  if (!remote) return { action: 'create', version: named, document: local, changes: [`version ${named}`] };
  const hashes = new Map(remote.versions.map((v) => [v.version, v.hash]));
  if (hashes.get(named) === blueprintHash(local)) return { action: 'unchanged', version: named };
  const latest = remote.latest_version;
  if (hashes.get(latest) === blueprintHash(withVersion(local, latest))) return { action: 'unchanged', version: latest };
  if (!hashes.has(named) && compareSemVer(named, latest) > 0) {
    return { action: 'configure', version: named, document: local, changes: [`version ${latest} -> ${named}`] };
  }
  const bumped = nextPatch(latest);
  return {
    action: 'configure',
    version: bumped,
    document: withVersion(local, bumped),
    changes: [`version ${latest} -> ${bumped} (content changed; ${named} ${hashes.has(named) ? 'is already published with other content' : `is not above ${latest}`})`],
  };
}

/** The cluster fields apply compares (a subset of the API's cluster view). */
export interface RemoteCluster {
  readonly name: string;
  readonly description: string;
  readonly status: string;
  readonly blueprint_id: string;
  readonly blueprint_version: string;
  readonly target_workers: number;
  readonly min_workers: number;
  readonly max_workers: number;
  readonly policy: Readonly<Record<string, unknown>>;
}

export interface ClusterPlan {
  readonly action: 'create' | 'configure' | 'unchanged';
  /** The body of POST /api/clusters (create). */
  readonly create?: Record<string, unknown>;
  /** The body of PUT /api/clusters/{id} (name, description, bounds, policy). */
  readonly update?: Record<string, unknown>;
  /** The target of POST /api/clusters/{id}/scale. */
  readonly scale?: number;
  /** One line per difference, `field: old -> new`. */
  readonly changes: readonly string[];
  /** What apply cannot change through the API (it says so, and changes the rest). */
  readonly warnings: readonly string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export function planCluster(declared: ClusterManifest, current: RemoteCluster | null): ClusterPlan {
  const { metadata: m, spec } = declared;
  const bounds = { min_workers: spec.min_workers, max_workers: spec.max_workers };
  if (!current) {
    // Creation takes no bounds or policy: those follow as an update. Creation takes a target within
    // the blueprint's bounds; a target that needs the declared bounds is set by a scale afterwards.
    const needsUpdate = spec.min_workers !== undefined || spec.max_workers !== undefined || spec.policy !== undefined;
    const create = {
      id: m.id,
      name: m.name,
      blueprint_id: spec.blueprint_id,
      ...(m.description !== undefined ? { description: m.description } : {}),
      ...(spec.blueprint_version !== undefined ? { blueprint_version: spec.blueprint_version } : {}),
      ...(spec.type !== undefined ? { type: spec.type } : {}),
      ...(spec.environment !== undefined ? { environment: spec.environment } : {}),
      ...(spec.target_workers !== undefined && !needsUpdate ? { target_workers: spec.target_workers } : {}),
    };
    const update = needsUpdate ? compact({ ...bounds, policy: spec.policy }) : undefined;
    return {
      action: 'create',
      create,
      ...(update ? { update } : {}),
      ...(needsUpdate && spec.target_workers !== undefined ? { scale: spec.target_workers } : {}),
      changes: [`blueprint ${spec.blueprint_id}${spec.blueprint_version ? ` ${spec.blueprint_version}` : ''}`, ...(spec.target_workers !== undefined ? [`target_workers ${spec.target_workers}`] : [])],
      warnings: [],
    };
  }
  const changes: string[] = [];
  const warnings: string[] = [];
  const update: Record<string, unknown> = {};
  if (spec.blueprint_id !== current.blueprint_id) warnings.push(`spec.blueprint_id: the cluster runs blueprint ${current.blueprint_id}; a cluster cannot change blueprint (create another cluster)`);
  if (spec.blueprint_version !== undefined && spec.blueprint_version !== current.blueprint_version) {
    warnings.push(`spec.blueprint_version: the cluster runs ${current.blueprint_version}; the REST API has no upgrade route yet, so this is left as it is`);
  }
  const field = (key: 'name' | 'description' | 'min_workers' | 'max_workers', want: unknown) => {
    if (want === undefined || same(want, current[key])) return;
    update[key] = want;
    changes.push(`${key}: ${show(current[key])} -> ${show(want)}`);
  };
  field('name', m.name);
  field('description', m.description);
  field('min_workers', spec.min_workers);
  field('max_workers', spec.max_workers);
  if (spec.policy) {
    // The API merges a policy patch into the current policy: only the declared keys are compared.
    const patch: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(spec.policy)) {
      if (same(value, current.policy[key])) continue;
      patch[key] = value;
      changes.push(`policy.${key}: ${show(current.policy[key] ?? null)} -> ${show(value)}`);
    }
    if (Object.keys(patch).length) update['policy'] = patch;
  }
  let scale: number | undefined;
  if (spec.target_workers !== undefined && spec.target_workers !== current.target_workers) {
    scale = spec.target_workers;
    changes.push(`target_workers: ${current.target_workers} -> ${spec.target_workers}`);
  }
  const action = changes.length ? 'configure' : 'unchanged';
  return { action, ...(Object.keys(update).length ? { update } : {}), ...(scale !== undefined ? { scale } : {}), changes, warnings };
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
