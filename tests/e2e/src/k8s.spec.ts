// The Kubernetes manifests under deploy/k8s, checked without a cluster: every object of the base
// and of each overlay (rendered here the way kustomize renders it, and by `kubectl kustomize` too
// when kubectl is installed) validates against the Kubernetes API schemas (kubernetes-models),
// every file a kustomization names exists, overlay patches target objects of the base, and each
// service gets probes, resources and every setting its config schema reads.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse, parseAllDocuments } from 'yaml';
import { CONTROL_PLANE_SECRETS, ConfigError, loadConfig, SECRET_VARIABLES, variables } from '@flotilla/config';
import { CONTROL_PLANE_SERVICES, K8S_NODE_AGENT_MASTER_KEY, K8S_NODE_AGENT_SLOTS, K8S_NODE_AGENT_STATEFULSET, kubernetesNatsAuthorization, natsPasswordVariable, SERVICES } from '@flotilla/contracts';

const root = path.resolve(import.meta.dirname, '..', '..', '..');
const k8sDir = path.join(root, 'deploy', 'k8s');
const baseDir = path.join(k8sDir, 'base');
const overlays = ['development', 'production'] as const;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface K8sObject extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Obj;
}

/** The API schema of every kind the manifests may use; a kind missing here fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Namespace': Namespace,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

/** Why a rendered object fails its schema, or undefined when it validates. */
function schemaError(obj: K8sObject): string | undefined {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return `no schema for ${obj.apiVersion} ${obj.kind} (add it to MODELS)`;
  try {
    new Model(obj as never).validate();
    return undefined;
  } catch (err) {
    return `${obj.kind}/${obj.metadata?.name}: ${(err as Error).message}`;
  }
}

function readDocs(file: string): K8sObject[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as K8sObject | null).filter((d): d is K8sObject => d !== null);
}

function parseEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const i = line.indexOf('=');
    env[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return env;
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  configMapGenerator?: {
    name: string;
    behavior?: 'create' | 'merge' | 'replace';
    envs?: string[];
    files?: string[];
    literals?: string[];
  }[];
  patches?: {
    path?: string;
    patch?: string;
    target?: { group?: string; version?: string; kind?: string; name?: string };
  }[];
  replicas?: { name: string; count: number }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

function readKustomization(dir: string): Kustomization {
  return parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** A strategic merge patch as kustomize applies it to the lists these manifests patch (merged by `name`). */
function strategicMerge(base: unknown, patch: unknown): unknown {
  if (patch === null) return undefined;
  if (Array.isArray(patch)) {
    const byName = (xs: unknown[]) => xs.every((x) => isObj(x) && typeof x['name'] === 'string');
    if (!Array.isArray(base) || !byName(base) || !byName(patch)) return clone(patch);
    const out = base.map(clone) as Obj[];
    for (const p of patch as Obj[]) {
      const i = out.findIndex((b) => b['name'] === p['name']);
      if (i >= 0) out[i] = strategicMerge(out[i], p) as Obj;
      else out.push(clone(p));
    }
    return out;
  }
  if (isObj(patch)) {
    const out: Obj = isObj(base) ? { ...base } : {};
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith('$')) continue;
      const merged = strategicMerge(out[key], value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    }
    return out;
  }
  return patch;
}

/** RFC 6902 add / replace / remove, the operations the overlays use. */
function jsonPatch(target: Obj, ops: { op: string; path: string; value?: unknown }[]): void {
  for (const op of ops) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    let at: Obj = target;
    for (const k of keys) {
      if (at[k] === undefined)
        throw new Error(`json patch ${op.op} ${op.path}: ${k} does not exist`);
      at = at[k];
    }
    if (op.op === 'remove' || op.op === 'replace') {
      if (!(last in at)) throw new Error(`json patch ${op.op} ${op.path}: nothing there`);
    }
    if (op.op === 'remove') {
      if (Array.isArray(at)) at.splice(Number(last), 1);
      else delete at[last];
    } else if (op.op === 'add' && Array.isArray(at)) {
      at.splice(last === '-' ? at.length : Number(last), 0, clone(op.value));
    } else if (op.op === 'add' || op.op === 'replace') {
      at[last] = clone(op.value);
    } else {
      throw new Error(`json patch op ${op.op} is not supported here`);
    }
  }
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
]);

