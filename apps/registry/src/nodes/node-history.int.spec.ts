import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { nodeDecider, type NodeCommand, type NodeState } from '@flotilla/domain';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { createReadModelOrm, migrateReadModels, type ReadModelOrm } from '@flotilla/projections';
import { createTestDatabase, type TestDatabase } from '@flotilla/testing';
import { FLEET_SNAPSHOT_EVERY, NodeHistory } from './node-history.js';
import type { NodeDirectory } from './node-directory.js';

const NODES = ['node-h1', 'node-h2', 'node-h3'];
const meta = { tenantId: 'platform', actor: 'test', correlationId: 'test', causationId: null, traceparent: null, schemaVersion: 1 };

/** What a read of the past shows: each node's status and assignments, and the strategy. */
const shown = (d: NodeDirectory) => ({
  nodes: [...d.entries()].map((e) => ({ id: e.nodeId, status: e.state.status, agents: Object.keys(e.state.assignments).sort(), used: e.state.used })).sort((a, b) => (a.id < b.id ? -1 : 1)),
  strategy: d.settings.strategy,
});

describe('the fleet at any moment of a long log (node reads ?at=)', () => {
  let db: TestDatabase;
  let store: EventStore;
  let orm: ReadModelOrm;
  let pool: pg.Pool;
  const positions: bigint[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('node_history');
    store = await createEventStore({ kind: 'postgres', url: db.url, poolSize: 2 });
    orm = await createReadModelOrm({ url: db.url, poolSize: 2 });
    await migrateReadModels(orm, db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    // Three nodes, then agents placed and released on them (an autoscaled fleet's churn), a node
    // cordoned and uncordoned now and then: 3 × FLEET_SNAPSHOT_EVERY events and more.
    const states = new Map<string, { state: NodeState; revision: bigint }>();
    const run = async (nodeId: string, command: Omit<NodeCommand, 'metadata'>) => {
      const current = states.get(nodeId) ?? { state: nodeDecider.initialState(), revision: -1n };
      const events = nodeDecider.decide({ ...command, metadata: { now: new Date().toISOString() } } as NodeCommand, current.state);
      if (!events.length) return;
      const r = await store.append(`node-${nodeId}`, events.map((e) => ({ type: e.type, data: e.data as unknown as Record<string, unknown>, metadata: meta })), {
        expectedRevision: current.revision < 0n ? 'no_stream' : current.revision,
      });
      let state = current.state;
      for (const e of events) state = nodeDecider.evolve(state, e);
      states.set(nodeId, { state, revision: r.nextExpectedRevision });
      positions.push(...r.events.map((e) => e.position));
    };
    for (const id of NODES) {
      await run(id, {
        type: 'RegisterNode',
        data: { nodeId: id, hostname: id, address: '127.0.0.1', region: 'local', zone: 'zone-a', capacity: { cpu: 64, memoryMb: 65536, maxAgents: 50 }, role: 'worker', priority: 100 },
      } as Omit<NodeCommand, 'metadata'>);
    }
    const total = Number(FLEET_SNAPSHOT_EVERY) * 3 + 100;
    for (let i = 0; positions.length < total; i++) {
      const node = NODES[i % 3]!;
      const agentId = `agent-h${Math.floor(i / 3) % 40}`;
      if (i % 97 === 0) await run(node, i % 2 ? { type: 'CordonNode', data: { reason: 'test' } } : { type: 'UncordonNode', data: {} } as Omit<NodeCommand, 'metadata'>);
      else if (Math.floor(i / 120) % 2 === 0) {
        if (states.get(node)!.state.status === 'cordoned') await run(node, { type: 'UncordonNode', data: {} } as Omit<NodeCommand, 'metadata'>);
        await run(node, { type: 'PlaceAgent', data: { agentId, clusterId: 'cluster-h', resources: { cpu: 0.5, memoryMb: 128 } } } as Omit<NodeCommand, 'metadata'>);
      } else await run(node, { type: 'ReleaseAgent', data: { agentId, reason: 'scaled down' } } as Omit<NodeCommand, 'metadata'>);
    }
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await orm?.close(true);
    await pool?.end();
    await db?.drop();
  });

  it('reads from snapshots exactly what a fold from the start reads, folding at most one snapshot interval', async () => {
    const history = new NodeHistory(store, pool);
    const picks = [1, 17, 2000, 2001, 3999, 4500, 5999, 6000, positions.length - 1].map((i) => positions[Math.min(i, positions.length - 1)]!);
    // The first read at the end stores a snapshot every FLEET_SNAPSHOT_EVERY events on its way.
    const end = await history.at({ position: positions.at(-1)! });
    expect(end.folded).toBe(positions.length);
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM stream_snapshots WHERE stream_id = '$fleet'`);
    expect(rows[0]!.n).toBe(Math.floor(positions.length / Number(FLEET_SNAPSHOT_EVERY)));
    for (const position of picks) {
      const full = await history.at({ position }, { snapshots: false });
      const fast = await history.at({ position });
      expect({ position, ...shown(fast.directory) }).toEqual({ position, ...shown(full.directory) });
      expect(fast.asOf).toEqual(full.asOf);
      expect(fast.asOf.position).toBe(position.toString());
      expect(fast.folded).toBeLessThan(Number(FLEET_SNAPSHOT_EVERY));
    }
  }, 60_000);
});
