/**
 * bench:api: the REST API end to end, beside the floor of its own parts, in one run.
 *
 * Starts its own stack (every service as its own built process, two node agents, its own
 * database and NATS namespace, as the system tests do), creates BENCH_CLUSTERS clusters of a
 * small blueprint (a supervisor and two `echo` workers each) and waits for them to run. Then, at
 * each concurrency of BENCH_IN_FLIGHT (default 1, 16, 64), for BENCH_SECONDS each:
 *
 *   floor: command   a NATS request to a bare responder that INSERTs one row, then replies
 *   PUT cluster      PUT /api/clusters/{id} (one ClusterUpdated event), clusters round-robin
 *   scale cluster    POST /api/clusters/{id}/scale, alternating 2 ↔ 3 workers (agents move)
 *   submit task      POST /api/clusters/{id}/tasks (202)
 *   task round trip  submit, an echo agent runs it, completion seen on flotilla.tasks.…completed
 *   floor: read      a bare Fastify route: a NATS echo + a one-row SELECT
 *   GET cluster      GET /api/clusters/{id}
 *   list clusters    GET /api/clusters
 *
 * For each: throughput, latency p50/p99, errors, and CPU seconds per 1,000 operations of every
 * process (services, node agents, all of PostgreSQL, nats-server, the floor processes, this
 * client). Also: the idle stack's CPU, PostgreSQL transactions and tuples per sequential cluster
 * command (pg_stat_database, net of the idle rate), projection lag (command acknowledged → the
 * clusters read model shows its position) p50/p99 under 16 in flight, the task round trip at
 * half its best rate, and leader changes during the run (there should be none).
 *
 *   npm run bench:api       (builds first; prints a table and JSON, saves tmp/bench/api-*.json)
 *
 * BENCH_SECONDS, BENCH_CLUSTERS, BENCH_IN_FLIGHT (e.g. 1,16,64), BENCH_WORKLOADS (a comma list of
 * floor-command,update,scale,submit,roundtrip,floor-read,get,list,cost) narrow a run; BENCH_CPU_PROF=<dir>
 * makes every service write a V8 CPU profile there when the stack stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { echoBlueprint, freePort, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { closedLoop, CpuMeter, distribution, PgBackendMeter, natsServerPid, pgCounters, postmasterPid, round, saveReport, sleep, table, type Distribution } from './measure.ts';

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const SECONDS = envInt('BENCH_SECONDS', 8);
const CLUSTERS = envInt('BENCH_CLUSTERS', 32);
const IN_FLIGHT = (process.env['BENCH_IN_FLIGHT'] ?? '1,16,64').split(',').map(Number).filter((n) => n > 0);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 1200);
const WORKLOADS = (process.env['BENCH_WORKLOADS'] ?? 'floor-command,update,scale,submit,roundtrip,floor-read,get,list,cost').split(',');

const watchdog = setTimeout(() => {
  console.error(`bench:api gave up after ${TIMEOUT_S} s`);
  process.exit(2);
}, TIMEOUT_S * 1000);
watchdog.unref();

const log = (msg: string) => process.stderr.write(`[bench:api] ${msg}\n`);

const BLUEPRINT = echoBlueprint('bench-v1', 'Benchmark cluster');

const clusterId = (i: number) => `bench-${String(i).padStart(4, '0')}`;

interface Row {
  workload: string;
  inFlight: number;
  ops: number;
  perSecond: number;
  latency: Distribution;
  errors: number;
  firstError?: string | null;
  cpuPer1000: Record<string, number>;
  /** PostgreSQL backends' CPU by the client that caused it (this database's backends only). */
  pgBackendCpuPer1000: Record<string, number>;
  cpuPer1000Total: number;
  floorRatio?: number | null;
}

