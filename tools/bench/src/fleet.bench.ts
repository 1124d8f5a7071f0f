/**
 * bench:fleet: the stack at fleet scale (default 1,000 clusters, 20,000 agents, 200 nodes).
 *
 * Every service runs as its own process on its own database and NATS namespace; the nodes are
 * simulated in one process (fleet-sim.ts) that speaks the real protocol: registration, heartbeats
 * and telemetry every second, a durable assignment consumer per node, agent reports. The bench
 * reports, each beside the floor of its parts where one applies:
 *
 *   create       time to create every cluster (REST, 16 at a time) and to see every agent running
 *   idle         the stack's CPU per service (% of one core) and RSS over BENCH_IDLE_SECONDS
 *   reconcile    lag from a scale command's acknowledgement to its new agent running (p50/p99)
 *   re-placement after the node carrying the most agents dies: from it being declared offline to
 *                every one of its agents running elsewhere
 *   autoscaler   from a queue crossing its threshold (tasks submitted, nobody consuming) to the
 *                decision being recorded
 *   rebuild      time to rebuild every read model from the log
 *   leadership   leader changes nobody asked for during the run (should be 0)
 *
 * BENCH_HISTORY=1000000 first fills the log with that many events of long-gone clusters (and
 * lets the stack catch up), so the same figures can be compared on a log with a long history:
 * none should grow with it but the rebuild. `npm run bench:fleet` runs both and prints them side
 * by side. Scale: BENCH_CLUSTERS, BENCH_AGENTS_PER_CLUSTER, BENCH_NODES. Bounded by BENCH_TIMEOUT_S.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { createEventStore, type NewEvent } from '@flotilla/eventstore';
import { ALL_PROJECTIONS, createReadModelOrm, rebuildProjection } from '@flotilla/projections';
import { api, createTestDatabase, repoRoot, startStack, type Stack, type TestDatabase } from '@flotilla/testing';
import { CpuMeter, distribution, natsServerPid, postmasterPid, round, saveReport, sleep, table } from './measure.ts';

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v >= 0 ? v : fallback;
};
const CLUSTERS = envInt('BENCH_CLUSTERS', 1000);
const AGENTS_PER_CLUSTER = envInt('BENCH_AGENTS_PER_CLUSTER', 20);
const NODES = envInt('BENCH_NODES', 200);
const IDLE_SECONDS = envInt('BENCH_IDLE_SECONDS', 30);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 3600);
const HISTORIES = (process.env['BENCH_HISTORY'] ?? '0,1000000').split(',').map(Number);
const MAX_AGENTS_PER_NODE = Math.ceil(((CLUSTERS * AGENTS_PER_CLUSTER) / NODES) * 1.5) + 10;

const watchdog = setTimeout(() => {
  console.error(`bench:fleet gave up after ${TIMEOUT_S} s`);
  process.exit(2);
}, TIMEOUT_S * 1000);
watchdog.unref();
const log = (msg: string) => process.stderr.write(`[bench:fleet] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

const blueprint = (id: string, workers: number, scaling: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: ${id}, version: 1.0.0 }
cluster:
  type: team
  minWorkers: 0
  targetWorkers: ${workers}
  maxWorkers: ${workers + 20}
  resources: { cpu: 0.1, memoryMb: 64 }
  placement: { strategy: least-agents, zoneSpread: false, antiAffinity: false }
  scaling: ${scaling}
  monitoring: { intervalSeconds: 5 }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: worker, role: worker, reportsTo: lead, runtime: { kind: builtin, handler: echo } }
`;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** Fills the log with `events` events of long-gone clusters: created, updated many times, decommissioned. */
async function fillHistory(db: TestDatabase, events: number): Promise<void> {
  const store = await createEventStore({ kind: 'postgres', url: db.url, poolSize: 4 });
  const meta = { tenantId: 'history', actor: 'bench', correlationId: 'bench', causationId: null, traceparent: null, schemaVersion: 1 };
  const at = new Date(Date.now() - 86_400_000).toISOString();
  const perCluster = 1000;
  try {
    for (let written = 0, c = 0; written < events; c++) {
      const count = Math.min(perCluster, events - written);
      const batch: NewEvent[] = Array.from({ length: count }, (_, i) =>
        i === 0
          ? { type: 'ClusterCreated', metadata: meta, data: { at, clusterId: `old-${c}`, tenantId: 'history', name: `old ${c}`, description: '', type: 'team', blueprintId: 'old', blueprintVersion: '1.0.0', blueprintHash: 'h', blueprint: { agents: [] }, minWorkers: 0, targetWorkers: 0, maxWorkers: 1, policy: { enabled: false }, backupCluster: null, keepFixedAgents: false } }
          : i === count - 1
            ? { type: 'ClusterDecommissioned', metadata: meta, data: { at } }
            : { type: 'ClusterUpdated', metadata: meta, data: { at, changes: { description: `update ${i}` } } },
      );
      await store.append(`cluster-old-${c}`, batch, { expectedRevision: 'any' });
      written += count;
      if (c % 100 === 0) log(`history: ${written.toLocaleString('en-US')} events`);
    }
  } finally {
    await store.close();
  }
}

