import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { eventually, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { grpcClient } from './lifecycle.js';

/**
 * Reads of the past (`?at=`) and diffs, against the whole system: a cluster is created, scaled,
 * loses a node (its agents move to the other), and hibernates. At each of those moments the
 * test keeps what the live API answered, with the log position the answer reflects (`as_of`);
 * at the end, a read `?at=` each moment must answer exactly that, and a diff between two
 * moments must list what changed. Automatic scaling is off: only the test changes the target.
 * The health score is left out of the comparison: it is a measurement the metrics service
 * records beside the log, not state the log holds.
 *
 * Retention is on (events older than 5 s move to the event store's archive), so by the time
 * these reads run, the moments they ask about are no longer in the live log: the first test
 * waits for that, and every read after it is served from the archive. The last test rebuilds
 * the read models from the (mostly archived) log and gets the same views.
 */
const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: past-v1, name: Past, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 2, maxWorkers: 8, scaling: { enabled: false }, monitoring: { intervalSeconds: 1 } }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

interface AsOf {
  position: string;
  occurred_at: string | null;
}
interface ClusterBody {
  status: string;
  target_workers: number;
  current_workers: number;
  health_score: number | null;
  as_of: AsOf;
  [k: string]: unknown;
}
interface AgentBody {
  id: string;
  state: string;
  node_id: string | null;
  role: string;
}
interface AgentsBody {
  agents: AgentBody[];
  total: number;
  as_of: AsOf;
}
interface Moment {
  cluster: ClusterBody;
  agents: AgentsBody;
  all: AgentsBody;
}

/** A view without what is not the log's state: the health score, and where the position came from. */
const logState = ({ health_score: _h, as_of, ...rest }: ClusterBody) => ({ ...rest, position: as_of.position });

