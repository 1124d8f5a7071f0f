import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { createTestDatabase, eventually, type TestDatabase } from '@flotilla/testing';
import { MIGRATIONS, TENANT_READER_ROLE, TENANT_TABLES } from './migrations/index.js';
import { createReadModelOrm, migrateReadModels, type ReadModelOrm } from './orm.js';
import { checkpointLocks, lockCheckpoints, readCheckpoint } from './checkpoints.js';
import { ProjectionProcessor } from './processor.js';
import { rebuildProjection } from './rebuild.js';
import { ALL_PROJECTIONS, clusterAgentsProjection, clustersProjection } from './projections/index.js';
import { clusterLifecycle, meta, nodeEvents } from './testing/fixtures.js';

async function tableHash(pool: pg.Pool, table: string, key: string): Promise<{ rows: number; hash: string }> {
  const { rows } = await pool.query(`SELECT * FROM ${table} ORDER BY ${key}`);
  return { rows: rows.length, hash: createHash('sha256').update(JSON.stringify(rows)).digest('hex') };
}

const TABLES: Record<string, string> = {
  clusters: 'id',
  cluster_agents: 'id',
  cluster_blueprints: 'id',
  cluster_blueprint_versions: 'id',
  cluster_nodes: 'id',
  placements: 'agent_id',
  cluster_events: 'position',
  api_keys: 'id',
};