function startSim(stack: Stack): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'fleet-sim.ts')], {
    env: { ...process.env, NATS_URL: stack.ns.natsUrl, FLEET_PREFIX: stack.ns.prefix, FLEET_NODES: String(NODES), FLEET_MAX_AGENTS: String(MAX_AGENTS_PER_NODE) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`fleet simulator exited with ${code}`)));
  });
}

async function control<T>(nc: NatsConnection, stack: Stack, body: unknown): Promise<T> {
  const reply = await nc.request(`${stack.ns.prefix}.bench.fleet.control`, JSON.stringify(body), { timeout: 30_000 });
  return reply.json<T>();
}

async function runOnce(history: number): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = { history, clusters: CLUSTERS, agents: CLUSTERS * AGENTS_PER_CLUSTER, nodes: NODES };
  let db: TestDatabase | undefined;
  if (history > 0) {
    db = await createTestDatabase('benchfleet_hist');
    log(`filling the log with ${history.toLocaleString('en-US')} events of past clusters`);
    const t0 = performance.now();
    await fillHistory(db, history);
    report['historyFillSeconds'] = round((performance.now() - t0) / 1000, 1);
  }
  const stack = await startStack({
    label: 'benchfleet',
    ...(db ? { database: db } : {}),
    env: {
      RATE_LIMIT_RPS: '1000000',
      RATE_LIMIT_BURST: '1000000',
      TENANT_MAX_AGENTS: '10000000',
      TENANT_MAX_CLUSTERS: '1000000',
      TENANT_MAX_TASKS_PER_SECOND: '1000000',
      DATABASE_POOL_SIZE: '10',
      // A fleet this size keeps more streams than the default command cache holds.
      COMMAND_CACHE_SIZE: String(CLUSTERS * 2 + NODES + 1000),
    },
  });
  const nc = await connect({ servers: stack.ns.natsUrl, name: 'bench-fleet' });
  const pool = new pg.Pool({ connectionString: stack.db.url, max: 4 });
  let sim: ChildProcess | undefined;
  try {
    if (history > 0) {
      const t0 = performance.now();
      await until('the read models to catch up with the history', async () => {
        const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM projection_checkpoints WHERE name = 'cluster_events' AND position >= (SELECT max(position) FROM eventstore.events)`);
        return Number(rows[0]!.n) > 0;
      }, 900_000, 1000);
      report['historyCatchUpSeconds'] = round((performance.now() - t0) / 1000, 1);
      log(`caught up with the history in ${report['historyCatchUpSeconds']} s`);
    }
    sim = await startSim(stack);
    log(`${NODES} simulated nodes registered and following their assignments`);
    const meter = new CpuMeter();
    for (const [label, proc] of stack.procs) meter.add(label, proc.pid);
    meter.add('postgresql', postmasterPid(), { tree: true }).add('nats-server', natsServerPid()).add('fleet-sim', sim.pid);

    // -- create every cluster and wait for every agent to run
    const call = api(stack.url);
    const bp = await call('POST', '/api/blueprints?wait=true', blueprint('fleet-v1', AGENTS_PER_CLUSTER - 1, '{ enabled: false }'));
    if (bp.status !== 201) throw new Error(`blueprint: ${bp.status} ${JSON.stringify(bp.body)}`);
    const ids = Array.from({ length: CLUSTERS }, (_, i) => `fleet-${String(i).padStart(5, '0')}`);
    const t0 = performance.now();
    const cpu0 = meter.snapshot();
    await inParallel(ids, 16, async (id) => {
      const r = await call('POST', '/api/clusters', { id, blueprint_id: 'fleet-v1', name: id });
      if (r.status !== 201) throw new Error(`create ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    });
    const created = (performance.now() - t0) / 1000;
    log(`${CLUSTERS} clusters created in ${round(created, 1)} s`);
    const want = CLUSTERS * AGENTS_PER_CLUSTER;
    let last = 0;
    await until(`${want} agents running`, async () => {
      const s = await control<{ running: number }>(nc, stack, { op: 'stats' });
      if (s.running - last >= want / 10) {
        last = s.running;
        log(`${s.running} agents running`);
      }
      return s.running >= want;
    }, 1_800_000, 1000);
    const allRunning = (performance.now() - t0) / 1000;
    const createCpu = CpuMeter.delta(cpu0, meter.snapshot());
    report['create'] = { clustersCreatedSeconds: round(created, 1), allAgentsRunningSeconds: round(allRunning, 1), clustersPerSecond: round(CLUSTERS / created, 1), agentsPerSecond: round(want / allRunning, 0), cpuSeconds: Object.fromEntries(Object.entries(createCpu).map(([k, v]) => [k, round(v, 1)])) };
    log(`every agent running after ${round(allRunning, 1)} s`);

    // -- idle
    await sleep(10_000);
    const idle0 = meter.snapshot();
    const it0 = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const idleSeconds = (performance.now() - it0) / 1000;
    const idleCpu = CpuMeter.delta(idle0, meter.snapshot());
    const services = Object.keys(idleCpu).filter((k) => k !== 'fleet-sim');
    report['idle'] = {
      percentOfOneCore: Object.fromEntries(Object.entries(idleCpu).map(([k, v]) => [k, round((100 * v) / idleSeconds, 1)])),
      stackPercentOfOneCore: round((100 * services.reduce((s, k) => s + idleCpu[k]!, 0)) / idleSeconds, 1),
      rssMiB: meter.rss(),
    };
    log(`idle: ${JSON.stringify(report['idle'])}`);

    // -- reconcile lag: scale one cluster at a time, time until its new agent runs
    const lags: number[] = [];
    for (const id of ids.slice(0, 20)) {
      const before = (await call('GET', `/api/clusters/${id}`)).body as { running_agents: number; target_workers: number };
      const s0 = performance.now();
      const r = await call('POST', `/api/clusters/${id}/scale`, { target_workers: before.target_workers + 1 });
      if (r.status >= 300) throw new Error(`scale ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      const acked = performance.now();
      await until(`${id} runs its new worker`, async () => ((await call('GET', `/api/clusters/${id}`)).body as { running_agents: number }).running_agents > before.running_agents, 60_000, 10);
      lags.push(performance.now() - acked);
      void s0;
    }
    report['reconcileLagMs'] = distribution(lags);
    log(`reconcile lag: ${JSON.stringify(report['reconcileLagMs'])}`);

    // -- a node carrying the most agents dies
    const stats = await control<{ nodes: Record<string, number> }>(nc, stack, { op: 'stats' });
    const [victim, count] = Object.entries(stats.nodes).sort((a, b) => b[1] - a[1])[0]!;
    const killed = await control<{ agents: string[] }>(nc, stack, { op: 'kill', node: victim });
    const killedAt = Date.now();
    const offlineAt = await until(`${victim} declared offline`, async () => {
      const r = await call('GET', `/api/cluster/nodes/${victim}`);
      return (r.body as { status: string }).status === 'offline' && Date.now();
    }, 60_000, 50);
    const moved = await until(`the ${killed.agents.length} agents of ${victim} running elsewhere`, async () => {
      const started = await control<Record<string, { node: string | null; at: number | null }>>(nc, stack, { op: 'started', agents: killed.agents });
      const all = Object.values(started);
      return all.every((a) => a.node !== null && a.node !== victim && a.at !== null) && all;
    }, 120_000, 100);
    const lastStart = Math.max(...moved.map((a) => a.at!));
    report['replacement'] = { node: victim, agents: count, detectedAfterMs: offlineAt - killedAt, allRunningElsewhereAfterOfflineMs: lastStart - offlineAt };
    log(`re-placement: ${JSON.stringify(report['replacement'])}`);

    // -- autoscaler reaction: a queue crosses its threshold on a cluster nobody serves
    const scaling = '{ enabled: true, queuePerWorkerUp: 2, queuePerWorkerDown: 0, cooldownUpSeconds: 5, cooldownDownSeconds: 300, stabilizationSeconds: 0, evaluationIntervalSeconds: 1, stepPercent: 100 }';
    await call('POST', '/api/blueprints?wait=true', blueprint('fleet-react', 1, scaling).replace('intervalSeconds: 5', 'intervalSeconds: 1'));
    await call('POST', '/api/clusters?wait=true', { id: 'fleet-react', blueprint_id: 'fleet-react', name: 'fleet-react' });
    await until('fleet-react active', async () => ((await call('GET', '/api/clusters/fleet-react')).body as { status: string }).status === 'active', 60_000);
    await inParallel(Array.from({ length: 20 }, (_, i) => i), 8, async (i) => void (await call('POST', '/api/clusters/fleet-react/tasks', { payload: i })));
    const crossed = Date.now();
    const decided = await until('a scaling decision for fleet-react', async () => {
      const events = ((await call('GET', '/api/clusters/fleet-react/events?type=ScalingDecided&limit=10')).body as { events: { occurred_at: string }[] }).events;
      return events[0] && Date.parse(events[0].occurred_at);
    }, 120_000, 100);
    report['autoscalerReactionMs'] = decided - crossed;
    log(`autoscaler reaction: ${report['autoscalerReactionMs']} ms`);

    // -- rebuild every read model while the stack runs
    const store = await createEventStore({ kind: 'postgres', url: stack.db.url, poolSize: 4 });
    const orm = await createReadModelOrm({ url: stack.db.url });
    try {
      const rebuilt: Record<string, number | null> = {};
      const r0 = performance.now();
      for (const projection of ALL_PROJECTIONS) {
        const p0 = performance.now();
        await rebuildProjection({ pool, orm, store }, projection);
        rebuilt[projection.name] = round((performance.now() - p0) / 1000, 1);
      }
      report['rebuildSeconds'] = { total: round((performance.now() - r0) / 1000, 1), ...rebuilt };
      log(`rebuild: ${JSON.stringify(report['rebuildSeconds'])}`);
    } finally {
      await orm.close();
      await store.close();
    }

    const changes: Record<string, number> = {};
    for (const [label, proc] of stack.procs) {
      const n = proc.lines.filter((l) => l.includes('"msg":"no longer leader"') && !l.includes('"reason":"stopping"')).length;
      if (n) changes[label] = n;
    }
    report['spuriousLeaderChanges'] = changes;
    report['logEvents'] = Number((await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM eventstore.events')).rows[0]!.n);
    return report;
  } finally {
    sim?.kill('SIGTERM');
    await nc.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await stack.stop();
  }
}

const runs: Record<string, unknown>[] = [];
for (const history of HISTORIES) {
  log(`run with ${history.toLocaleString('en-US')} events of history`);
  runs.push(await runOnce(history));
}
process.stdout.write(`${JSON.stringify(runs, null, 2)}\n\n`);
const pick = (r: Record<string, unknown>, path: string): number | null => {
  let v: unknown = r;
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return typeof v === 'number' ? v : null;
};
const rows: [string, string][] = [
  ['clusters created (s)', 'create.clustersCreatedSeconds'],
  ['every agent running (s)', 'create.allAgentsRunningSeconds'],
  ['idle stack (% of one core)', 'idle.stackPercentOfOneCore'],
  ['reconcile lag p50 (ms)', 'reconcileLagMs.p50'],
  ['reconcile lag p99 (ms)', 'reconcileLagMs.p99'],
  ['node declared offline after (ms)', 'replacement.detectedAfterMs'],
  ['its agents running elsewhere after offline (ms)', 'replacement.allRunningElsewhereAfterOfflineMs'],
  ['autoscaler reaction (ms)', 'autoscalerReactionMs'],
  ['rebuild every read model (s)', 'rebuildSeconds.total'],
];
process.stdout.write(`${table(['figure', ...runs.map((r) => `history ${(r['history'] as number).toLocaleString('en-US')}`)], rows.map(([label, p]) => [label, ...runs.map((r) => pick(r, p))]))}\n\n`);
for (const r of runs) {
  const idle = r['idle'] as { percentOfOneCore: Record<string, number>; rssMiB: Record<string, number | null> } | undefined;
  if (idle) process.stdout.write(`history ${(r['history'] as number).toLocaleString('en-US')}: idle CPU % of one core ${JSON.stringify(idle.percentOfOneCore)}; RSS MiB ${JSON.stringify(idle.rssMiB)}; spurious leader changes ${JSON.stringify(r['spuriousLeaderChanges'])}\n`);
}
process.stdout.write(`saved ${saveReport(repoRoot, 'fleet', runs)}\n`);
process.exit(0);
