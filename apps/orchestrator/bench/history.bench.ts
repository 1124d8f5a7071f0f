/**
 * History benchmark: reads of the past (`?at=`) on one cluster stream of 100,000 events (an
 * autoscaled cluster's churn: workers spawned, placed, started, stopped), with and without
 * snapshots, against real PostgreSQL. Each read is what the orchestrator does for `GET
 * /api/clusters/{id}?at=`: fold the stream up to the moment (from the nearest snapshot, or from
 * the start), count the agents, read the health score recorded by then, render the view.
 *
 * Floors, in the same run on the same database: a bare primary-key SELECT of the cluster's live
 * row (what a live read costs PostgreSQL), and one page of SNAPSHOT_EVERY events read from the
 * store (the most a read with snapshots reads). CPU is attributed to this process (the fold) and
 * to the database's PostgreSQL backends (from /proc), per read.
 *
 * Then the whole stream is archived (retention) and the reads run again, served from the
 * archive's compressed chunks, and the read models are rebuilt from it.
 *
 * Prints a JSON document, then a table. Target: p99 ≤ 50 ms with snapshots.
 *   npm run bench:history     (BENCH_EVENTS, BENCH_READS, BENCH_COLD_BUDGET_S)
 */
import fs from 'node:fs';
import pg from 'pg';
import { clusterDecider, type ClusterEvent, type ClusterState } from '@flotilla/domain';
import { createEventStore } from '@flotilla/eventstore';
import { clusterAgentsProjection, clustersProjection, createReadModelOrm, migrateReadModels, rebuildProjection } from '@flotilla/projections';
import { createTestDatabase } from '@flotilla/testing';
import type { Moment } from '@flotilla/contracts';
import { ClusterHistory, SNAPSHOT_EVERY } from '../dist/clusters/cluster-history.js';
import { clusterViewFromRow } from '../dist/clusters/cluster.views.js';
import { churnHistory } from '../src/testing/churn-history.ts';

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const EVENTS = envInt('BENCH_EVENTS', 100_000);
const READS = envInt('BENCH_READS', 500);
const COLD_BUDGET_S = envInt('BENCH_COLD_BUDGET_S', 120);
const CLK_TCK = 100;
const CLUSTER = 'bench-history';

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const quantile = (s: readonly number[], p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : null);
const dist = (values: readonly number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return { count: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s.at(-1) ?? null };
};
/** A deterministic sequence of random numbers (the same positions every run). */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

const db = await createTestDatabase('bench_history');
const store = await createEventStore({ kind: 'postgres', url: db.url, poolSize: 2 });
const orm = await createReadModelOrm({ url: db.url, poolSize: 2 });
const pool = new pg.Pool({ connectionString: db.url, max: 2 });

/** CPU seconds used so far by the PostgreSQL backends serving this database. */
async function backendCpuSeconds(): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
  let total = 0;
  for (const { pid } of rows) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      // A backend that ended between the list and the read used no more.
    }
  }
  return total;
}

interface Line {
  line: string;
  reads: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  bench_cpu_ms_per_read: number;
  pg_cpu_ms_per_read: number;
}

/** Runs `read` for each input, timing each, and the CPU of both sides over the whole run. */
async function measure<T>(line: string, inputs: readonly T[], read: (input: T) => Promise<unknown>, budgetS = Infinity): Promise<Line> {
  const times: number[] = [];
  const cpu = process.cpuUsage();
  const pg0 = await backendCpuSeconds();
  const started = performance.now();
  for (const input of inputs) {
    const t0 = performance.now();
    await read(input);
    times.push(performance.now() - t0);
    if ((performance.now() - started) / 1000 > budgetS) break;
  }
  const used = process.cpuUsage(cpu);
  const pgUsed = (await backendCpuSeconds()) - pg0;
  const d = dist(times);
  return {
    line,
    reads: d.count,
    p50_ms: d.p50 === null ? null : round(d.p50),
    p90_ms: d.p90 === null ? null : round(d.p90),
    p99_ms: d.p99 === null ? null : round(d.p99),
    max_ms: d.max === null ? null : round(d.max),
    bench_cpu_ms_per_read: round((used.user + used.system) / 1000 / d.count),
    pg_cpu_ms_per_read: round((pgUsed * 1000) / d.count),
  };
}

