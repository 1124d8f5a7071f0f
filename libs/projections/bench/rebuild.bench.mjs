// npm run bench:rebuild — rebuild throughput of the read models over a large log (default
// 1,000,000 events; BENCH_EVENTS overrides), next to a bare-pg floor measured in the same run on
// the same database: paging the same events out of the store and inserting one row per event
// with plain multi-row INSERTs. Prints a JSON document and a table. Target: >= 50,000 events/s.
import pg from 'pg';
import { createEventStore } from '@flotilla/eventstore';
import { clusterEventsProjection, clustersProjection, createReadModelOrm, migrateReadModels, rebuildProjection } from '@flotilla/projections';
import { createTestDatabase } from '@flotilla/testing';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const STREAMS = 1000;
const BATCH = 1000;
const PAGE = Number(process.env.BENCH_PAGE ?? 10000);

const meta = { tenantId: 'bench', actor: 'bench', correlationId: 'bench', causationId: null, traceparent: null, schemaVersion: 1 };
const at = new Date().toISOString();

function created(i) {
  return {
    type: 'ClusterCreated',
    metadata: meta,
    data: {
      at, clusterId: `c-${i}`, tenantId: 'bench', name: `Cluster ${i}`, description: '', type: 'team', blueprintId: 'bp', blueprintVersion: '1.0.0',
      blueprintHash: 'h', blueprint: { agents: [{ name: 'boss', role: 'supervisor', count: 1 }], cluster: { monitoring: { intervalSeconds: 5 } } },
      minWorkers: 1, targetWorkers: 2, maxWorkers: 10, policy: { enabled: true }, backupCluster: null, keepFixedAgents: true,
    },
  };
}
const updated = (n) => ({ type: 'ClusterUpdated', metadata: meta, data: { at, changes: { description: `update ${n}` } } });

const db = await createTestDatabase('bench_rebuild');
const store = await createEventStore({ kind: 'postgres', url: db.url, poolSize: 8 });
const orm = await createReadModelOrm({ url: db.url });
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
const results = [];
try {
  await migrateReadModels(orm, db.url);
  process.stderr.write(`appending ${EVENTS} events...\n`);
  let n = 0;
  const t0 = performance.now();
  for (let s = 0; n < EVENTS; s = (s + 1) % STREAMS) {
    const count = Math.min(BATCH, EVENTS - n);
    const events = Array.from({ length: count }, (_, i) => (n + i < STREAMS ? created(n + i) : updated(n + i)));
    // The first STREAMS events create one cluster each; after that, batches update them.
    const stream = n < STREAMS ? null : `cluster-c-${s}`;
    if (stream) await store.append(stream, events, { expectedRevision: 'any' });
    else for (const e of events) await store.append(`cluster-${e.data.clusterId}`, [e], { expectedRevision: 'any' });
    n += count;
  }
  const appendS = (performance.now() - t0) / 1000;
  process.stderr.write(`appended in ${appendS.toFixed(1)} s\n`);

  for (const projection of [clusterEventsProjection, clustersProjection]) {
    const cpu = process.cpuUsage();
    const r = await rebuildProjection({ pool, orm, store }, projection, { batchSize: PAGE });
    const cpuS = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1e6;
    results.push({ line: `rebuild ${projection.name}`, events: r.events, rows: r.rows, seconds: +(r.ms / 1000).toFixed(2), events_per_s: Math.round(r.events / (r.ms / 1000)), process_cpu_s: +cpuS.toFixed(2) });
  }

  // Floor: the same pages read from the store, one row per event written with bare pg.
  await pool.query('CREATE TABLE bench_floor (position bigint PRIMARY KEY, event_id uuid, stream_id text, type text, data jsonb, metadata jsonb)');
  const t1 = performance.now();
  let after = 0n;
  let total = 0;
  for (;;) {
    const page = await store.readAll({ after, limit: PAGE });
    if (page.length === 0) break;
    for (let i = 0; i < page.length; i += 1000) {
      const chunk = page.slice(i, i + 1000);
      const values = chunk.map((_, k) => `($${k * 6 + 1}, $${k * 6 + 2}, $${k * 6 + 3}, $${k * 6 + 4}, $${k * 6 + 5}, $${k * 6 + 6})`);
      const params = chunk.flatMap((e) => [e.position.toString(), e.id, e.streamId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)]);
      await pool.query(`INSERT INTO bench_floor VALUES ${values.join(',')}`, params);
    }
    total += page.length;
    after = page[page.length - 1].position;
  }
  const floorS = (performance.now() - t1) / 1000;
  results.push({ line: 'bare pg: read pages + insert one row per event', events: total, rows: total, seconds: +floorS.toFixed(2), events_per_s: Math.round(total / floorS), process_cpu_s: null });
} finally {
  await pool.end();
  await orm.close();
  await store.close();
  await db.drop();
}

const report = { benchmark: 'rebuild', events: EVENTS, page: PAGE, target_events_per_s: 50_000, results };
process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);
const head = ['line', 'events', 'rows', 'seconds', 'events/s', 'cpu s'];
const rows = results.map((r) => [r.line, r.events, r.rows, r.seconds, r.events_per_s, r.process_cpu_s ?? '-']);
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
