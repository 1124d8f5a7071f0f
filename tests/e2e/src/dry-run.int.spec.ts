import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { eventually, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { grpcClient } from './lifecycle.js';

/**
 * `?dry_run=true` (and gRPC `dry_run`) on the cluster commands: the decision with every check of
 * the real command, the events it would append and the state they would lead to, with nothing
 * stored. The plan of a dry run is what the real command then appends. Automatic scaling is off
 * for the test's cluster: on a loaded machine the autoscaler would scale it on CPU, and only the
 * test may write to it. Its agents are placed by least-agents, which decides on the log alone:
 * least-loaded (the default) also weighs the nodes' live CPU readings, which move between a dry
 * run and the real command (both nodes run on this machine, and its load swings).
 */
const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: dry-v1, name: Dry, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 2, maxWorkers: 6, scaling: { enabled: false }, placement: { strategy: least-agents } }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

interface Planned {
  type: string;
  tenant_id: string;
  data: Record<string, unknown>;
}
interface Plan {
  strategy: string;
  placements: { agent_id: string; cluster_id: string; from_node: string | null; to_node: string; name: string; ordinal: number; role: string }[];
  unplaced: { agent_id: string; reason: string }[];
}
interface EventRow {
  type: string;
  position: string;
  tenant_id: string;
  data: Record<string, unknown>;
}

/** An event without its timestamp (the dry run and the real command decide at different moments). */
const timeless = (e: { type: string; tenant_id: string; data: Record<string, unknown> }) => {
  const { at: _at, ...data } = e.data;
  return { type: e.type, tenant_id: e.tenant_id, data };
};

