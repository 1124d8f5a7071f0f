import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { createTestDatabase, type TestDatabase } from '@flotilla/testing';
import { createReadModelOrm, migrateReadModels, type ReadModelOrm } from './orm.js';
import { Projector, readCheckpoint, rebuildProjection } from './projector.js';
import { ALL_PROJECTIONS, clusterAgentsProjection, clusterEventsProjection, clustersProjection } from './projections/index.js';
import { clusterLifecycle, nodeEvents } from './testing/fixtures.js';

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
};

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('migrations', () => {
  let db: TestDatabase;
  afterAll(() => db.drop());

  it('apply, roll back and apply again cleanly', async () => {
    db = await createTestDatabase('migr');
    const orm = await createReadModelOrm({ url: db.url });
    try {
      const tables = async () =>
        (await orm.em.fork().execute<{ tablename: string }[]>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'mikro_orm_migrations' ORDER BY 1`)).map((r) => r.tablename);
      expect(await migrateReadModels(orm, db.url)).toEqual(['Migration20261125000000_read_models']);
      const up = await tables();
      expect(up).toEqual(expect.arrayContaining(['clusters', 'cluster_agents', 'cluster_blueprints', 'cluster_events', 'cluster_metrics', 'cluster_nodes', 'placements', 'projection_checkpoints']));
      expect(await migrateReadModels(orm, db.url)).toEqual([]);
      await orm.migrator.down({ to: 0 });
      expect(await tables()).toEqual([]);
      expect(await migrateReadModels(orm, db.url)).toHaveLength(1);
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
    running = new Projector(orm, store, ALL_PROJECTIONS).run(controller.signal);
  });

  afterAll(async () => {
    controller.abort();
    await running;
    await store.close();
    await orm.close();
    await pool.end();
    await db.drop();
  });

  it('projects a cluster lifecycle into clusters, agents and the audit trail, live', async () => {
    for (const batch of clusterLifecycle('c-1', 2)) await store.append('cluster-c-1', batch, { expectedRevision: 'any' });
    const cluster = await waitFor(
      async () => (await pool.query('SELECT * FROM clusters WHERE id = $1', ['c-1'])).rows[0],
      (r) => r?.name === 'Renamed',
    );
    expect(cluster).toMatchObject({ status: 'scaling_up', target_workers: 3, max_workers: 12, tenant_id: 'acme', blueprint_id: 'marketing-v1' });
    const agents = (await pool.query('SELECT id, state, node_id, role FROM cluster_agents WHERE cluster_id = $1 ORDER BY ordinal', ['c-1'])).rows;
    expect(agents).toHaveLength(3);
    expect(agents.every((a) => a.state === 'idle' && a.node_id === 'node-1')).toBe(true);
    const events = await waitFor(
      async () => (await pool.query('SELECT type, actor, severity FROM cluster_events WHERE cluster_id = $1 ORDER BY position', ['c-1'])).rows,
      (r) => r.length === 13,
    );
    expect(events[0]).toEqual({ type: 'ClusterCreated', actor: 'alice', severity: 'info' });
    expect(events.at(-1)).toEqual({ type: 'ClusterUpdated', actor: 'bob', severity: 'info' });
  });

  it('projects nodes and placements', async () => {
    for (const batch of nodeEvents('node-7')) await store.append('node-node-7', batch, { expectedRevision: 'any' });
    const node = await waitFor(
      async () => (await pool.query('SELECT status, agents FROM cluster_nodes WHERE id = $1', ['node-7'])).rows[0],
      (r) => r?.status === 'offline' && r.agents.length === 0,
    );
    expect(node).toEqual({ status: 'offline', agents: [] });
    const placement = (await pool.query('SELECT status, node_id FROM placements WHERE agent_id = $1', ['a-1'])).rows[0];
    expect(placement).toEqual({ status: 'released', node_id: 'node-7' });
  });

  it('keeps every checkpoint in step with what it applied', async () => {
    const head = await store.headPosition();
    await waitFor(() => readCheckpoint(orm, clusterEventsProjection.name), (p) => p === head);
    for (const p of ALL_PROJECTIONS) expect(await readCheckpoint(orm, p.name)).toBe(head);
  });

  it('rebuilds every read model from position 0 to the identical state', async () => {
    for (let i = 2; i <= 6; i++) for (const batch of clusterLifecycle(`c-${i}`, i)) await store.append(`cluster-c-${i}`, batch, { expectedRevision: 'any' });
    const head = await store.headPosition();
    await waitFor(async () => Promise.all(ALL_PROJECTIONS.map((p) => readCheckpoint(orm, p.name))), (cps) => cps.every((c) => c === head));
    const before = Object.fromEntries(await Promise.all(Object.entries(TABLES).map(async ([t, k]) => [t, await tableHash(pool, t, k)])));
    for (const projection of ALL_PROJECTIONS) {
      const result = await rebuildProjection(orm, store, projection, { batchSize: 7 });
      expect(result.events).toBeGreaterThan(0);
    }
    const after = Object.fromEntries(await Promise.all(Object.entries(TABLES).map(async ([t, k]) => [t, await tableHash(pool, t, k)])));
    expect(after).toEqual(before);
    expect(before['cluster_agents']!.rows).toBeGreaterThan(20);
    // The live loop carries on after a rebuild.
    for (const batch of clusterLifecycle('c-after', 1)) await store.append('cluster-c-after', batch, { expectedRevision: 'any' });
    const row = await waitFor(async () => (await pool.query('SELECT name FROM clusters WHERE id = $1', ['c-after'])).rows[0], (r) => r?.name === 'Renamed');
    expect(row?.name).toBe('Renamed');
    expect(clustersProjection.name).toBe('clusters');
    expect(clusterAgentsProjection.handles.has('AgentStarted')).toBe(true);
  });
});