describe('migrations', () => {
  let db: TestDatabase;
  afterAll(() => db.drop());

  it('apply, roll back and apply again cleanly', async () => {
    db = await createTestDatabase('migr');
    const orm = await createReadModelOrm({ url: db.url });
    try {
      const tables = async () =>
        (await orm.em.fork().execute<{ tablename: string }[]>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'mikro_orm_migrations' ORDER BY 1`)).map((r) => r.tablename);
      expect(await migrateReadModels(orm, db.url)).toEqual(MIGRATIONS.map((m) => m.name));
      const up = await tables();
      expect(up).toEqual(expect.arrayContaining(['clusters', 'cluster_agents', 'cluster_blueprints', 'cluster_events', 'cluster_metrics', 'cluster_nodes', 'placements', 'projection_checkpoints']));
      expect(await migrateReadModels(orm, db.url)).toEqual([]);
      await orm.migrator.down({ to: 0 });
      expect(await tables()).toEqual([]);
      expect(await migrateReadModels(orm, db.url)).toHaveLength(MIGRATIONS.length);
      expect(await tables()).toEqual(up);
    } finally {
      await orm.close();
    }
  });
});

describe('projector', () => {
  let db: TestDatabase;
  let store: EventStore;
  let orm: ReadModelOrm;
  let pool: pg.Pool;
  const controller = new AbortController();
  let running: Promise<void>;

  beforeAll(async () => {
    db = await createTestDatabase('proj');
    store = await createEventStore({ kind: 'postgres', url: db.url });
    orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    pool = new pg.Pool({ connectionString: db.url });
    running = new ProjectionProcessor({ pool, orm, store }, ALL_PROJECTIONS).run(controller.signal);
  });

  afterAll(async () => {
    controller.abort();
    await running;
    await store.close();
    await orm.close();
    await pool.end();
    await db.drop();
  });

  /** Every projection's checkpoint has reached `position`. */
  const checkpointsAt = (position: bigint) =>
    eventually(async () => Promise.all(ALL_PROJECTIONS.map((p) => readCheckpoint(pool, p.name))), { until: (cps) => cps.every((c) => c >= position), timeoutMs: 30_000, what: `every checkpoint at ${position}` });
  /** Every projection has applied everything stored so far. */
  const settled = async () => {
    const events = await store.readAll({});
    await checkpointsAt(events[events.length - 1]!.position);
  };

  it('projects a cluster lifecycle into clusters, agents and the audit trail, live', async () => {
    for (const batch of clusterLifecycle('c-1', 2)) await store.append('cluster-c-1', batch, { expectedRevision: 'any' });
    await settled();
    const cluster = await eventually(
      async () => (await pool.query('SELECT * FROM clusters WHERE id = $1', ['c-1'])).rows[0],
      { until: (r) => r?.name === 'Renamed', timeoutMs: 30_000, what: 'cluster c-1 renamed' },
    );
    expect(cluster).toMatchObject({ status: 'scaling_up', target_workers: 3, max_workers: 12, tenant_id: 'acme', blueprint_id: 'marketing-v1' });
    const agents = (await pool.query('SELECT id, state, node_id, role FROM cluster_agents WHERE cluster_id = $1 ORDER BY ordinal', ['c-1'])).rows;
    const diagnostics = {
      checkpoints: (await pool.query('SELECT name, position FROM projection_checkpoints ORDER BY name')).rows,
      head: String(await store.headPosition()),
      audit: (await pool.query(`SELECT count(*)::int AS n FROM cluster_events WHERE cluster_id = 'c-1'`)).rows[0],
    };
    expect({ agents: agents.length, ...(agents.length === 3 ? {} : diagnostics) }).toEqual({ agents: 3 });
    expect(agents.every((a) => a.state === 'idle' && a.node_id === 'node-1')).toBe(true);
    const events = await eventually(
      async () => (await pool.query('SELECT type, actor, severity FROM cluster_events WHERE cluster_id = $1 ORDER BY position', ['c-1'])).rows,
      { until: (r) => r.length === 14, timeoutMs: 30_000, what: '14 audit events of c-1' },
    );
    expect(events[0]).toEqual({ type: 'ClusterCreated', actor: 'alice', severity: 'info' });
    expect(events.at(-1)).toEqual({ type: 'ClusterUpdated', actor: 'bob', severity: 'info' });
  });

  it('projects nodes and placements', async () => {
    for (const batch of nodeEvents('node-7')) await store.append('node-node-7', batch, { expectedRevision: 'any' });
    await settled();
    const node = await eventually(
      async () => (await pool.query('SELECT status, agents FROM cluster_nodes WHERE id = $1', ['node-7'])).rows[0],
      { until: (r) => r?.status === 'offline' && r.agents.length === 0, timeoutMs: 30_000, what: 'node-7 offline without agents' },
    );
    expect(node).toEqual({ status: 'offline', agents: [] });
    const placement = await eventually(
      async () => (await pool.query('SELECT status, node_id FROM placements WHERE agent_id = $1', ['a-1'])).rows[0],
      { until: (r) => r?.status === 'released', timeoutMs: 30_000, what: "a-1's placement released" },
    );
    expect(placement).toEqual({ status: 'released', node_id: 'node-7' });
  });

  it('keeps every checkpoint in step with what it applied', async () => {
    const events = await store.readAll({});
    const last = events[events.length - 1]!.position;
    await checkpointsAt(last);
    for (const p of ALL_PROJECTIONS) expect(await readCheckpoint(pool, p.name)).toBe(last);
  });

  it('a batch holding the checkpoint locks has no transaction id until it writes (an id in flight would hold back every event-store reader), and lockers still take turns', async () => {
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query(`BEGIN; ${checkpointLocks(['clusters', 'cluster_agents'])}`);
      const held = await lockCheckpoints(a, ['clusters', 'cluster_agents'], { locked: true });
      expect([...held.keys()].sort()).toEqual(['cluster_agents', 'clusters']);
      expect((await a.query(`SELECT pg_current_xact_id_if_assigned() AS xid`)).rows[0].xid).toBeNull();
      // A second locker (another replica, a rebuild) waits for the first to end.
      await b.query('BEGIN');
      let bLocked = false;
      const second = lockCheckpoints(b, ['clusters']).then(() => (bLocked = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(bLocked).toBe(false);
      await a.query('COMMIT');
      await second;
      expect(bLocked).toBe(true);
      await b.query('COMMIT');
    } finally {
      a.release();
      b.release();
    }
  });

  it('rebuilds every read model from position 0 to the identical state', async () => {
    let last = 0n;
    for (let i = 2; i <= 6; i++) for (const batch of clusterLifecycle(`c-${i}`, i)) last = (await store.append(`cluster-c-${i}`, batch, { expectedRevision: 'any' })).lastPosition;
    // Text that COPY's format has to escape, in a text column (actor) and inside JSON, and
    // enough events that a whole-log rebuild batch goes through COPY rather than INSERT.
    const tricky = 'back\\slash \\N\ttab\nnewline\r "quoted" ünïcødé 🚀';
    const renames = Array.from({ length: 150 }, (_, n) => ({
      type: 'ClusterUpdated',
      metadata: meta(`ops\t${n}\\team`),
      data: { at: new Date(Date.UTC(2026, 10, 25, 13, 0, n % 60)).toISOString(), changes: { description: `${tricky} #${n}`, name: n === 149 ? tricky : `name ${n}` } },
    }));
    last = (await store.append('cluster-c-2', renames, { expectedRevision: 'any' })).lastPosition;
    // headPosition() can lag while another writer holds the snapshot's xmin: wait for the last append itself.
    await checkpointsAt(last);
    const before = Object.fromEntries(await Promise.all(Object.entries(TABLES).map(async ([t, k]) => [t, await tableHash(pool, t, k)])));
    // Small pages (row-by-row paths) and whole-log pages (COPY for the audit trail) alike.
    for (const batchSize of [7, 10_000]) {
      for (const projection of ALL_PROJECTIONS) {
        const result = await rebuildProjection({ pool, orm, store }, projection, { batchSize });
        expect(result.events).toBeGreaterThan(0);
      }
      const after = Object.fromEntries(await Promise.all(Object.entries(TABLES).map(async ([t, k]) => [t, await tableHash(pool, t, k)])));
      expect({ batchSize, after }).toEqual({ batchSize, after: before });
    }
    const audit = await pool.query(`SELECT actor, data->'changes'->>'description' AS description FROM cluster_events WHERE actor = $1`, ['ops\t149\\team']);
    expect(audit.rows).toEqual([{ actor: 'ops\t149\\team', description: `${tricky} #149` }]);
    expect((await pool.query('SELECT name FROM clusters WHERE id = $1', ['c-2'])).rows[0]?.name).toBe(tricky);
    expect(before['cluster_agents']!.rows).toBeGreaterThan(20);
    // The live loop carries on after a rebuild.
    for (const batch of clusterLifecycle('c-after', 1)) await store.append('cluster-c-after', batch, { expectedRevision: 'any' });
    const row = await eventually(async () => (await pool.query('SELECT name FROM clusters WHERE id = $1', ['c-after'])).rows[0], { until: (r) => r?.name === 'Renamed', timeoutMs: 30_000, what: 'cluster c-after renamed' });
    expect(row?.name).toBe('Renamed');
    expect(clustersProjection.name).toBe('clusters');
    expect(clusterAgentsProjection.handles.has('AgentStarted')).toBe(true);
  });
});