function podSpecs(obj: K8sObject): Obj[] {
  return ['Deployment', 'StatefulSet', 'DaemonSet'].includes(obj.kind)
    ? [obj['spec'].template.spec]
    : [];
}

/**
 * Renders a kustomization the way `kubectl kustomize` does, for the features these manifests use:
 * resources (files and directories), labels, configMapGenerator (envs, literals, merge), patches
 * (strategic merge and JSON 6902, each required to hit an object), replicas, images, namespace.
 * Generated ConfigMaps keep their plain names (no hash suffix).
 */
function render(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    objects.push(...(fs.statSync(p).isDirectory() ? render(p) : readDocs(p)));
  }
  for (const g of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const file of g.envs ?? []) Object.assign(data, parseEnvFile(path.join(dir, file)));
    for (const literal of g.literals ?? [])
      data[literal.slice(0, literal.indexOf('='))] = literal.slice(literal.indexOf('=') + 1);
    const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === g.name);
    if (g.behavior === 'merge' || g.behavior === 'replace') {
      if (!existing)
        throw new Error(
          `${dir}: configMapGenerator ${g.name} (${g.behavior}) has no ConfigMap to ${g.behavior}`,
        );
      existing['data'] = g.behavior === 'merge' ? { ...existing['data'], ...data } : data;
    } else {
      if (existing) throw new Error(`${dir}: configMapGenerator ${g.name} already exists`);
      objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
    }
  }
  for (const p of k.patches ?? []) {
    const docs: unknown[] = p.path ? readDocs(path.join(dir, p.path)) : [parse(p.patch!)];
    for (const doc of docs) {
      if (Array.isArray(doc)) {
        const t = p.target ?? {};
        const hits = objects.filter(
          (o) => (!t.kind || o.kind === t.kind) && (!t.name || o.metadata.name === t.name),
        );
        if (!hits.length)
          throw new Error(`${dir}: JSON patch targets ${t.kind}/${t.name}, which is not defined`);
        for (const o of hits) jsonPatch(o, doc as never);
      } else {
        const d = doc as K8sObject;
        const i = objects.findIndex(
          (o) => o.kind === d.kind && o.metadata.name === d.metadata.name,
        );
        if (i < 0)
          throw new Error(
            `${dir}: patch ${p.path} targets ${d.kind}/${d.metadata.name}, which is not defined`,
          );
        objects[i] = strategicMerge(objects[i], d) as K8sObject;
      }
    }
  }
  for (const r of k.replicas ?? []) {
    const o = objects.find(
      (x) => ['Deployment', 'StatefulSet'].includes(x.kind) && x.metadata.name === r.name,
    );
    if (!o)
      throw new Error(`${dir}: replicas names ${r.name}, which is not a Deployment or StatefulSet`);
    o['spec'].replicas = r.count;
  }
  for (const img of k.images ?? []) {
    let used = false;
    for (const o of objects) {
      for (const spec of podSpecs(o)) {
        for (const c of [...(spec['initContainers'] ?? []), ...spec['containers']] as Obj[]) {
          const [name, tag] = String(c['image']).split(':');
          if (name !== img.name) continue;
          used = true;
          c['image'] =
            `${img.newName ?? name}${(img.newTag ?? tag) ? `:${img.newTag ?? tag}` : ''}`;
        }
      }
    }
    if (!used) throw new Error(`${dir}: images names ${img.name}, which no container uses`);
  }
  for (const l of k.labels ?? []) {
    for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  }
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

const kubectl =
  spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 20_000 }).status === 0;