describe('dry runs: the decision without the change', () => {
  let stack: Stack;

  const events = async (id: string, after?: string): Promise<EventRow[]> =>
    ((await stack.call('GET', `/api/clusters/${id}/events?limit=1000${after ? `&after=${after}` : ''}`)).body as { events: EventRow[] }).events;
  const cluster = async (id: string) => (await stack.call('GET', `/api/clusters/${id}`)).body as { status: string; target_workers: number; current_workers: number };

  beforeAll(async () => {
    stack = await startStack({ label: 'dry_run', nodes: [{ id: 'node-dry1', cpu: '16' }, { id: 'node-dry2', cpu: '16' }] });
    expect((await stack.call('POST', '/api/blueprints?wait=true', BLUEPRINT)).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { id: 'dry-c1', blueprint_id: 'dry-v1', name: 'dry' })).status).toBe(201);
    await eventually(async () => {
      const c = await cluster('dry-c1');
      return c.status === 'active' && c.current_workers === 2;
    }, { timeoutMs: 90_000, what: 'dry-c1 active with 2 workers' });
  }, 150_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('a dry-run create answers the cluster it would create, and creates nothing', async () => {
    const res = await stack.call('POST', '/api/clusters?dry_run=true', { id: 'dry-never', blueprint_id: 'dry-v1', name: 'never' });
    expect(res.status).toBe(200);
    expect(res.headers.get('flotilla-dry-run')).toBe('true');
    const body = res.body as { dry_run: boolean; result: { id: string; status: string }; events: Planned[]; plan: Plan };
    expect(body.dry_run).toBe(true);
    // And where its three agents would go, with the blueprint's placement.
    expect(body.plan.placements.map((p) => `${p.name}#${p.ordinal}`).sort()).toEqual(['boss#0', 'hand#0', 'hand#1']);
    expect(body.plan.unplaced).toEqual([]);
    expect(body.result).toMatchObject({ id: 'dry-never', status: 'planning', target_workers: 2 });
    expect(body.events.map((e) => e.type)).toEqual(['ClusterCreated']);
    expect(body.events[0]!.tenant_id).toBe('default');
    expect((await stack.call('GET', '/api/clusters/dry-never')).status).toBe(404);
  });

  it('a dry-run scale appends nothing, and the real scale then appends exactly its plan', async () => {
    const before = await events('dry-c1');
    const last = before.at(-1)!.position;
    const target = (await cluster('dry-c1')).target_workers;
    expect(target).toBe(2);
    const dry = await stack.call('POST', '/api/clusters/dry-c1/scale?dry_run=true', { target_workers: 1, reason: 'rehearsal' });
    expect(dry.status).toBe(200);
    const plan = (dry.body as { result: { target_workers: number }; events: Planned[] });
    expect(plan.result.target_workers).toBe(1);
    // Scaling down names the worker it would stop: the newest one.
    expect(plan.events.map((e) => e.type)).toEqual(['ClusterScalingStarted', 'AgentStopRequested']);
    expect((await cluster('dry-c1')).target_workers).toBe(target);

    const real = await stack.call('POST', '/api/clusters/dry-c1/scale?wait=true', { target_workers: 1, reason: 'rehearsal' });
    expect(real.status).toBe(200);
    // Nothing came between the last event and the real scale's: the dry run stored none.
    const appended = (await events('dry-c1', last)).slice(0, plan.events.length);
    expect(appended.map(timeless)).toEqual(plan.events.map(timeless));
    await eventually(async () => {
      const c = await cluster('dry-c1');
      return c.status === 'active' && c.current_workers === 1;
    }, { timeoutMs: 60_000, what: 'dry-c1 active with 1 worker' });
  }, 90_000);

  it("a dry-run scale-up's plan says where each new agent would go, reserves nothing, and the real scale then places them there", async () => {
    const nodesUsed = async () =>
      ((await stack.call('GET', '/api/cluster/nodes')).body as { nodes: { id: string; used: { agents: number; cpu: number } }[] }).nodes
        .map((n) => ({ id: n.id, used: n.used }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    const usedBefore = await nodesUsed();
    const dry = await stack.call('POST', '/api/clusters/dry-c1/scale?dry_run=true', { target_workers: 4 });
    expect(dry.status).toBe(200);
    const plan = (dry.body as { plan: Plan }).plan;
    // Three workers would be spawned; each has a node, none is left over.
    expect(plan.placements).toHaveLength(3);
    expect(plan.unplaced).toEqual([]);
    for (const p of plan.placements) {
      expect(p).toMatchObject({ cluster_id: 'dry-c1', name: 'hand', role: 'worker', from_node: null });
      expect(['node-dry1', 'node-dry2']).toContain(p.to_node);
    }
    // Nothing was reserved or spawned by the dry run.
    expect(await nodesUsed()).toEqual(usedBefore);
    expect((await cluster('dry-c1')).target_workers).toBe(1);

    expect((await stack.call('POST', '/api/clusters/dry-c1/scale?wait=true', { target_workers: 4 })).status).toBe(200);
    const placed = await eventually(async () => {
      const agents = ((await stack.call('GET', '/api/clusters/dry-c1/agents')).body as { agents: { name: string; ordinal: number; node_id: string | null; state: string }[] }).agents;
      const workers = agents.filter((a) => a.name === 'hand' && a.state !== 'stopped' && a.state !== 'failed');
      return workers.length === 4 && workers.every((a) => a.node_id) && workers;
    }, { timeoutMs: 60_000, what: 'dry-c1 with 4 placed workers' });
    const real = new Map(placed.map((a) => [`${a.name}#${a.ordinal}`, a.node_id]));
    for (const p of plan.placements) expect({ slot: `${p.name}#${p.ordinal}`, node: real.get(`${p.name}#${p.ordinal}`) }).toEqual({ slot: `${p.name}#${p.ordinal}`, node: p.to_node });
  }, 90_000);

  it('refuses a dry run exactly as it refuses the command, and changes nothing', async () => {
    const dry = await stack.call('POST', '/api/clusters/dry-c1/scale?dry_run=true', { target_workers: 99 });
    const real = await stack.call('POST', '/api/clusters/dry-c1/scale', { target_workers: 99 });
    expect(dry.status).toBeGreaterThanOrEqual(400);
    expect([dry.status, dry.body]).toEqual([real.status, real.body]);
    const unknown = await stack.call('POST', '/api/clusters/no-such/hibernate?dry_run=true', {});
    expect(unknown.status).toBe(404);
  });

  it('a route without a dry run says so instead of carrying the command out', async () => {
    const res = await stack.call('POST', '/api/clusters/dry-c1/tasks?dry_run=true', { payload: { x: 1 } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('dry_run');
  });

  it('a dry-run drain answers where each of the node\'s agents would go, and drains nothing', async () => {
    type Assignments = { assignments: { agent_id: string; node_id: string }[] };
    const before = (await stack.call('GET', '/api/cluster/assignments')).body as Assignments;
    const counts = new Map<string, number>();
    for (const a of before.assignments) counts.set(a.node_id, (counts.get(a.node_id) ?? 0) + 1);
    const busiest = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const res = await stack.call('POST', `/api/cluster/nodes/${busiest}/drain?dry_run=true`, {});
    expect(res.status).toBe(200);
    expect(res.headers.get('flotilla-dry-run')).toBe('true');
    const body = res.body as { result: { status: string }; events: Planned[]; plan: { placements: { agent_id: string; from_node: string; to_node: string }[]; unplaced: unknown[] } };
    expect(body.result.status).toBe('draining');
    expect(body.events.map((e) => e.type)).toEqual(['NodeDrainStarted']);
    const leaving = before.assignments.filter((a) => a.node_id === busiest).map((a) => a.agent_id).sort();
    expect(body.plan.placements.map((p) => p.agent_id).sort()).toEqual(leaving);
    expect(body.plan.unplaced).toEqual([]);
    for (const p of body.plan.placements) expect([p.from_node, p.to_node]).toEqual([busiest, busiest === 'node-dry1' ? 'node-dry2' : 'node-dry1']);
    // Nothing drained, nothing moved.
    expect(((await stack.call('GET', `/api/cluster/nodes/${busiest}`)).body as { status: string }).status).toBe('online');
    expect(((await stack.call('GET', '/api/cluster/assignments')).body as Assignments).assignments).toEqual(before.assignments);
    // Refused as the real drain is: an unknown node.
    expect((await stack.call('POST', '/api/cluster/nodes/no-such-node/drain?dry_run=true', {})).status).toBe(404);
  });

  it('a dry-run strategy switch answers its event and how the agents would be spread, and keeps the strategy', async () => {
    const strategy = ((await stack.call('GET', '/api/cluster/stats')).body as { strategy: string }).strategy;
    const other = strategy === 'least-agents' ? 'round-robin' : 'least-agents';
    const res = await stack.call('POST', '/api/cluster/balance?dry_run=true', { strategy: other });
    expect(res.status).toBe(200);
    const body = res.body as { result: { strategy: string }; events: Planned[]; plan: { strategy: string; placements: unknown[] } };
    expect(body.result.strategy).toBe(other);
    expect(body.events.map((e) => e.type)).toEqual(['DefaultStrategyChanged']);
    expect(body.plan.strategy).toBe(other);
    const assigned = ((await stack.call('GET', '/api/cluster/assignments')).body as { total: number }).total;
    expect(body.plan.placements).toHaveLength(assigned);
    expect(((await stack.call('GET', '/api/cluster/stats')).body as { strategy: string }).strategy).toBe(strategy);
  });

  it('gRPC: PreviewDrain and PreviewStrategy answer the plans and change nothing', async () => {
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      const assignments = ((await stack.call('GET', '/api/cluster/assignments')).body as { assignments: { agent_id: string; node_id: string }[] }).assignments;
      const drain = await client.call('PreviewDrain', { id: 'node-dry1' });
      expect(drain.code).toBe(grpc.status.OK);
      const d = drain.reply as { node: { id: string; status: string }; planned: { type: string }[]; plan: { placements: { agent_id: string; to_node: string }[] } };
      expect(d.node).toMatchObject({ id: 'node-dry1', status: 'draining' });
      expect(d.planned.map((e) => e.type)).toEqual(['NodeDrainStarted']);
      expect(d.plan.placements.map((p) => p.agent_id).sort()).toEqual(assignments.filter((a) => a.node_id === 'node-dry1').map((a) => a.agent_id).sort());
      const strategy = await client.call('PreviewStrategy', { strategy: 'random' });
      expect(strategy.code).toBe(grpc.status.OK);
      expect(strategy.reply).toMatchObject({ strategy: 'random', planned: [{ type: 'DefaultStrategyChanged' }], plan: { strategy: 'random' } });
      expect(((await stack.call('GET', '/api/cluster/nodes/node-dry1')).body as { status: string }).status).toBe('online');
      expect(((await stack.call('GET', '/api/cluster/stats')).body as { strategy: string }).strategy).not.toBe('random');
    } finally {
      client.close();
    }
  });

  it('gRPC: ScaleCluster with dry_run answers the plan and changes nothing', async () => {
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      const before = await cluster('dry-c1');
      const target = before.target_workers + 2;
      const r = await client.call('ScaleCluster', { id: 'dry-c1', target_workers: target, dry_run: true });
      expect(r.code).toBe(grpc.status.OK);
      const reply = r.reply as { dry_run: boolean; cluster: { target_workers: number }; planned: { type: string; tenant_id: string }[]; position: string };
      expect(reply.dry_run).toBe(true);
      expect(reply.position).toBe('');
      expect(reply.cluster.target_workers).toBe(target);
      expect(reply.planned.map((e) => e.type)).toEqual(['ClusterScalingStarted']);
      const plan = (r.reply as { plan: { placements: { role: string; to_node: string }[] } }).plan;
      expect(plan.placements.map((p) => p.role)).toEqual(['worker', 'worker']);
      expect((await cluster('dry-c1')).target_workers).toBe(before.target_workers);
    } finally {
      client.close();
    }
  });
});