const lines: Line[] = [];
const setup: Record<string, number> = {};
try {
  await migrateReadModels(orm, db.url);
  process.stderr.write(`appending ${EVENTS} events to cluster-${CLUSTER}...\n`);
  const meta = { tenantId: 'bench', actor: 'bench', correlationId: 'bench', causationId: null, traceparent: null, schemaVersion: 1 };
  const events = churnHistory({ clusterId: CLUSTER, tenantId: 'bench', events: EVENTS });
  const positions: bigint[] = [];
  const times: Date[] = [];
  let t0 = performance.now();
  for (let i = 0; i < events.length; i += 1000) {
    const batch = events.slice(i, i + 1000).map((e) => ({ type: e.type, data: e.data as unknown as Record<string, unknown>, metadata: meta }));
    const r = await store.append(`cluster-${CLUSTER}`, batch, { expectedRevision: i === 0 ? 'no_stream' : BigInt(i - 1) });
    for (const e of r.events) {
      positions.push(e.position);
      times.push(e.occurredAt);
    }
  }
  setup['append_s'] = round((performance.now() - t0) / 1000);
  // The read models as the orchestrator's projector leaves them (stopped agents' rows are read from there).
  t0 = performance.now();
  for (const projection of [clustersProjection, clusterAgentsProjection]) await rebuildProjection({ pool, orm, store }, projection, { batchSize: 10_000 });
  setup['rebuild_s'] = round((performance.now() - t0) / 1000);

  const history = new ClusterHistory(store, pool, orm);
  const rnd = random(42);
  const randomRevisions = Array.from({ length: READS }, () => Math.floor(rnd() * positions.length));
  const randomPositions = randomRevisions.map((r) => positions[r]!);
  /** What the orchestrator does for GET /api/clusters/{id}?at=. */
  const readAt = async (moment: Moment, snapshots: boolean) => {
    const fold = await history.at(CLUSTER, moment, { snapshots });
    const agents = [...fold.agents.values()];
    const counts = { running: agents.filter((a) => a.state === 'idle').length, runningWorkers: agents.filter((a) => a.state === 'idle' && a.role === 'worker').length };
    return clusterViewFromRow(fold.cluster!, counts, await history.healthAt(CLUSTER, fold.occurredAt));
  };

  lines.push(await measure('floor: SELECT the live cluster row by id', randomPositions, () => pool.query('SELECT * FROM clusters WHERE id = $1', [CLUSTER])));
  lines.push(
    await measure(`floor: read ${SNAPSHOT_EVERY} events of the stream`, randomRevisions, (r) =>
      store.readStream(`cluster-${CLUSTER}`, { fromRevision: BigInt(r) - (BigInt(r) % SNAPSHOT_EVERY), limit: Number(SNAPSHOT_EVERY) }),
    ),
  );
  // What a command on this cluster costs after a restart: the command handler loads the state
  // by folding the whole stream with the decider (no snapshot: commands start from the log).
  lines.push(
    await measure('command handler cold load: read + decider fold of the whole stream', [0], async () => {
      let state: ClusterState = clusterDecider.initialState();
      let from = 0n;
      for (;;) {
        const page = await store.readStream(`cluster-${CLUSTER}`, { fromRevision: from, limit: 5000 });
        for (const e of page) state = clusterDecider.evolve(state, { type: e.type, data: e.data } as unknown as ClusterEvent);
        if (page.length < 5000) break;
        from = page[page.length - 1]!.revision + 1n;
      }
      setup['decider_agents_after_cold_load'] = state.status === 'none' ? 0 : Object.keys(state.agents).length;
    }),
  );
  // Without snapshots a read folds everything before its moment: a few reads spread over the stream, within a time budget.
  const spread = [0.01, 0.1, 0.25, 0.5, 0.75, 1].map((f) => positions[Math.min(positions.length - 1, Math.floor(f * positions.length))]!);
  lines.push(await measure('?at= without snapshots (1%, 10%, 25%, 50%, 75%, 100% of the stream)', spread, (p) => readAt({ position: p }, false), COLD_BUDGET_S));
  // The first read at the end stores a snapshot every SNAPSHOT_EVERY events on its way.
  lines.push(await measure('?at= the end, first read (stores the snapshots)', [positions.at(-1)!], (p) => readAt({ position: p }, true)));
  const { rows } = await pool.query<{ n: string; bytes: string }>('SELECT count(*) AS n, coalesce(sum(pg_column_size(state)), 0) AS bytes FROM stream_snapshots');
  setup['snapshots'] = Number(rows[0]!.n);
  setup['snapshot_bytes_avg'] = Math.round(Number(rows[0]!.bytes) / Math.max(1, Number(rows[0]!.n)));
  lines.push(await measure(`?at= a random position, with snapshots (every ${SNAPSHOT_EVERY} events)`, randomPositions, (p) => readAt({ position: p }, true)));
  const randomTimes = Array.from({ length: READS }, () => times[Math.floor(rnd() * times.length)]!);
  lines.push(await measure('?at= a random time, with snapshots', randomTimes, (t) => readAt({ time: t }, true)));

  // Retention: the whole stream moves to the archive; the same reads again, and a rebuild.
  const tableBytes = async () => Number((await pool.query<{ b: string }>(`SELECT pg_total_relation_size('eventstore.events') AS b`)).rows[0]!.b);
  setup['live_table_bytes_before_archive'] = await tableBytes();
  t0 = performance.now();
  const cpuBefore = process.cpuUsage();
  const archived = await store.archive({ before: new Date(Date.now() + 60_000) });
  const archiveCpu = process.cpuUsage(cpuBefore);
  setup['archive_s'] = round((performance.now() - t0) / 1000);
  setup['archive_bench_cpu_s'] = round((archiveCpu.user + archiveCpu.system) / 1e6);
  setup['archived_events'] = archived.events;
  setup['archive_chunks'] = archived.chunks;
  setup['archive_raw_bytes'] = archived.rawBytes;
  setup['archive_compressed_bytes'] = archived.compressedBytes;
  await pool.query('VACUUM eventstore.events');
  setup['live_table_bytes_after_archive'] = await tableBytes();
  lines.push(
    await measure(`floor: read ${SNAPSHOT_EVERY} events of the stream, archived`, randomRevisions, (r) =>
      store.readStream(`cluster-${CLUSTER}`, { fromRevision: BigInt(r) - (BigInt(r) % SNAPSHOT_EVERY), limit: Number(SNAPSHOT_EVERY) }),
    ),
  );
  lines.push(await measure('?at= a random position, with snapshots, archived', randomPositions, (p) => readAt({ position: p }, true)));
  lines.push(await measure('?at= a random time, with snapshots, archived', randomTimes, (t) => readAt({ time: t }, true)));
  lines.push(await measure('?at= without snapshots, archived (1% … 100%)', spread, (p) => readAt({ position: p }, false), COLD_BUDGET_S));
  t0 = performance.now();
  for (const projection of [clustersProjection, clusterAgentsProjection]) await rebuildProjection({ pool, orm, store }, projection, { batchSize: 10_000 });
  setup['rebuild_archived_s'] = round((performance.now() - t0) / 1000);
} finally {
  await store.close();
  await orm.close(true);
  await pool.end();
  await db.drop();
}

const result = { benchmark: 'history', events: EVENTS, snapshot_every: Number(SNAPSHOT_EVERY), setup, lines, target: { p99_ms_with_snapshots: 50 } };
process.stdout.write(`${JSON.stringify(result, null, 2)}\n\n`);
const header = ['read', 'reads', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'bench CPU ms/read', 'PG CPU ms/read'];
const rowsOut = lines.map((l) => [l.line, l.reads, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.bench_cpu_ms_per_read, l.pg_cpu_ms_per_read].map((v) => String(v ?? '-')));
const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => r[i]!.length)));
for (const r of [header, ...rowsOut]) process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`);
process.stdout.write(`setup: ${JSON.stringify(setup)}\n`);