/** `kubectl kustomize <dir>`, with generated names' hash suffixes removed. */
function kubectlKustomize(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    throw new Error(`kubectl kustomize ${path.relative(root, dir)} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean);
}

const byKindName = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const appOf = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/name'] ?? o.metadata.name;
const flotillaWorkloads = (objects: K8sObject[]) =>
  objects.filter(
    (o) =>
      ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind) &&
      (SERVICES as readonly string[]).includes(appOf(o)),
  );

/** Every variable a service reads (its own or '*'). */
function variablesOf(app: string): string[] {
  return Object.entries(variables)
    .filter(([, spec]) => (spec.usedBy as readonly string[]).some((u) => u === '*' || u === app))
    .map(([name]) => name);
}

function kustomizationDirs(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...kustomizationDirs(p));
    else if (entry.name === 'kustomization.yaml') found.push(dir);
  }
  return found;
}

describe('deploy/k8s kustomizations', () => {
  const dirs = kustomizationDirs(k8sDir);

  it('are the base and the development and production overlays', () => {
    expect(dirs.map((d) => path.relative(k8sDir, d)).sort()).toEqual([
      'base',
      'overlays/development',
      'overlays/production',
    ]);
  });

  it.each(dirs.map((d) => [path.relative(k8sDir, d), d]))(
    '%s: every file it names exists',
    (_name, dir) => {
      const k = readKustomization(dir);
      const missing: string[] = [];
      const need = (rel: string, dirOk = false) => {
        const p = path.join(dir, rel);
        const ok =
          fs.existsSync(p) &&
          (fs.statSync(p).isFile() || (dirOk && fs.existsSync(path.join(p, 'kustomization.yaml'))));
        if (!ok) missing.push(rel);
      };
      for (const r of k.resources ?? []) need(r, true);
      for (const p of k.patches ?? []) if (p.path) need(p.path);
      for (const g of k.configMapGenerator ?? [])
        for (const f of [...(g.envs ?? []), ...(g.files ?? [])]) need(f);
      expect(missing).toEqual([]);
      expect(k.resources?.length ?? 0).toBeGreaterThan(0);
    },
  );

  it('every YAML file under deploy/k8s is named by a kustomization (nothing is silently left out)', () => {
    const named = new Set<string>();
    for (const dir of dirs) {
      const k = readKustomization(dir);
      for (const r of [
        ...(k.resources ?? []),
        ...(k.patches ?? []).flatMap((p) => (p.path ? [p.path] : [])),
      ])
        named.add(path.join(dir, r));
      named.add(path.join(dir, 'kustomization.yaml'));
    }
    const yamlFiles = (d: string): string[] =>
      fs
        .readdirSync(d, { withFileTypes: true })
        .flatMap((e) =>
          e.isDirectory()
            ? yamlFiles(path.join(d, e.name))
            : /\.ya?ml$/.test(e.name)
              ? [path.join(d, e.name)]
              : [],
        );
    expect(
      yamlFiles(k8sDir)
        .filter((f) => !named.has(f))
        .map((f) => path.relative(k8sDir, f)),
    ).toEqual([]);
  });
});

/** Renders once per directory, inside a test, so a broken kustomization fails that test only. */
const renders = new Map<string, K8sObject[]>();
const rendered = (dir: string) => renders.get(dir) ?? renders.set(dir, render(dir)).get(dir)!;

describe('deploy/k8s/base', () => {
  it('every manifest validates against the Kubernetes API schema', () => {
    const objects = rendered(baseDir);
    expect(objects.length).toBeGreaterThan(10);
    expect(objects.map(schemaError).filter(Boolean)).toEqual([]);
  });

  it('has a Deployment (the node agents: a StatefulSet) and a Service for every service', () => {
    const objects = rendered(baseDir);
    for (const service of SERVICES) {
      expect([
        service,
        byKindName(objects, 'Deployment', service)?.kind ??
          byKindName(objects, 'StatefulSet', service)?.kind,
      ]).toEqual([service, service === 'node-agent' ? 'StatefulSet' : 'Deployment']);
      expect([service, byKindName(objects, 'Service', service)?.kind]).toEqual([
        service,
        'Service',
      ]);
    }
  });

  it('probes /live (liveness) and /ready (readiness) on the service port, with requests and limits and no root', () => {
    const objects = rendered(baseDir);
    for (const w of flotillaWorkloads(objects)) {
      const spec = w['spec'].template.spec;
      expect([w.metadata.name, spec.securityContext?.runAsNonRoot]).toEqual([
        w.metadata.name,
        true,
      ]);
      for (const c of spec.containers as Obj[]) {
        const where = `${w.metadata.name}/${c['name']}`;
        const ports = (c['ports'] as Obj[]).map((p) => p['name']);
        expect([
          where,
          c['livenessProbe']?.httpGet?.path,
          ports.includes(c['livenessProbe']?.httpGet?.port),
        ]).toEqual([where, '/live', true]);
        // The gateway's /ready reports the whole system (any service down → 503); as a readiness
        // probe it would take every gateway out at once, so it uses its own /live (see gateway.yaml).
        const readiness = w.metadata.name === 'gateway' ? '/live' : '/ready';
        expect([
          where,
          c['readinessProbe']?.httpGet?.path,
          ports.includes(c['readinessProbe']?.httpGet?.port),
        ]).toEqual([where, readiness, true]);
        for (const kind of ['requests', 'limits']) {
          expect([where, kind, Object.keys(c['resources']?.[kind] ?? {}).sort()]).toEqual([
            where,
            kind,
            ['cpu', 'memory'],
          ]);
        }
        expect([
          where,
          c['securityContext']?.allowPrivilegeEscalation,
          c['securityContext']?.readOnlyRootFilesystem,
        ]).toEqual([where, false, true]);
        expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
          Number(variables.SHUTDOWN_GRACE_MS.example),
        );
      }
    }
  });

  it('takes settings from the ConfigMap flotilla-config and the Secret flotilla-secrets, and every variable a service reads is set', () => {
    const objects = rendered(baseDir);
    const config = byKindName(objects, 'ConfigMap', 'flotilla-config')!;
    expect(config).toBeDefined();
    for (const secret of SECRET_VARIABLES)
      expect(Object.keys(config['data'])).not.toContain(secret);
    for (const w of flotillaWorkloads(objects)) {
      for (const c of w['spec'].template.spec.containers as Obj[]) {
        const from = (c['envFrom'] as Obj[]).map(
          (e) => e['configMapRef']?.name ?? e['secretRef']?.name,
        );
        // Node agents run tenants' agents: the optional flotilla-agent-secrets (AGENT_SECRET_*) instead.
        expect([w.metadata.name, from]).toEqual([
          w.metadata.name,
          ['flotilla-config', appOf(w) === 'node-agent' ? 'flotilla-agent-secrets' : 'flotilla-secrets'],
        ]);
        const envNames = ((c['env'] as Obj[] | undefined) ?? []).map((e) => e['name'] as string);
        const set = new Set([
          ...Object.keys(config['data']),
          ...(from.includes('flotilla-secrets') ? SECRET_VARIABLES : []),
          ...envNames,
          // NATS_PASSWORD_FILE is how the node agents get their NATS_PASSWORD.
          ...(envNames.includes('NATS_PASSWORD_FILE') ? ['NATS_PASSWORD'] : []),
        ]);
        expect([w.metadata.name, variablesOf(appOf(w)).filter((v) => !set.has(v))]).toEqual([
          w.metadata.name,
          [],
        ]);
      }
    }
    expect(config['data']['EVENT_STORE']).toBe('eventstoredb');
    expect(config['data']['HTTP_HOST']).toBe('0.0.0.0');
  });

  it('every Service selects pods of a workload and targets ports those pods name', () => {
    const objects = rendered(baseDir);
    const workloads = objects.filter((o) => podSpecs(o).length);
    for (const s of objects.filter((o) => o.kind === 'Service')) {
      const selector = s['spec'].selector as Record<string, string>;
      const matches = workloads.filter((w) =>
        Object.entries(selector).every(([k, v]) => w['spec'].template.metadata.labels?.[k] === v),
      );
      expect([s.metadata.name, matches.length]).toEqual([s.metadata.name, 1]);
      const portNames = (matches[0]!['spec'].template.spec.containers as Obj[]).flatMap((c) =>
        (c['ports'] as Obj[]).map((p) => p['name']),
      );
      for (const p of s['spec'].ports as Obj[])
        expect([s.metadata.name, portNames]).toEqual([
          s.metadata.name,
          expect.arrayContaining([p['targetPort']]),
        ]);
    }
  });

  it('runs NATS as a 3-server JetStream cluster: a StatefulSet with volumes, a headless Service and routes to every server', () => {
    const objects = rendered(baseDir);
    const nats = byKindName(objects, 'StatefulSet', 'nats')!;
    expect(nats['spec'].replicas).toBe(3);
    expect(nats['spec'].volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
    const headless = byKindName(objects, 'Service', nats['spec'].serviceName)!;
    expect(headless['spec'].clusterIP).toBe('None');
    const conf = byKindName(objects, 'ConfigMap', 'nats-config')!['data']['nats.conf'] as string;
    expect(conf).toMatch(/jetstream\s*\{[^}]*store_dir:\s*\/data/);
    for (let i = 0; i < 3; i++)
      expect(conf).toContain(`nats://nats-${i}.${nats['spec'].serviceName}:6222`);
    expect(byKindName(objects, 'PodDisruptionBudget', 'nats')?.['spec'].maxUnavailable).toBe(1);
    const config = byKindName(objects, 'ConfigMap', 'flotilla-config')!;
    expect(config['data']['NATS_URL']).toBe(
      `nats://${byKindName(objects, 'Service', 'nats')!.metadata.name}:4222`,
    );
  });

  it('connects each service to NATS as its own user; the NATS servers load those users and read the same passwords', () => {
    const objects = rendered(baseDir);
    const passwordRef = (svc: string) => ({ secretKeyRef: { name: 'flotilla-nats-users', key: svc } });
    for (const w of flotillaWorkloads(objects)) {
      const app = appOf(w);
      if (app === 'node-agent') continue; // per pod: the next tests
      for (const c of w['spec'].template.spec.containers as Obj[]) {
        const env = Object.fromEntries((c['env'] as Obj[]).map((e) => [e['name'], e['value'] ?? e['valueFrom']]));
        expect([w.metadata.name, env['NATS_USER'], env['NATS_PASSWORD']]).toEqual([w.metadata.name, `flotilla-${app}`, passwordRef(app)]);
      }
    }
    const nats = byKindName(objects, 'StatefulSet', 'nats')!;
    const server = nats['spec'].template.spec.containers[0] as Obj;
    const serverEnv = Object.fromEntries((server['env'] as Obj[]).map((e) => [e['name'], e['valueFrom']]));
    for (const svc of CONTROL_PLANE_SERVICES) expect([svc, serverEnv[natsPasswordVariable(svc)]]).toEqual([svc, passwordRef(svc)]);
    // No shared node-agent password any more: each slot's is derived for its pod.
    expect(Object.keys(serverEnv).filter((n) => n.startsWith('FLOTILLA_NATS_PASSWORD_NODE_AGENT'))).toEqual([]);
    expect(byKindName(objects, 'ConfigMap', 'nats-auth')!['data']['auth.conf']).toBe(kubernetesNatsAuthorization());
  });

  it("the NATS servers include auth.conf as their init container wrote it from the ConfigMap nats-auth and the master key (the server itself never mounts the key)", () => {
    const objects = rendered(baseDir);
    const nats = byKindName(objects, 'StatefulSet', 'nats')!;
    const spec = nats['spec'].template.spec as Obj;
    const server = spec['containers'][0] as Obj;
    const volume = (name: string) => (spec['volumes'] as Obj[]).find((v) => v['name'] === name)!;
    const mountAt = (c: Obj, at: string) => (c['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === at);
    // nats.conf (ConfigMap nats-config at /etc/nats) includes ../nats-auth/auth.conf: the rendered one.
    expect(byKindName(objects, 'ConfigMap', 'nats-config')!['data']['nats.conf']).toMatch(/^\s*include \.\.\/nats-auth\/auth\.conf$/m);
    expect(volume(mountAt(server, '/etc/nats')!['name'])['configMap']).toEqual({ name: 'nats-config' });
    const authMount = mountAt(server, '/etc/nats-auth')!;
    expect(authMount['readOnly']).toBe(true);
    expect(volume(authMount['name'])['emptyDir']).toMatchObject({ medium: 'Memory' });
    const [init, ...more] = spec['initContainers'] as Obj[];
    expect(more).toEqual([]);
    expect(init!['image']).toBe('flotilla/node-agent');
    const [, script, mode, key, template, out] = init!['command'] as string[];
    expect([script, mode]).toEqual(['/app/nats-node-password.mjs', 'auth-conf']);
    expect(volume(mountAt(init!, path.dirname(template!))!['name'])['configMap']).toEqual({ name: 'nats-auth' });
    expect(mountAt(init!, path.dirname(out!))!['name']).toBe(authMount['name']);
    expect(path.basename(out!)).toBe('auth.conf');
    expect(volume(mountAt(init!, path.dirname(key!))!['name'])['secret']).toMatchObject({ secretName: 'flotilla-nats-users', items: [{ key: K8S_NODE_AGENT_MASTER_KEY, path: path.basename(key!) }] });
    // The server mounts no Secret at all: the services' passwords come from its environment.
    for (const m of server['volumeMounts'] as Obj[]) expect([m['name'], volume(m['name'])?.['secret']]).toEqual([m['name'], undefined]);
  });

  it('runs the node agents as a StatefulSet: each pod its own node and NATS user (NATS_USER from NODE_ID = the pod name), its password derived by an init container', () => {
    const objects = rendered(baseDir);
    const agent = byKindName(objects, 'StatefulSet', K8S_NODE_AGENT_STATEFULSET)!;
    expect(agent).toBeDefined();
    expect(byKindName(objects, 'Deployment', 'node-agent')).toBeUndefined();
    expect(agent['spec'].podManagementPolicy).toBe('Parallel');
    expect(byKindName(objects, 'Service', agent['spec'].serviceName)!['spec'].clusterIP).toBe('None');
    const spec = agent['spec'].template.spec as Obj;
    const [main] = spec['containers'] as Obj[];
    const env = main!['env'] as Obj[];
    const at = (name: string) => env.findIndex((e) => e['name'] === name);
    expect(env[at('NODE_ID')]).toEqual({ name: 'NODE_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    // Kubernetes expands $(NODE_ID) only when NODE_ID is defined earlier in the list.
    expect(env[at('NATS_USER')]).toEqual({ name: 'NATS_USER', value: 'flotilla-node-agent-$(NODE_ID)' });
    expect(at('NODE_ID')).toBeLessThan(at('NATS_USER'));
    expect(at('NATS_PASSWORD')).toBe(-1);
    // The password file: on a read-only memory volume the init container wrote for this pod.
    const file = env[at('NATS_PASSWORD_FILE')]!['value'] as string;
    const mount = (main!['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === path.dirname(file))!;
    expect(mount['readOnly']).toBe(true);
    expect((spec['volumes'] as Obj[]).find((v) => v['name'] === mount['name'])!['emptyDir']).toMatchObject({ medium: 'Memory' });
    const [init, ...more] = spec['initContainers'] as Obj[];
    expect(more).toEqual([]);
    expect(init!['image']).toBe(main!['image']);
    expect(init!['command']).toEqual(['node', '/app/nats-node-password.mjs', 'password', expect.any(String), '$(POD_NAME)', file]);
    expect(init!['env']).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
    expect((init!['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === path.dirname(file))!['name']).toBe(mount['name']);
    // Its node's state outlives the pod like its name: the drain marker its next start undoes.
    const data = (main!['volumeMounts'] as Obj[]).find((m) => m['mountPath'] === '/var/lib/flotilla')!;
    expect((agent['spec'].volumeClaimTemplates as Obj[]).map((t) => t['metadata'].name)).toEqual([data['name']]);
  });

  it('gives the master key to the init containers only: no node agent main container mounts a volume holding it', () => {
    const objects = rendered(baseDir);
    const holdsKey = (v: Obj | undefined) =>
      Boolean(
        v?.['secret']?.secretName === 'flotilla-nats-users' ||
          (v?.['projected']?.sources as Obj[] | undefined)?.some((s) => s['secret']?.name === 'flotilla-nats-users'),
      );
    for (const w of objects.filter((o) => podSpecs(o).length)) {
      const spec = w['spec'].template.spec as Obj;
      const volumes = (spec['volumes'] as Obj[] | undefined) ?? [];
      for (const c of spec['containers'] as Obj[])
        for (const m of (c['volumeMounts'] as Obj[] | undefined) ?? [])
          expect([w.metadata.name, c['name'], m['name'], holdsKey(volumes.find((v) => v['name'] === m['name']))]).toEqual([w.metadata.name, c['name'], m['name'], false]);
      for (const v of volumes.filter(holdsKey))
        expect([w.metadata.name, v['name'], v['secret']?.items]).toEqual([w.metadata.name, v['name'], [{ key: K8S_NODE_AGENT_MASTER_KEY, path: 'master' }]]);
      // And no container reads the master key from its environment.
      for (const c of [...(spec['initContainers'] ?? []), ...spec['containers']] as Obj[])
        for (const e of (c['env'] as Obj[] | undefined) ?? []) expect([c['name'], e['valueFrom']?.secretKeyRef?.key]).not.toEqual([c['name'], K8S_NODE_AGENT_MASTER_KEY]);
    }
    const agent = byKindName(objects, 'StatefulSet', 'node-agent')!['spec'].template.spec as Obj;
    expect((agent['initContainers'] as Obj[]).map((c) => c['name'])).toEqual(['nats-password']);
  });

  it('node agents are given no control-plane secret', () => {
    const objects = rendered(baseDir);
    const agent = byKindName(objects, 'StatefulSet', 'node-agent')!;
    for (const c of [...agent['spec'].template.spec.initContainers, ...agent['spec'].template.spec.containers] as Obj[]) {
      if (!c['envFrom']) {
        // The init container: nothing from a Secret but the master key, through its volume.
        expect([c['name'], (c['env'] as Obj[]).filter((e) => e['valueFrom']?.secretKeyRef)]).toEqual([c['name'], []]);
        continue;
      }
      const refs = (c['envFrom'] as Obj[]).map((e) => e['secretRef']).filter(Boolean) as Obj[];
      expect(refs).toEqual([{ name: 'flotilla-agent-secrets', optional: true }]);
      const names = ((c['env'] as Obj[] | undefined) ?? []).map((e) => e['name'] as string);
      for (const secret of CONTROL_PLANE_SECRETS) expect(names).not.toContain(secret);
      for (const e of (c['env'] as Obj[] | undefined) ?? [])
        expect([e['name'], e['valueFrom']?.secretKeyRef?.name ?? 'flotilla-nats-users']).toEqual([e['name'], 'flotilla-nats-users']);
    }
    const config = byKindName(objects, 'ConfigMap', 'flotilla-config')!;
    for (const secret of CONTROL_PLANE_SECRETS) expect(Object.keys(config['data'])).not.toContain(secret);
  });

  it('treats PostgreSQL and EventStoreDB as external services configured by the Secret', () => {
    const objects = rendered(baseDir);
    expect(objects.filter((o) => /postgres|eventstore|kurrent/i.test(o.metadata.name))).toEqual([]);
    expect(SECRET_VARIABLES).toEqual(expect.arrayContaining(['DATABASE_URL', 'EVENTSTORE_URL']));
  });
});

describe.each(overlays)('deploy/k8s/overlays/%s', (overlay) => {
  const dir = path.join(k8sDir, 'overlays', overlay);

  it('renders (every patch, replica count and image hits an object of the base) and every object validates', () => {
    const objects = rendered(dir);
    expect(objects.map(schemaError).filter(Boolean)).toEqual([]);
    for (const o of objects)
      if (o.kind !== 'Namespace')
        expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([
          o.kind,
          o.metadata.name,
          readKustomization(dir).namespace,
        ]);
  });

  it('patches only objects the base defines', () => {
    const base = rendered(baseDir);
    const k = readKustomization(dir);
    for (const p of k.patches ?? []) {
      const targets = p.path
        ? readDocs(path.join(dir, p.path)).map((d) => [d.kind, d.metadata.name])
        : [[p.target!.kind, p.target!.name]];
      for (const [kind, name] of targets)
        expect([
          p.path ?? 'inline patch',
          kind,
          name,
          Boolean(byKindName(base, kind!, name!)),
        ]).toEqual([p.path ?? 'inline patch', kind, name, true]);
    }
    for (const r of k.replicas ?? [])
      expect([
        r.name,
        base.some(
          (o) => o.metadata.name === r.name && ['Deployment', 'StatefulSet'].includes(o.kind),
        ),
      ]).toEqual([r.name, true]);
  });

  it('sets NATS_STREAM_REPLICAS for its NATS cluster (3 in production) and keeps every service', () => {
    const objects = rendered(dir);
    const config = byKindName(objects, 'ConfigMap', 'flotilla-config')!;
    expect(config['data']['NATS_STREAM_REPLICAS']).toBe(overlay === 'production' ? '3' : '1');
    expect(Number(config['data']['NATS_STREAM_REPLICAS'])).toBeLessThanOrEqual(
      byKindName(objects, 'StatefulSet', 'nats')!['spec'].replicas,
    );
    for (const service of SERVICES)
      expect([service, Boolean(byKindName(objects, service === 'node-agent' ? 'StatefulSet' : 'Deployment', service))]).toEqual([
        service,
        true,
      ]);
    // Every node-agent pod has a NATS user: never more replicas than slots.
    expect(byKindName(objects, 'StatefulSet', K8S_NODE_AGENT_STATEFULSET)!['spec'].replicas).toBeLessThanOrEqual(K8S_NODE_AGENT_SLOTS);
    if (overlay === 'production') {
      for (const w of flotillaWorkloads(objects))
        expect([w.metadata.name, w['spec'].replicas >= 2]).toEqual([w.metadata.name, true]);
      for (const w of flotillaWorkloads(objects))
        expect([
          w.metadata.name,
          Boolean(byKindName(objects, 'PodDisruptionBudget', w.metadata.name)),
        ]).toEqual([w.metadata.name, true]);
    }
  });

  it('provides the Secret keys every service expects (a committed development Secret; production documents it)', () => {
    const objects = rendered(dir);
    if (overlay === 'development') {
      const secret = byKindName(objects, 'Secret', 'flotilla-secrets')!;
      expect(Object.keys(secret['stringData']).sort()).toEqual([...SECRET_VARIABLES].sort());
      const nats = byKindName(objects, 'Secret', 'flotilla-nats-users')!;
      expect(Object.keys(nats['stringData']).sort()).toEqual([...CONTROL_PLANE_SERVICES, K8S_NODE_AGENT_MASTER_KEY].sort());
    } else {
      expect(byKindName(objects, 'Secret', 'flotilla-secrets')).toBeUndefined();
      expect(byKindName(objects, 'Secret', 'flotilla-nats-users')).toBeUndefined();
      expect(Object.keys(parseEnvFile(path.join(dir, 'secrets.env.example'))).sort()).toEqual(
        [...SECRET_VARIABLES].sort(),
      );
      expect(Object.keys(parseEnvFile(path.join(dir, 'nats-users.env.example'))).sort()).toEqual(
        [...CONTROL_PLANE_SERVICES, K8S_NODE_AGENT_MASTER_KEY].sort(),
      );
    }
  });

  it('no usable admin key is committed, and the placeholder stops the gateway', () => {
    const objects = rendered(dir);
    const config = byKindName(objects, 'ConfigMap', 'flotilla-config')!['data'] as Record<string, string>;
    const secrets =
      overlay === 'development'
        ? (byKindName(objects, 'Secret', 'flotilla-secrets')!['stringData'] as Record<string, string>)
        : parseEnvFile(path.join(dir, 'secrets.env.example'));
    const gatewayEnv = { ...config, ...secrets, NATS_USER: 'flotilla-gateway', NATS_PASSWORD: 'x'.repeat(24) };
    let problems: readonly { variable: string }[] = [];
    try {
      loadConfig(gatewayEnv);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems.map((p) => p.variable)).toContain('FLOTILLA_BOOTSTRAP_ADMIN_KEY');
  });

  (kubectl ? it : it.skip)(
    `kubectl kustomize renders it, the same objects as here, all valid${kubectl ? '' : ' (skipped: kubectl is not installed)'}`,
    () => {
      const objects = rendered(dir);
      const built = kubectlKustomize(dir);
      expect(built.map(schemaError).filter(Boolean)).toEqual([]);
      const key = (o: K8sObject) =>
        `${o.kind}/${o.kind === 'ConfigMap' ? o.metadata.name.replace(/-[a-z0-9]{10}$/, '') : o.metadata.name}`;
      expect(built.map(key).sort()).toEqual(objects.map(key).sort());
      const config = built.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('flotilla-config-'),
      )!;
      expect(config['data']).toEqual(byKindName(objects, 'ConfigMap', 'flotilla-config')!['data']);
      for (const o of built.filter((x) => podSpecs(x).length)) {
        const mine = byKindName(objects, o.kind, o.metadata.name)!;
        expect([
          o.metadata.name,
          o['spec'].replicas,
          [...(o['spec'].template.spec.initContainers ?? []), ...o['spec'].template.spec.containers].map((c: Obj) => c['image']),
        ]).toEqual([
          o.metadata.name,
          mine['spec'].replicas,
          [...(mine['spec'].template.spec.initContainers ?? []), ...mine['spec'].template.spec.containers].map((c: Obj) => c['image']),
        ]);
      }
    },
  );
});

describe('the test renderer', () => {
  it('merges lists by name and replaces others, as a strategic merge patch does', () => {
    const base = {
      spec: {
        containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] }],
        args: ['1'],
      },
    };
    const patched = strategicMerge(base, {
      spec: { containers: [{ name: 'a', env: [{ name: 'B', value: '2' }] }], args: ['2'] },
    });
    expect(patched).toEqual({
      spec: {
        containers: [
          {
            name: 'a',
            image: 'x',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
          },
        ],
        args: ['2'],
      },
    });
  });

  it('refuses a JSON patch on a path that does not exist', () => {
    expect(() =>
      jsonPatch({ spec: {} }, [{ op: 'replace', path: '/spec/replicas', value: 2 }]),
    ).toThrow(/nothing there/);
  });
});
