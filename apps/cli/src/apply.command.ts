import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiError, type GatewayClient } from './client.js';
import { ManifestError, parseManifests, planBlueprint, planCluster, type Manifest, type RemoteBlueprint, type RemoteCluster } from './apply.plan.js';
import { UsageError } from './resources.js';
import type { ClusterView } from './views.js';
import { sleep } from './watch.js';

const enc = encodeURIComponent;
const MANIFEST_FILE = /\.(ya?ml|json)$/i;
/** How long apply waits for a new cluster to be scalable before it sets the declared target. */
const READY_TIMEOUT_MS = 120_000;
const SCALABLE = ['active', 'degraded', 'scaling_up', 'scaling_down'];

/** The files behind `-f`: a file, `-` (standard input), or every manifest file of a directory. */
export function readSources(targets: readonly string[]): { source: string; text: string }[] {
  const out: { source: string; text: string }[] = [];
  for (const target of targets) {
    if (target === '-') {
      out.push({ source: '<stdin>', text: fs.readFileSync(0, 'utf8') });
      continue;
    }
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch {
      throw new UsageError(`no such file or directory: ${target}`);
    }
    if (stat.isDirectory()) {
      const files = fs
        .readdirSync(target)
        .filter((f) => MANIFEST_FILE.test(f))
        .sort();
      if (!files.length) throw new UsageError(`no .yaml, .yml or .json files in ${target}`);
      for (const f of files) out.push({ source: path.join(target, f), text: fs.readFileSync(path.join(target, f), 'utf8') });
    } else out.push({ source: target, text: fs.readFileSync(target, 'utf8') });
  }
  return out;
}

async function getOrNull<T>(c: GatewayClient, p: string): Promise<T | null> {
  try {
    return await c.request<T>('GET', p);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

async function waitScalable(c: GatewayClient, id: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const cl = await c.request<ClusterView>('GET', `/api/clusters/${enc(id)}`);
    if (SCALABLE.includes(cl.status)) return;
    if (Date.now() > deadline) throw new ApiError(409, 'cluster_not_ready', `cluster '${id}' is still ${cl.status} after ${READY_TIMEOUT_MS / 1000} s; apply again once it is active`, { status: cl.status });
    await sleep(500);
  }
}

/**
 * `flotilla apply -f`: makes the gateway hold what the files declare, blueprints first (clusters
 * name them), each object on its own line: `created`, `configured` or `unchanged`.
 */
export function registerApply(program: Command, client: () => GatewayClient): void {
  program
    .command('apply')
    .description('create or update blueprints and clusters declared in YAML or JSON files')
    .requiredOption('-f, --filename <path...>', 'a file, a directory (every *.yaml, *.yml, *.json in it) or - for standard input')
    .option('--dry-run', 'print what would change and change nothing')
    .addHelpText(
      'after',
      `
A cluster is declared as:
  apiVersion: flotilla/v1
  kind: Cluster
  metadata: { id: marketing-prod, name: Marketing, description: … }
  spec:
    blueprint_id: marketing-v1
    target_workers: 3
    min_workers: 1          # optional, with max_workers and policy: what PUT /api/clusters/{id} takes
    max_workers: 10
    policy: { queuePerWorkerUp: 8, cooldownUpSeconds: 60 }

A blueprint whose content changed is published as a new version (the next patch version when the
file's version is already taken); an unchanged one is left alone.

Examples:
  flotilla apply -f deploy/flotilla/            every manifest in the directory
  flotilla apply -f cluster.yaml --dry-run      what would change
  cat all.yaml | flotilla apply -f -`,
    )
    .action(async (o: { filename: string[]; dryRun?: boolean }) => {
      let manifests: Manifest[];
      try {
        manifests = readSources(o.filename).flatMap(({ source, text }) => parseManifests(text, source));
      } catch (err) {
        if (err instanceof ManifestError) throw new UsageError(err.message);
        throw err;
      }
      const seen = new Set<string>();
      for (const m of manifests) {
        const key = `${m.kind}/${m.id}`;
        if (seen.has(key)) throw new UsageError(`${m.source}: ${m.kind.toLowerCase()}/${m.id} is declared twice`);
        seen.add(key);
      }
      const c = client();
      const dry = o.dryRun ? ' (dry run)' : '';
      const print = (what: string, verb: string, changes: readonly string[], warnings: readonly string[] = []) => {
        process.stdout.write(`${what} ${verb}${dry}\n`);
        if (o.dryRun) for (const ch of changes) process.stdout.write(`  ${ch}\n`);
        for (const w of warnings) process.stderr.write(`warning: ${what}: ${w}\n`);
      };
      const ordered = [...manifests.filter((m) => m.kind === 'Blueprint'), ...manifests.filter((m) => m.kind === 'Cluster')];
      for (const m of ordered) {
        if (m.kind === 'Blueprint') {
          const remote = await getOrNull<RemoteBlueprint>(c, `/api/blueprints/${enc(m.id)}`);
          const plan = planBlueprint(m.document, remote);
          if (plan.action === 'unchanged') {
            print(`blueprint/${m.id}`, 'unchanged', []);
            continue;
          }
          if (!o.dryRun) await c.request('POST', '/api/blueprints?wait=true', { document: plan.document });
          print(`blueprint/${m.id}`, `${plan.action === 'create' ? 'created' : 'configured'} (version ${plan.version})`, plan.changes);
          continue;
        }
        const current = await getOrNull<ClusterView & RemoteCluster>(c, `/api/clusters/${enc(m.id)}`);
        const plan = planCluster(m.document, current);
        if (plan.action === 'unchanged') {
          print(`cluster/${m.id}`, 'unchanged', [], plan.warnings);
          continue;
        }
        if (!o.dryRun) {
          if (plan.create) await c.request('POST', '/api/clusters?wait=true', plan.create);
          if (plan.update) await c.request('PUT', `/api/clusters/${enc(m.id)}?wait=true`, plan.update);
          if (plan.scale !== undefined) {
            // A new cluster scales only once it is up (a spawning cluster refuses); an existing one
            // that cannot scale now (hibernated, say) answers why.
            if (plan.create) await waitScalable(c, m.id);
            await c.request('POST', `/api/clusters/${enc(m.id)}/scale?wait=true`, { target_workers: plan.scale, reason: 'flotilla apply' });
          }
        }
        print(`cluster/${m.id}`, plan.action === 'create' ? 'created' : 'configured', plan.changes, plan.warnings);
      }
    });
}
