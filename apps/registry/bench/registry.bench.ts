/**
 * Registry benchmark: one registry replica (the built service, as its own process)
 * against real NATS and PostgreSQL.
 *
 *   1. 10,000 simulated nodes register, then heartbeat at 1 Hz for 60 s: the registry's CPU
 *      (from /proc, over the steady window) and its heartbeat processing lag (from the node
 *      stamping a heartbeat to the registry recording it: its /metrics summary).
 *      Baseline, side by side in the same run: a bare subscriber process that only parses each
 *      heartbeat into a Map (the floor any consumer pays), measured the same way.
 *   2. 100 of the nodes stop: the failure detector's detection latency (from each node's last
 *      heartbeat to its NodeSuspected / NodeWentOffline, read from the event log), and any
 *      transition recorded for a node that did not stop (there must be none).
 *   3. 10,000 agents placed through the placement subject (requests of 10, 8 in flight), each
 *      placement recorded as an event: agents/s and request latency. Baseline: the domain's
 *      place() alone, in process, for the same batches on the same fleet (no NATS, no log).
 *
 * Prints a JSON document, then a table. Bounded: it gives up after BENCH_TIMEOUT_S (600).
 * Scale: BENCH_NODES, BENCH_HEARTBEAT_SECONDS, BENCH_STOPPED, BENCH_AGENTS.
 *
 *   npm run bench:registry          (builds the registry first; from the repository root)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Namespace, registryRoutes, registrySubjects, routeSubject } from '@flotilla/contracts';
import { place, type NodeSnapshot, type PlacementRequest } from '@flotilla/domain';
import { createEventStore } from '@flotilla/eventstore';
import {
  createTestDatabase,
  createTestNamespace,
  freePort,
  repoRoot,
  startService,
} from '@flotilla/testing';

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const NODES = envInt('BENCH_NODES', 10_000);
const HEARTBEAT_SECONDS = envInt('BENCH_HEARTBEAT_SECONDS', 60);
const STOPPED = Math.min(NODES, envInt('BENCH_STOPPED', 100));
const AGENTS = envInt('BENCH_AGENTS', 10_000);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 600);
const WARMUP_MS = 5000;
const BATCH = 10;
const IN_FLIGHT = 8;
const CLK_TCK = 100;

const watchdog = setTimeout(() => {
  console.error(`registry benchmark: gave up after ${TIMEOUT_S} s`);
  process.exit(2);
}, TIMEOUT_S * 1000);
watchdog.unref();

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
const quantile = (sorted: readonly number[], p: number): number | null =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : null;
const dist = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return {
    count: s.length,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s.at(-1) ?? null,
  };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nodeId = (i: number) => `bench-${String(i).padStart(5, '0')}`;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function request<T>(
  nc: NatsConnection,
  ns: Namespace,
  subject: string,
  body: unknown,
  timeout = 30_000,
): Promise<T> {
  const reply = await nc.request(ns.subject(subject), JSON.stringify(body), { timeout });
  const envelope = reply.json<{ ok: boolean; data: T; error?: unknown }>();
  if (!envelope.ok) throw new Error(`${subject} refused: ${JSON.stringify(envelope.error)}`);
  return envelope.data;
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(flotilla_registry_\w+)\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const label =
      /quantile="([^"]+)"/.exec(m[2]!)?.[1] ?? /outcome="([^"]+)"/.exec(m[2]!)?.[1] ?? '';
    out.set(`${m[1]}:${label}`, Number(m[3]));
  }
  return out;
}

function startBaseline(natsUrl: string, subject: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'apps', 'registry', 'bench', 'heartbeat-baseline.ts')],
    {
      env: { ...process.env, NATS_URL: natsUrl, BASELINE_SUBJECT: subject },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`baseline exited with ${code}`)));
  });
}

function baselineResult(
  child: ChildProcess,
): Promise<{
  received: number;
  measured: number;
  lag_ms: { p50: number | null; p99: number | null; max: number | null };
}> {
  return new Promise((resolve) => {
    readline
      .createInterface({ input: child.stdout! })
      .once('line', (line) => resolve(JSON.parse(line)));
    child.kill('SIGTERM');
  });
}

const db = await createTestDatabase('bench_registry');
const tns = createTestNamespace();
const ns = new Namespace(tns.prefix);
const httpPort = await freePort();
const registry = startService(
  'registry',
  {
    FLOTILLA_NAMESPACE: tns.prefix,
    NATS_URL: tns.natsUrl,
    DATABASE_URL: db.url,
    DATABASE_POOL_SIZE: '20',
    REGISTRY_HTTP_PORT: String(httpPort),
    // Nothing here runs the placed agents: keep the reaper from releasing them mid-run.
    RESERVATION_TTL_MS: String(3_600_000),
    LOG_LEVEL: 'info',
  },
  'registry-bench',
);
const nc = await connect({ servers: tns.natsUrl, name: 'registry-bench' });
const store = await createEventStore({ kind: 'postgres', url: db.url });
let baseline: ChildProcess | undefined;
let publisher: NodeJS.Timeout | undefined;

try {
  await registry.waitFor(undefined, 60_000);
  const registryPid = registry.pid!;

  // ---------------------------------------------------------------- registration
  const regStart = performance.now();
  await inParallel(
    Array.from({ length: NODES }, (_, i) => i),
    64,
    async (i) => {
      await request(nc, ns, routeSubject(registryRoutes.registerOwnNode, nodeId(i)), {
        node_id: nodeId(i),
        hostname: nodeId(i),
        address: '10.0.0.1',
        zone: `zone-${i % 10}`,
        capacity: { cpu: 8, memory_mb: 16_384, max_agents: 20 },
      });
    },
  );
  const registrationSeconds = (performance.now() - regStart) / 1000;

  // ---------------------------------------------------------------- heartbeats
  baseline = await startBaseline(tns.natsUrl, ns.subject(registrySubjects.heartbeats));
  const subjects = Array.from({ length: NODES }, (_, i) =>
    ns.subject(registrySubjects.heartbeat(nodeId(i))),
  );
  const lastSent = new Float64Array(NODES);
  const stopped = new Set<number>();
  let sent = 0;
  const t0 = Date.now();
  // Each node beats once a second, the fleet spread evenly over the second: every tick sends
  // what is due by the clock, so a late tick catches up instead of slowing the rate down.
  publisher = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * NODES) / 1000);
    const at = new Date().toISOString();
    for (; sent < due; sent++) {
      const i = sent % NODES;
      if (stopped.has(i)) continue;
      nc.publish(
        subjects[i]!,
        `{"node_id":"${nodeId(i)}","sent_at":"${at}","cpu_percent":${(i % 70) + 5},"memory_percent":42.5,"disk_percent":61.2,"load_avg":0.8,"cores":8,"agents":[]}`,
      );
      lastSent[i] = Date.now();
    }
  }, 5);
  await sleep(WARMUP_MS);
  const windowStart = performance.now();
  const sentAtStart = sent;
  const cpu0 = cpuSeconds(registryPid);
  const base0 = cpuSeconds(baseline.pid!);
  const metrics0 = await scrape(`http://127.0.0.1:${httpPort}/metrics`);
  baseline.kill('SIGUSR2');
  await sleep(HEARTBEAT_SECONDS * 1000);
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const registryCpu = cpuSeconds(registryPid) - cpu0;
  const baselineCpu = cpuSeconds(baseline.pid!) - base0;
  const metrics1 = await scrape(`http://127.0.0.1:${httpPort}/metrics`);
  const recorded =
    (metrics1.get('flotilla_registry_heartbeats_total:recorded') ?? 0) -
    (metrics0.get('flotilla_registry_heartbeats_total:recorded') ?? 0);
  const sentInWindow = sent - sentAtStart;
  const base = await baselineResult(baseline);
  baseline = undefined;

  // ---------------------------------------------------------------- detection
  const head = await store.headPosition();
  const victims = Array.from({ length: STOPPED }, (_, k) => Math.floor((k * NODES) / STOPPED));
  const stoppedAt = Date.now();
  for (const i of victims) stopped.add(i);
  const victimIds = new Map(victims.map((i) => [nodeId(i), i]));
  const suspected = new Map<string, number>();
  const offline = new Map<string, number>();
  const falsePositives: string[] = [];
  for (const deadline = Date.now() + 20_000; offline.size < STOPPED && Date.now() < deadline;) {
    await sleep(250);
    for (const e of await store.readAll({ after: head })) {
      if (e.type !== 'NodeSuspected' && e.type !== 'NodeWentOffline') continue;
      const id = e.streamId.slice('node-'.length);
      const i = victimIds.get(id);
      if (i === undefined) {
        if (!falsePositives.includes(id)) falsePositives.push(id);
        continue;
      }
      const latency = Date.parse(String(e.data['at'])) - lastSent[i]!;
      (e.type === 'NodeSuspected' ? suspected : offline).set(id, latency);
    }
  }

  const detectionMs = Date.now() - stoppedAt;

  // ---------------------------------------------------------------- placement
  const requests = Array.from({ length: Math.ceil(AGENTS / BATCH) }, (_, k) => k);
  const latencies: number[] = [];
  let placed = 0;
  let unplaced = 0;
  const placeStart = performance.now();
  await inParallel(requests, IN_FLIGHT, async (k) => {
    const started = performance.now();
    const reply = await request<{ assignments: unknown[]; unplaced: unknown[] }>(
      nc,
      ns,
      registryRoutes.place.subject,
      {
        cluster_id: `bench-cluster-${k}`,
        tenant_id: 'default',
        agents: Array.from({ length: Math.min(BATCH, AGENTS - k * BATCH) }, (_, j) => ({
          agent_id: `bench-agent-${k}-${j}`,
          name: 'worker',
          role: 'worker',
          capabilities: [],
          runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 },
          resources: { cpu: 0.5, memory_mb: 256 },
        })),
      },
    );
    latencies.push(performance.now() - started);
    placed += reply.assignments.length;
    unplaced += reply.unplaced.length;
  });
  const placeSeconds = (performance.now() - placeStart) / 1000;

  // Baseline: the same batches through the domain's place() alone, on the same fleet.
  const fleet: NodeSnapshot[] = Array.from({ length: NODES }, (_, i) => ({
    nodeId: nodeId(i),
    status: 'online',
    role: 'worker',
    zone: `zone-${i % 10}`,
    labels: {},
    services: [],
    capacity: { cpu: 8, memoryMb: 16_384, maxAgents: 20 },
    used: { cpu: 0, memoryMb: 0, agents: 0 },
    health: { cpu: (i % 70) + 5, memory: 42.5, disk: 61.2, load: 0.8 },
    priority: 100,
  }));
  const used = new Map<string, number>();
  const pureLatencies: number[] = [];
  const pureStart = performance.now();
  for (const k of requests) {
    const agents: PlacementRequest[] = Array.from(
      { length: Math.min(BATCH, AGENTS - k * BATCH) },
      (_, j) => ({
        agentId: `a-${k}-${j}`,
        clusterId: `c-${k}`,
        resources: { cpu: 0.5, memoryMb: 256 },
      }),
    );
    const started = performance.now();
    const nodes = fleet.map((n) => {
      const u = used.get(n.nodeId) ?? 0;
      return u ? { ...n, used: { cpu: u * 0.5, memoryMb: u * 256, agents: u } } : n;
    });
    const result = place({ agents, nodes, strategy: 'least-loaded' });
    for (const a of result.assignments) used.set(a.nodeId, (used.get(a.nodeId) ?? 0) + 1);
    pureLatencies.push(performance.now() - started);
  }
  const pureSeconds = (performance.now() - pureStart) / 1000;

  clearInterval(publisher);
  publisher = undefined;

  const reg = {
    cpu_cores: round(registryCpu / windowSeconds, 3),
    cpu_percent_of_one_core: round((100 * registryCpu) / windowSeconds),
    heartbeats_per_s: round(recorded / windowSeconds),
    lag_ms: {
      p50: round(metrics1.get('flotilla_registry_heartbeat_lag_ms:0.5') ?? NaN, 2),
      p99: round(metrics1.get('flotilla_registry_heartbeat_lag_ms:0.99') ?? NaN, 2),
      p999: round(metrics1.get('flotilla_registry_heartbeat_lag_ms:0.999') ?? NaN, 2),
    },
  };
  const bl = {
    cpu_cores: round(baselineCpu / windowSeconds, 3),
    cpu_percent_of_one_core: round((100 * baselineCpu) / windowSeconds),
    heartbeats_per_s: round(base.measured / windowSeconds),
    lag_ms: base.lag_ms,
  };
  const result = {
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadavg_1m: round(os.loadavg()[0] ?? 0, 2),
    },
    nodes: NODES,
    registration: {
      seconds: round(registrationSeconds),
      per_s: round(NODES / registrationSeconds),
    },
    heartbeats: {
      window_s: round(windowSeconds),
      sent_per_s: round(sentInWindow / windowSeconds),
      registry: reg,
      baseline_bare_subscriber: bl,
      recorded_of_sent: round(recorded / Math.max(1, sentInWindow), 4),
    },
    detection: {
      stopped: STOPPED,
      from_last_heartbeat_ms: {
        suspected: dist([...suspected.values()]),
        offline: dist([...offline.values()]),
      },
      thresholds_ms: { suspect: 2000, offline: 3000 },
      missed: STOPPED - offline.size,
      false_positives: falsePositives.length,
      all_offline_after_ms: detectionMs,
    },
    placement: {
      agents: AGENTS,
      request_size: BATCH,
      in_flight: IN_FLIGHT,
      placed,
      unplaced,
      through_subject: {
        agents_per_s: round(placed / placeSeconds),
        request_ms: dist(latencies.map((x) => round(x))),
      },
      baseline_place_only: {
        agents_per_s: round(AGENTS / pureSeconds),
        call_ms: dist(pureLatencies.map((x) => round(x, 2))),
      },
    },
  };
  console.log(JSON.stringify(result, null, 2));

  const rows: [string, string, string][] = [
    [
      `heartbeats/s handled (${NODES} nodes × 1 Hz)`,
      String(reg.heartbeats_per_s),
      String(bl.heartbeats_per_s),
    ],
    ['CPU, % of one core', String(reg.cpu_percent_of_one_core), String(bl.cpu_percent_of_one_core)],
    [
      'heartbeat lag p50 / p99 (ms)',
      `${reg.lag_ms.p50} / ${reg.lag_ms.p99}`,
      `${bl.lag_ms.p50} / ${bl.lag_ms.p99}`,
    ],
    [
      'detection: suspected p50 / p99 / max (ms)',
      `${result.detection.from_last_heartbeat_ms.suspected.p50} / ${result.detection.from_last_heartbeat_ms.suspected.p99} / ${result.detection.from_last_heartbeat_ms.suspected.max}`,
      'threshold 2000',
    ],
    [
      'detection: offline p50 / p99 / max (ms)',
      `${result.detection.from_last_heartbeat_ms.offline.p50} / ${result.detection.from_last_heartbeat_ms.offline.p99} / ${result.detection.from_last_heartbeat_ms.offline.max}`,
      'threshold 3000',
    ],
    [
      'detection: missed / false positives',
      `${result.detection.missed} / ${result.detection.false_positives}`,
      '0 / 0',
    ],
    [
      'placement agents/s',
      String(result.placement.through_subject.agents_per_s),
      String(result.placement.baseline_place_only.agents_per_s),
    ],
    [
      'placement request p50 / p99 (ms)',
      `${result.placement.through_subject.request_ms.p50} / ${result.placement.through_subject.request_ms.p99}`,
      `${result.placement.baseline_place_only.call_ms.p50} / ${result.placement.baseline_place_only.call_ms.p99}`,
    ],
  ];
  const w = [
    Math.max(...rows.map((r) => r[0].length)),
    Math.max(8, ...rows.map((r) => r[1].length)),
    Math.max(8, ...rows.map((r) => r[2].length)),
  ];
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log('');
  console.log(line(['measure', 'registry', 'baseline']));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    '\nbaselines: a bare NATS subscriber parsing heartbeats into a Map (separate process); the domain place() alone, in process.',
  );
} finally {
  if (publisher) clearInterval(publisher);
  baseline?.kill('SIGKILL');
  await registry.stop(10_000);
  await nc.close();
  await store.close();
  await db.drop();
  await tns.cleanup();
  clearTimeout(watchdog);
}