/** Keep-alive HTTP for the loops autocannon cannot drive (the task round trip). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
function httpJson(url: string, method: string, body: unknown): Promise<{ status: number; body: unknown; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      { method, agent, headers: { 'x-api-key': TEST_ADMIN_KEY, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined, headers: res.headers });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

async function expectOk(res: Promise<{ status: number; body: unknown }>, what: string): Promise<unknown> {
  const r = await res;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

function startFloor(mode: 'responder' | 'http', env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'floor.ts'), mode], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`floor ${mode} exited with ${code}`)));
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what} (last seen: ${lastSeen})`);
}

async function clustersSettled(stack: Stack): Promise<boolean> {
  const r = await httpJson(`${stack.url}/api/clusters?limit=1000`, 'GET', undefined);
  const list = (r.body as { clusters: { id: string; status: string; desired_agents: number; running_agents: number }[] }).clusters.filter((c) => c.id.startsWith('bench-'));
  lastSeen = list.map((c) => `${c.id}:${c.status}:${c.running_agents}/${c.desired_agents}`).join(' ');
  return list.length >= CLUSTERS && list.every((c) => c.status === 'active' && c.running_agents === c.desired_agents);
}
let lastSeen = '';

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  log(`starting a stack (${CLUSTERS} clusters, ${IN_FLIGHT.join('/')} in flight, ${SECONDS} s per workload)`);
  const stack = await startStack({
    label: 'benchapi',
    nodes: ['zone-a', 'zone-b'].map((zone, i) => ({ id: `bench-node-${i + 1}`, zone, cpu: '64', env: { NODE_MEMORY_MB: '262144', NODE_MAX_AGENTS: '1000', NODE_TASK_CONCURRENCY: '64' } })),
    env: {
      // BENCH_CPU_PROF=<dir>: every service writes a V8 CPU profile there when it stops.
      ...(process.env['BENCH_CPU_PROF'] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env['BENCH_CPU_PROF']}` } : {}),
      RATE_LIMIT_RPS: '1000000',
      RATE_LIMIT_BURST: '1000000',
      TENANT_MAX_TASKS_PER_SECOND: '1000000',
      TENANT_MAX_AGENTS: '1000000',
      TENANT_MAX_CLUSTERS: '1000000',
    },
  });
  if (process.env['BENCH_CPU_PROF']) log(`profiles by pid: ${[...stack.procs].map(([label, p]) => `${label}=${p.pid}`).join(' ')}`);
  const floorHttpPort = await freePort();
  const floorEnv = { NATS_URL: stack.ns.natsUrl, DATABASE_URL: stack.db.url, FLOOR_PREFIX: stack.ns.prefix, FLOOR_HTTP_PORT: String(floorHttpPort) };
  const floors = [await startFloor('responder', floorEnv), await startFloor('http', floorEnv)];
  const nc = await connect({ servers: stack.ns.natsUrl, name: 'bench-api-client' });
  const db = new pg.Client({ connectionString: stack.db.url, application_name: 'bench-client' });
  await db.connect();
  const report: Record<string, unknown> = { startedAt, seconds: SECONDS, clusters: CLUSTERS, inFlight: IN_FLIGHT };
  try {
    await expectOk(httpJson(`${stack.url}/api/blueprints`, 'POST', BLUEPRINT), 'register blueprint');
    for (let i = 0; i < CLUSTERS + 1; i++) {
      await expectOk(httpJson(`${stack.url}/api/clusters`, 'POST', { cluster_id: clusterId(i), blueprint_id: 'bench-v1', name: `bench ${i}` }), `create ${clusterId(i)}`);
    }
    await waitUntil('every cluster active with its agents running', () => clustersSettled(stack), 60_000);
    log('clusters active');

    const meter = new CpuMeter();
    for (const [label, proc] of stack.procs) meter.add(label, proc.pid);
    meter.add('postgresql', postmasterPid(), { tree: true }).add('nats-server', natsServerPid()).add('floor-responder', floors[0]!.pid).add('floor-http', floors[1]!.pid).add('bench-client', process.pid);

    // Idle: what the stack costs doing nothing (32 clusters, 2 nodes).
    await sleep(3000);
    const idleBefore = meter.snapshot();
    const idlePg0 = await pgCounters(db, stack.db.name);
    const idleT0 = performance.now();
    await sleep(10_000);
    const idleSeconds = (performance.now() - idleT0) / 1000;
    const idleCpu = CpuMeter.delta(idleBefore, meter.snapshot());
    const idlePg1 = await pgCounters(db, stack.db.name);
    const idlePgSeconds = (performance.now() - idleT0) / 1000;
    const idlePgRate = { xacts: (idlePg1.xacts - idlePg0.xacts) / idlePgSeconds, tuples: (idlePg1.tuples - idlePg0.tuples) / idlePgSeconds };
    report['idle'] = {
      cpuPercentOfOneCore: Object.fromEntries(Object.entries(idleCpu).map(([k, v]) => [k, round((100 * v) / idleSeconds, 1)])),
      totalPercentOfOneCore: round((100 * Object.entries(idleCpu).filter(([k]) => !k.startsWith('floor') && k !== 'bench-client').reduce((s, [, v]) => s + v, 0)) / idleSeconds, 1),
      pgPerSecond: { xacts: round(idlePgRate.xacts, 1), tuples: round(idlePgRate.tuples, 0) },
      rssMiB: meter.rss(),
    };
    log(`idle: ${JSON.stringify(report['idle'])}`);

    const rows: Row[] = [];
    const pgMeter = new PgBackendMeter(db, stack.db.name);
    const measure = async (workload: string, inFlight: number, run: () => Promise<{ ops: number; seconds: number; latencies: Distribution; errors: number; firstError?: string | null }>) => {
      const pgBefore = await pgMeter.snapshot();
      const before = meter.snapshot();
      const r = await run();
      const cpu = CpuMeter.delta(before, meter.snapshot());
      const pgCpu = PgBackendMeter.delta(pgBefore, await pgMeter.snapshot());
      const per1000 = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round((1000 * v) / Math.max(1, r.ops), 3)!]));
      // PostgreSQL's share by the client that caused it (this database's backends only).
      const pgPer1000 = Object.fromEntries(Object.entries(pgCpu).map(([k, v]) => [k, round((1000 * v) / Math.max(1, r.ops), 3)!]));
      const total = Object.entries(cpu).filter(([k]) => k !== 'bench-client').reduce((s, [, v]) => s + v, 0);
      const row: Row = { workload, inFlight, ops: r.ops, perSecond: round(r.ops / r.seconds, 0)!, latency: r.latencies, errors: r.errors, firstError: r.firstError ?? null, cpuPer1000: per1000, pgBackendCpuPer1000: pgPer1000, cpuPer1000Total: round((1000 * total) / Math.max(1, r.ops), 3)! };
      rows.push(row);
      log(`${workload} @${inFlight}: ${row.perSecond}/s p50 ${row.latency.p50} ms p99 ${row.latency.p99} ms, ${row.errors} errors${row.firstError ? ` (${row.firstError})` : ''}, ${row.cpuPer1000Total} CPU-s per 1,000`);
      return row;
    };

    const cannon = async (inFlight: number, requests: autocannon.Request[], url = stack.url, headers: Record<string, string> = { 'x-api-key': TEST_ADMIN_KEY }) => {
      const result = await autocannon({ url, connections: inFlight, pipelining: 1, duration: SECONDS, headers, requests });
      const ok = result['2xx'];
      const lat = result.latency as unknown as Record<string, number>;
      return {
        ops: ok,
        seconds: result.duration,
        latencies: { count: ok, p50: lat['p50'] ?? null, p90: lat['p90'] ?? null, p99: lat['p99'] ?? null, max: lat['max'] ?? null },
        errors: result.non2xx + result.errors + result.timeouts,
      };
    };
    let rr = 0;
    const nextCluster = () => clusterId(1 + (rr++ % CLUSTERS));
    const json = { 'content-type': 'application/json' };

    // Task completions, as an integrator sees them.
    // A fast task's completion can arrive before its submission's 202 does: such early ones are
    // remembered so the wait that comes after still sees them.
    const completions = new Map<string, () => void>();
    const completedEarly = new Set<string>();
    let completed = 0;
    nc.subscribe(`${stack.ns.prefix}.flotilla.tasks.*.*.completed`, {
      callback: (_e, m) => {
        completed++;
        const id = m.subject.split('.').at(-2)!;
        const waiter = completions.get(id);
        if (!waiter) return void completedEarly.add(id);
        completions.delete(id);
        waiter();
      },
    });
    const completion = (id: string) =>
      completedEarly.delete(id)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => (completions.delete(id), reject(new Error(`task ${id} not completed within 10 s`))), 10_000);
            completions.set(id, () => (clearTimeout(t), resolve()));
          });
    let submitted = 0;
    const drainTasks = () => waitUntil('every submitted task to complete', async () => completed >= submitted, 300_000);

    // Projection lag: a probe updates its own cluster and waits for the clusters read model to
    // carry the reply's log position, again and again until told to stop.
    const lagProbe = async (stop: { now: boolean }): Promise<number[]> => {
      const lags: number[] = [];
      for (let i = 0; !stop.now; i++) {
        const r = await httpJson(`${stack.url}/api/clusters/${clusterId(0)}`, 'PUT', { description: `probe ${i}` });
        const acked = performance.now();
        const position = BigInt(String(r.headers['flotilla-position'] ?? '0'));
        for (;;) {
          const { rows: found } = await db.query<{ position: string }>('SELECT position FROM clusters WHERE id = $1', [clusterId(0)]);
          if (found[0] && BigInt(found[0].position) >= position) break;
          await sleep(1);
        }
        lags.push(performance.now() - acked);
        await sleep(20);
      }
      return lags;
    };
    const lagByInFlight: Record<number, unknown> = {};
    report['projectionLagByInFlight'] = lagByInFlight;
    if (WORKLOADS.includes('update')) {
      const stop = { now: false };
      const idleProbe = lagProbe(stop);
      await sleep(3000);
      stop.now = true;
      lagByInFlight[0] = distribution(await idleProbe);
      log(`projection lag with nothing else running: ${JSON.stringify(lagByInFlight[0])}`);
    }

    for (const n of IN_FLIGHT) {
      if (WORKLOADS.includes('floor-command')) {
        await measure('floor: NATS + INSERT', n, async () => {
          const r = await closedLoop(n, SECONDS * 1000, async () => {
            const reply = await nc.request(`${stack.ns.prefix}.floor.insert`, JSON.stringify({ description: 'x' }), { timeout: 5000 });
            if (!(reply.json<{ ok: boolean }>()).ok) throw new Error('floor insert failed');
          });
          return { ops: r.latencies.length, seconds: r.seconds, latencies: distribution(r.latencies), errors: r.errors, firstError: r.firstError };
        });
      }
      if (WORKLOADS.includes('update')) {
        let probe: Promise<number[]> | undefined;
        const stopProbe = { now: false };
        // Projection lag under this load (not at 1 in flight: its PostgreSQL counts are per command).
        if (n > 1) probe = lagProbe(stopProbe);
        const pg0 = n === 1 ? await pgCounters(db, stack.db.name) : undefined;
        const t0 = performance.now();
        const row = await measure('PUT cluster (1 event)', n, () =>
          cannon(n, [{ method: 'PUT', headers: json, setupRequest: (req) => ({ ...req, path: `/api/clusters/${nextCluster()}`, body: JSON.stringify({ description: `d ${rr}` }) }) }]),
        );
        if (pg0) {
          const pg1 = await pgCounters(db, stack.db.name);
          const seconds = (performance.now() - t0) / 1000;
          const ops = Math.max(1, row.ops);
          report['pgPerCommand'] = {
            commands: row.ops,
            xacts: round((pg1.xacts - pg0.xacts) / ops, 1),
            tuples: round((pg1.tuples - pg0.tuples) / ops, 0),
            xactsNetOfIdle: round((pg1.xacts - pg0.xacts - idlePgRate.xacts * seconds) / ops, 1),
            tuplesNetOfIdle: round((pg1.tuples - pg0.tuples - idlePgRate.tuples * seconds) / ops, 0),
          };
          log(`PostgreSQL per sequential command: ${JSON.stringify(report['pgPerCommand'])}`);
          // autocannon keeps whole milliseconds; one command at a time is timed here to the
          // microsecond, like the floor's loop, so "p50 within 3× the floor" can be read.
          const timed = await closedLoop(1, 3000, async () => {
            const res = await httpJson(`${stack.url}/api/clusters/${nextCluster()}`, 'PUT', { description: `timed ${rr}` });
            if (res.status >= 300) throw new Error(`PUT: ${res.status}`);
          });
          report['putOneInFlightMs'] = distribution(timed.latencies);
          log(`PUT cluster @1, timed per request: ${JSON.stringify(report['putOneInFlightMs'])}`);
        }
        if (probe) {
          stopProbe.now = true;
          const lag = distribution(await probe);
          lagByInFlight[n] = lag;
          if (n === 16) report['projectionLagMs'] = lag;
          log(`projection lag under ${n} in flight: ${JSON.stringify(lag)}`);
        }
      }
      if (WORKLOADS.includes('submit')) {
        await measure('submit task', n, async () => {
          const r = await cannon(n, [{ method: 'POST', headers: json, setupRequest: (req) => ({ ...req, path: `/api/clusters/${nextCluster()}/tasks`, body: '{"payload":{"n":1}}' }) }]);
          submitted += r.ops;
          return r;
        });
        await drainTasks();
      }
      if (WORKLOADS.includes('roundtrip')) {
        await measure('task round trip (echo)', n, async () => {
          const r = await closedLoop(n, SECONDS * 1000, async () => {
            const res = await httpJson(`${stack.url}/api/clusters/${nextCluster()}/tasks`, 'POST', { payload: { n: 1 } });
            if (res.status !== 202) throw new Error(`submit: ${res.status} ${JSON.stringify(res.body)}`);
            submitted++;
            const id = (res.body as { id: string }).id;
            await completion(id);
          });
          return { ops: r.latencies.length, seconds: r.seconds, latencies: distribution(r.latencies), errors: r.errors, firstError: r.firstError };
        });
        await drainTasks();
      }
      if (WORKLOADS.includes('floor-read')) {
        await measure('floor: Fastify + NATS + SELECT', n, () => cannon(n, [{ method: 'GET', path: '/floor/1' }], `http://127.0.0.1:${floorHttpPort}`, {}));
      }
      if (WORKLOADS.includes('get')) {
        await measure('GET cluster', n, () => cannon(n, [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/api/clusters/${nextCluster()}` }) }]));
      }
      if (WORKLOADS.includes('list')) {
        await measure('list clusters', n, () => cannon(n, [{ method: 'GET', path: '/api/clusters?limit=50' }]));
      }
      if (WORKLOADS.includes('cost')) {
        // The tenant's cost today over all its clusters (what the tenant budget watch reads too).
        await measure("tenant's cost", n, () => cannon(n, [{ method: 'GET', path: '/api/cost?tenant_id=default' }]));
      }
      if (WORKLOADS.includes('scale')) {
        const targets = new Map<string, number>();
        await measure('scale cluster', n, () =>
          cannon(n, [
            {
              method: 'POST',
              headers: json,
              setupRequest: (req) => {
                const id = nextCluster();
                const target = (targets.get(id) ?? 2) === 2 ? 3 : 2;
                targets.set(id, target);
                return { ...req, path: `/api/clusters/${id}/scale`, body: JSON.stringify({ target_workers: target }) };
              },
            },
          ]),
        );
        await waitUntil('clusters settled after scaling', () => clustersSettled(stack), 180_000).catch((err: Error) => log(err.message));
      }
    }

    // The task round trip at half the best rate it reached: open loop, latency only.
    const best = Math.max(0, ...rows.filter((r) => r.workload.startsWith('task round trip')).map((r) => r.perSecond));
    if (best > 0) {
      const rate = Math.max(1, Math.floor(best / 2));
      const latencies: number[] = [];
      let failures = 0;
      const pending: Promise<void>[] = [];
      const t0 = performance.now();
      for (let i = 0; performance.now() - t0 < SECONDS * 1000; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        pending.push(
          (async () => {
            const s = performance.now();
            const res = await httpJson(`${stack.url}/api/clusters/${nextCluster()}/tasks`, 'POST', { payload: { n: 1 } });
            if (res.status !== 202) throw new Error(String(res.status));
            submitted++;
            const id = (res.body as { id: string }).id;
            await completion(id);
            latencies.push(performance.now() - s);
          })().catch(() => void failures++),
        );
      }
      await Promise.all(pending);
      report['roundTripAtHalfRate'] = { rate, ...distribution(latencies), failures };
      log(`task round trip at ${rate}/s: ${JSON.stringify(report['roundTripAtHalfRate'])}`);
    }

    // Ratios to the floor measured at the same concurrency in this run.
    for (const row of rows) {
      const floorName = /GET|list|cost/.test(row.workload) ? 'floor: Fastify + NATS + SELECT' : 'floor: NATS + INSERT';
      const floor = rows.find((r) => r.workload === floorName && r.inFlight === row.inFlight);
      if (floor && floor !== row) row.floorRatio = round(row.perSecond / floor.perSecond, 3);
    }
    report['workloads'] = rows;

    const leaderChanges: Record<string, number> = {};
    for (const [label, proc] of stack.procs) {
      const n = proc.lines.filter((l) => l.includes('"msg":"no longer leader"') && !l.includes('stopping')).length;
      if (n) leaderChanges[label] = n;
    }
    report['spuriousLeaderChanges'] = leaderChanges;

    process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);
    const procs = meter.names().filter((n) => n !== 'bench-client');
    process.stdout.write(
      `${table(
        ['workload', 'in flight', 'ops/s', '× floor', 'p50 ms', 'p99 ms', 'errors', 'CPU-s/1k (all)', ...procs.map((p) => `${p}`)],
        rows.map((r) => [r.workload, r.inFlight, r.perSecond, r.floorRatio ?? null, r.latency.p50, r.latency.p99, r.errors, r.cpuPer1000Total, ...procs.map((p) => r.cpuPer1000[p] ?? null)]),
      )}\n\n`,
    );
    const pgClients = [...new Set(rows.flatMap((r) => Object.keys(r.pgBackendCpuPer1000)))].sort();
    process.stdout.write(
      `PostgreSQL backends' CPU-s per 1,000 operations, by client (this database only):\n${table(
        ['workload', 'in flight', ...pgClients],
        rows.map((r) => [r.workload, r.inFlight, ...pgClients.map((c) => r.pgBackendCpuPer1000[c] ?? null)]),
      )}\n\n`,
    );
    const idle = report['idle'] as { cpuPercentOfOneCore: Record<string, number>; totalPercentOfOneCore: number };
    process.stdout.write(`idle stack (${CLUSTERS + 1} clusters, 2 nodes): ${idle.totalPercentOfOneCore} % of one core; ${JSON.stringify(idle.cpuPercentOfOneCore)}\n`);
    process.stdout.write(`PostgreSQL per sequential cluster command: ${JSON.stringify(report['pgPerCommand'])}\n`);
    process.stdout.write(`PUT cluster at 1 in flight, timed per request (ms): ${JSON.stringify(report['putOneInFlightMs'])}\n`);
    for (const [n, lag] of Object.entries(lagByInFlight)) process.stdout.write(`projection lag with ${n} other requests in flight (ms): ${JSON.stringify(lag)}\n`);
    process.stdout.write(`task round trip at half its best rate: ${JSON.stringify(report['roundTripAtHalfRate'])}\n`);
    process.stdout.write(`spurious leader changes: ${JSON.stringify(leaderChanges)}\n`);
    process.stdout.write(`saved ${saveReport(repoRoot, 'api', report)}\n`);
  } finally {
    await nc.close().catch(() => undefined);
    await db.end().catch(() => undefined);
    for (const f of floors) f.kill('SIGTERM');
    await stack.stop();
    agent.destroy();
  }
}

await main();
process.exit(0);