describe('row-level security', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('rls');
    const orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    await orm.close();
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
    for (const [id, tenant] of [['a-1', 'tenant-a'], ['a-2', 'tenant-a'], ['b-1', 'tenant-b']]) {
      await pool.query(
        `INSERT INTO clusters (id, tenant_id, name, type, status, blueprint_id, blueprint_version, min_workers, target_workers, max_workers, last_target,
           fixed_agents, keep_fixed_agents, monitoring_interval_s, policy, circuit, created_at, updated_at, revision, position)
         VALUES ($1, $2, $1, 'team', 'active', 'bp', '1.0.0', 0, 0, 0, 0, 1, true, 5, '{}', 'closed', now(), now(), 0, 1)`,
        [id, tenant],
      );
    }
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const asTenant = async (tenant: string | null, sql: string): Promise<string[]> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${TENANT_READER_ROLE}`);
      if (tenant !== null) await client.query(`SELECT set_config('flotilla.tenant_id', $1, true)`, [tenant]);
      return (await client.query<{ id: string }>(sql)).rows.map((r) => r.id);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };

  it("never shows another tenant's rows, whatever the query asks for", async () => {
    expect(await asTenant('tenant-a', `SELECT id FROM clusters WHERE tenant_id = 'tenant-b'`)).toEqual([]);
    expect(await asTenant('tenant-a', `SELECT id FROM clusters WHERE tenant_id = 'tenant-b' OR true ORDER BY id`)).toEqual(['a-1', 'a-2']);
    expect(await asTenant('tenant-b', `SELECT id FROM clusters ORDER BY id`)).toEqual(['b-1']);
    expect(await asTenant('*', `SELECT id FROM clusters ORDER BY id`)).toEqual(['a-1', 'a-2', 'b-1']);
    expect(await asTenant(null, `SELECT id FROM clusters`)).toEqual([]);
  });

  it('covers every table whose rows belong to a tenant', async () => {
    const { rows } = await pool.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND rowsecurity ORDER BY 1`);
    // task_attempts (the cost migration) and tenant_budgets (the rollouts one) have the same policy, created with the table.
    expect(rows.map((r) => r.tablename).sort()).toEqual([...TENANT_TABLES, 'cluster_nodes', 'task_attempts', 'tenant_budgets'].sort());
  });
});