describe('the log as a feature: reads of the past and diffs', () => {
  let stack: Stack;
  const moments: Record<string, Moment> = {};

  const get = async <T>(path: string): Promise<T> => {
    const res = await stack.call('GET', path);
    expect([path, res.status]).toEqual([path, 200]);
    return res.body as T;
  };
  /** The live views once they have settled: two reads in a row that agree. */
  const capture = async (name: string, ready: (m: Moment) => boolean) => {
    let last = '';
    await eventually(async () => {
      const m: Moment = {
        cluster: await get<ClusterBody>('/api/clusters/past-c1'),
        agents: await get<AgentsBody>('/api/clusters/past-c1/agents'),
        all: await get<AgentsBody>('/api/clusters/past-c1/agents?include_stopped=true'),
      };
      const text = JSON.stringify([logState(m.cluster), m.agents, m.all]);
      const settled = ready(m) && text === last;
      last = text;
      if (settled) moments[name] = m;
      return settled;
    }, { timeoutMs: 90_000, intervalMs: 300, what: `the moment '${name}'` });
  };
  const workersOn = (m: Moment) => m.agents.agents.filter((a) => a.role === 'worker' && a.state === 'idle');

  beforeAll(async () => {
    stack = await startStack({
      label: 'history',
      nodes: [{ id: 'node-past1', cpu: '16' }, { id: 'node-past2', cpu: '16' }],
      env: { EVENT_ARCHIVE_AFTER: '5s', EVENT_ARCHIVE_INTERVAL_MS: '500' },
    });
    expect((await stack.call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { id: 'past-c1', blueprint_id: 'past-v1', name: 'past' })).status).toBe(201);
    await capture('created', (m) => m.cluster.status === 'active' && workersOn(m).length === 2);

    expect((await stack.call('POST', '/api/clusters/past-c1/scale?wait=true', { target_workers: 4 })).status).toBe(200);
    await capture('scaled', (m) => m.cluster.status === 'active' && workersOn(m).length === 4);

    // The node that holds a worker dies; its agents must end on the other node.
    const victim = workersOn(moments['scaled']!)[0]!.node_id!;
    const survivor = victim === 'node-past1' ? 'node-past2' : 'node-past1';
    stack.procs.get(victim)!.kill('SIGKILL');
    await capture('moved', (m) =>
      m.cluster.status === 'active' && workersOn(m).length === 4 && m.agents.agents.every((a) => a.state === 'idle' && a.node_id === survivor),
    );

    expect((await stack.call('POST', '/api/clusters/past-c1/hibernate?wait=true', {})).status).toBe(200);
    await capture('hibernated', (m) => m.cluster.status === 'hibernated' && m.agents.agents.every((a) => a.role !== 'worker'));
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('retention: the moments are archived, out of the live log, by the time they are read', async () => {
    const pool = new pg.Pool({ connectionString: stack.db.url, max: 1 });
    try {
      const moved = BigInt(moments['moved']!.all.as_of.position);
      await eventually(
        async () => {
          const { rows } = await pool.query<{ through: string | null }>('SELECT max(last_position)::text AS through FROM eventstore.archive_chunks');
          return BigInt(rows[0]!.through ?? 0) >= moved;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: "the archive to reach the 'moved' moment" },
      );
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM eventstore.events WHERE stream_id = 'cluster-past-c1' AND position <= $1`, [moved.toString()]);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it('?at= each moment answers exactly what the live API answered then', async () => {
    for (const [name, m] of Object.entries(moments)) {
      const cluster = await get<ClusterBody>(`/api/clusters/past-c1?at=${m.cluster.as_of.position}`);
      expect([name, logState(cluster)]).toEqual([name, logState(m.cluster)]);
      const agents = await get<AgentsBody>(`/api/clusters/past-c1/agents?at=${m.agents.as_of.position}`);
      expect([name, agents.agents, agents.total]).toEqual([name, m.agents.agents, m.agents.total]);
      const all = await get<AgentsBody>(`/api/clusters/past-c1/agents?include_stopped=true&at=${m.all.as_of.position}`);
      expect([name, all.agents]).toEqual([name, m.all.agents]);
      // The same moment by its time reads the same state.
      const byTime = await get<ClusterBody>(`/api/clusters/past-c1?at=${encodeURIComponent(cluster.as_of.occurred_at!)}`);
      expect([name, logState(byTime)]).toEqual([name, logState(cluster)]);
    }
  });

  it('?at= a moment before the cluster existed is a 404; a malformed moment is a 400 naming at', async () => {
    expect((await stack.call('GET', '/api/clusters/past-c1?at=1')).status).toBe(404);
    const bad = await stack.call('GET', '/api/clusters/past-c1?at=yesterday');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('at');
  });

  it('the hierarchy ?at= a moment shows the workers of that moment', async () => {
    const h = await get<{ root: { children: { role: string; state: string }[] }; as_of: AsOf }>(
      `/api/clusters/past-c1/hierarchy?at=${moments['scaled']!.cluster.as_of.position}`,
    );
    const workers = h.root.children.filter((c) => c.role === 'worker');
    expect(workers.map((w) => w.state)).toEqual(['idle', 'idle', 'idle', 'idle']);
  });

  it('a diff lists the target change, the added workers and the moved agents, with their events', async () => {
    const created = moments['created']!.cluster.as_of.position;
    const scaled = moments['scaled']!.cluster.as_of.position;
    const moved = moments['moved']!.cluster.as_of.position;
    const d1 = await get<{ changes: { field: string; from: unknown; to: unknown; events: string[] }[]; agents: { changes: string[]; events: string[] }[]; events: { position: string; type: string }[] }>(
      `/api/clusters/past-c1/diff?from=${created}&to=${scaled}`,
    );
    expect(d1.changes.find((c) => c.field === 'target_workers')).toMatchObject({ from: 2, to: 4 });
    expect(d1.agents.filter((a) => a.changes.includes('added'))).toHaveLength(2);
    const positions = new Set(d1.events.map((e) => e.position));
    for (const c of [...d1.changes, ...d1.agents]) for (const p of c.events) expect(positions.has(p)).toBe(true);
    expect(d1.events.some((e) => e.type === 'ClusterScalingStarted')).toBe(true);

    const d2 = await get<{ agents: { agent_id: string; changes: string[]; to_node: string | null }[] }>(`/api/clusters/past-c1/diff?from=${scaled}&to=${moved}`);
    const movedAgents = d2.agents.filter((a) => a.changes.includes('moved'));
    const before = new Map(moments['scaled']!.agents.agents.map((a) => [a.id, a.node_id]));
    const survivor = moments['moved']!.agents.agents[0]!.node_id;
    const onVictim = [...before].filter(([, node]) => node !== survivor).map(([id]) => id).sort();
    expect(movedAgents.map((a) => a.agent_id).sort()).toEqual(onVictim);
    for (const a of movedAgents) expect(a.to_node).toBe(survivor);

    const bad = await stack.call('GET', `/api/clusters/past-c1/diff?from=${moved}&to=${created}`);
    expect(bad.status).toBe(400);
  });

  it('the health ?at= a moment is the one recorded at the last snapshot by then', async () => {
    const moved = moments['moved']!.cluster;
    const when = (await get<ClusterBody>(`/api/clusters/past-c1?at=${moved.as_of.position}`)).as_of.occurred_at!;
    const byPosition = await get<{ score: number; status: string; at: string; components: Record<string, number> }>(`/api/clusters/past-c1/health?at=${moved.as_of.position}`);
    expect(Date.parse(byPosition.at)).toBeLessThanOrEqual(Date.parse(when));
    expect(byPosition.score).toBeGreaterThanOrEqual(0);
    expect(Object.keys(byPosition.components).length).toBeGreaterThan(0);
    expect(await get(`/api/clusters/past-c1/health?at=${encodeURIComponent(when)}`)).toEqual(byPosition);
    expect((await stack.call('GET', '/api/clusters/past-c1/health?at=2020-01-01T00:00:00Z')).status).toBe(404);
  });

  it('nodes and assignments ?at= a moment: where the agents were, which node was up', async () => {
    const scaled = moments['scaled']!;
    const moved = moments['moved']!;
    const placed = await get<{ assignments: { agent_id: string; node_id: string }[]; as_of: AsOf }>(
      `/api/cluster/assignments?cluster_id=past-c1&at=${scaled.cluster.as_of.position}`,
    );
    const where = (list: { id?: string; agent_id?: string; node_id: string | null }[]) =>
      Object.fromEntries(list.map((a) => [a.id ?? a.agent_id, a.node_id]));
    expect(where(placed.assignments)).toEqual(where(scaled.agents.agents));
    const survivor = moved.agents.agents[0]!.node_id!;
    const victim = survivor === 'node-past1' ? 'node-past2' : 'node-past1';
    const before = await get<{ status: string; as_of: AsOf }>(`/api/cluster/nodes/${victim}?at=${scaled.cluster.as_of.position}`);
    expect(before.status).toBe('online');
    const after = await get<{ status: string }>(`/api/cluster/nodes/${victim}?at=${moved.cluster.as_of.position}`);
    expect(['suspected', 'offline']).toContain(after.status);
    const all = await get<{ nodes: { id: string; usage: unknown; health: string }[]; total: number }>(`/api/cluster/nodes?at=${scaled.cluster.as_of.position}`);
    expect(all.nodes.map((n) => n.id)).toEqual(['node-past1', 'node-past2']);
    // Readings are not in the log: a node of the past has no usage and an unknown health.
    expect(all.nodes.every((n) => n.usage === null && n.health === 'unknown')).toBe(true);
  });

  it('gRPC: GetCluster with at answers the same moment', async () => {
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      const m = moments['scaled']!;
      const r = await client.call('GetCluster', { id: 'past-c1', at: m.cluster.as_of.position });
      expect(r.code).toBe(grpc.status.OK);
      const reply = r.reply as { target_workers: number; status: string; as_of: AsOf };
      expect(reply).toMatchObject({ target_workers: 4, status: m.cluster.status, as_of: { position: m.cluster.as_of.position } });
    } finally {
      client.close();
    }
  });

  it('a rebuild of the read models from the archived log gives the same views', async () => {
    const views = async () => ({
      cluster: logState(await get<ClusterBody>('/api/clusters/past-c1')),
      all: (await get<AgentsBody>('/api/clusters/past-c1/agents?include_stopped=true')).agents,
    });
    const before = await views();
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(repoRoot, 'apps', 'cli', 'dist', 'main.js'), 'rebuild', 'clusters', 'cluster_agents'],
        { timeout: 60_000, env: { ...process.env, ...stack.env } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect({ code: run.code, stderr: run.stderr.split('\n').filter((l) => /error/i.test(l)) }).toEqual({ code: 0, stderr: [] });
    expect(run.stdout).toMatch(/^clusters: replayed \d+ events/m);
    expect(await views()).toEqual(before);
  }, 90_000);
});
