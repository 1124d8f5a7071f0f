import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registryRoutes as r, registrySubjects, type PlacementAgent } from '@flotilla/contracts';
import type { EventStore } from '@flotilla/eventstore';
import type { Messaging } from '@flotilla/messaging';
import { eventually } from '@flotilla/testing';
import {
  placementAgent,
  startRegistryReplica,
  startRegistryTestBed,
  type RegistryReplica,
  type RegistryTestBed,
} from '../testing/registry-harness.js';

const agent = (id: string, cpu = 1, memory_mb = 512): PlacementAgent =>
  placementAgent(id, { capabilities: ['drafting'], cpu, memory_mb });

describe('registry: nodes and placement (real NATS and PostgreSQL)', () => {
  let bed: RegistryTestBed;
  let replica: RegistryReplica;
  let client: Messaging;
  let store: EventStore;
  const alive = new Set<string>();

  beforeAll(async () => {
    bed = await startRegistryTestBed('reg_place', { RESERVATION_TTL_MS: '600000' }, ['registry-a']);
    ({ client, store } = bed);
    replica = bed.replicas[0]!;
    bed.every(250, () => {
      for (const id of alive) {
        client.publish(registrySubjects.heartbeat(id), {
          node_id: id,
          sent_at: new Date().toISOString(),
          cpu_percent: 10,
          memory_percent: 20,
          disk_percent: 30,
          load_avg: 0.1,
          agents: [],
        });
      }
    });
  });

  afterAll(async () => {
    await bed?.close([replica]);
  });

  const register = async (id: string, zone: string, cpu = 4, maxAgents = 10) => {
    const view = await client.request(r.registerNode, {
      node_id: id,
      hostname: `${id}.local`,
      address: '127.0.0.1',
      zone,
      capacity: { cpu, memory_mb: 8192, max_agents: maxAgents },
    });
    alive.add(id);
    return view;
  };

  it('registers nodes and answers queries from its live view', async () => {
    const view = await register('node-a', 'zone-a');
    expect(view).toMatchObject({
      id: 'node-a',
      status: 'online',
      zone: 'zone-a',
      capacity: { cpu: 4, memory_mb: 8192, max_agents: 10 },
      agents: [],
    });
    await register('node-b', 'zone-b');
    await register('node-c', 'zone-c');
    const listed = await eventually(
      async () => {
        const l = await client.request(r.listNodes, {});
        return l.nodes.every((n) => n.usage !== null) && l;
      },
      { timeoutMs: 3000, what: 'heartbeats seen' },
    );
    expect(listed.total).toBe(3);
    expect(listed.nodes.map((n) => n.id)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(listed.nodes[0]).toMatchObject({
      health: 'healthy',
      usage: { cpu_percent: 10, memory_percent: 20, disk_percent: 30, load_avg: 0.1 },
    });
    expect((await client.request(r.listNodes, { zone: 'zone-b' })).nodes.map((n) => n.id)).toEqual([
      'node-b',
    ]);
    const err = await client.request(r.getNode, { id: 'node-zz' }).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('not_found');
  });

  it('spreads agents as the strategy says and records the agent spec on AgentAssigned', async () => {
    const reply = await client.request(r.place, {
      cluster_id: 'cluster-one',
      tenant_id: 'default',
      strategy: 'least-agents',
      agents: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((id) => agent(`agent-${id}`)),
    });
    expect(reply.strategy).toBe('least-agents');
    expect(reply.unplaced).toEqual([]);
    const perNode = new Map<string, number>();
    for (const a of reply.assignments) perNode.set(a.node_id, (perNode.get(a.node_id) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    const events = await store.readStream(`node-${reply.assignments[0]!.node_id}`);
    const assigned = events.find(
      (e) => e.type === 'AgentAssigned' && e.data['agentId'] === reply.assignments[0]!.agent_id,
    );
    expect(assigned?.data).toMatchObject({
      clusterId: 'cluster-one',
      resources: { cpu: 1, memoryMb: 512 },
      agent: {
        name: 'worker',
        role: 'worker',
        capabilities: ['drafting'],
        runtime: { kind: 'builtin', handler: 'echo' },
      },
    });
  });
  it('is idempotent by agent id: a repeat returns the same assignments and records nothing', async () => {
    const before = (await store.readAll()).length;
    const agents = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((id) => agent(`agent-${id}`));
    const first = await client.request(r.assignments, { cluster_id: 'cluster-one' });
    const again = await client.request(r.place, {
      cluster_id: 'cluster-one',
      tenant_id: 'default',
      strategy: 'random',
      agents,
    });
    const where = (list: { agent_id: string; node_id: string }[]) =>
      Object.fromEntries(list.map((a) => [a.agent_id, a.node_id]));
    expect(where(again.assignments)).toEqual(where(first.assignments));
    expect((await store.readAll()).length).toBe(before);
  });

  it('switches the default strategy at run time (an event), which changes the next placement and survives a restart', async () => {
    await register('node-d', 'zone-d', 16, 30);
    const least = await client.request(r.setStrategy, { strategy: 'least-agents' });
    expect(least.strategy).toBe('least-agents');
    const even = await client.request(r.place, {
      cluster_id: 'cluster-two',
      tenant_id: 'default',
      agents: ['b1', 'b2', 'b3', 'b4'].map((id) => agent(`agent-${id}`)),
    });
    expect(even.strategy).toBe('least-agents');
    // node-d starts empty while the others hold 2 each: it takes 2, then the fewest-agents rule spreads.
    expect(even.assignments.filter((a) => a.node_id === 'node-d')).toHaveLength(2);

    const weighted = await client.request(r.setStrategy, { strategy: 'weighted' });
    expect(weighted.position).not.toBeNull();
    const heavy = await client.request(r.place, {
      cluster_id: 'cluster-three',
      tenant_id: 'default',
      agents: ['c1', 'c2', 'c3', 'c4'].map((id) => agent(`agent-${id}`)),
    });
    expect(heavy.strategy).toBe('weighted');
    // By CPU capacity: the 16-core node takes all four before a 4-core node's share comes up.
    expect(heavy.assignments.map((a) => a.node_id)).toEqual([
      'node-d',
      'node-d',
      'node-d',
      'node-d',
    ]);
    const events = await store.readStream('registry-settings');
    expect(events.map((e) => [e.type, e.data['strategy']])).toEqual([
      ['DefaultStrategyChanged', 'least-agents'],
      ['DefaultStrategyChanged', 'weighted'],
    ]);

    await replica.close();
    replica = await startRegistryReplica(bed.env, 'registry-b');
    expect((await client.request(r.stats, {})).strategy).toBe('weighted');
  });

  it('moves an agent make-before-break (keep_source) and releases the source only when asked', async () => {
    const [x] = (await client.request(r.assignments, { cluster_id: 'cluster-three' })).assignments;
    const from = x!.node_id;
    const moved = await client.request(r.place, {
      cluster_id: 'cluster-three',
      tenant_id: 'default',
      agents: [agent(x!.agent_id)],
      move_from: from,
      keep_source: true,
    });
    const to = moved.assignments[0]!;
    expect(to).toMatchObject({ agent_id: x!.agent_id, previous_node_id: from });
    expect(to.node_id).not.toBe(from);
    // Both hold it until the replacement runs.
    expect((await client.request(r.getNode, { id: from })).agents).toContain(x!.agent_id);
    expect((await client.request(r.getNode, { id: to.node_id })).agents).toContain(x!.agent_id);
    // Asking again (the reconciler does, every pass) changes nothing.
    const repeat = await client.request(r.place, {
      cluster_id: 'cluster-three',
      tenant_id: 'default',
      agents: [agent(x!.agent_id)],
      move_from: from,
      keep_source: true,
    });
    expect(repeat.assignments[0]!.node_id).toBe(to.node_id);
    const released = await client.request(r.release, {
      cluster_id: 'cluster-three',
      agent_ids: [x!.agent_id],
      node_id: from,
      reason: 'replacement started',
    });
    expect(released.released).toEqual([x!.agent_id]);
    expect((await client.request(r.getNode, { id: from })).agents).not.toContain(x!.agent_id);
    expect((await client.request(r.getNode, { id: to.node_id })).agents).toContain(x!.agent_id);
  });

  it('re-places an orphan off its node and releases the old assignment in the same operation', async () => {
    const [y] = (
      await client.request(r.assignments, { cluster_id: 'cluster-two', node_id: 'node-d' })
    ).assignments;
    const moved = await client.request(r.place, {
      cluster_id: 'cluster-two',
      tenant_id: 'default',
      agents: [agent(y!.agent_id)],
      move_from: 'node-d',
      keep_source: false,
    });
    expect(moved.assignments[0]).toMatchObject({
      agent_id: y!.agent_id,
      previous_node_id: 'node-d',
    });
    expect(moved.assignments[0]!.node_id).not.toBe('node-d');
    expect((await client.request(r.getNode, { id: 'node-d' })).agents).not.toContain(y!.agent_id);
    const events = await store.readStream('node-node-d');
    expect(events.at(-1)).toMatchObject({
      type: 'AgentReleased',
      data: { agentId: y!.agent_id, reason: `moved to ${moved.assignments[0]!.node_id}` },
    });
  });

  it('answers unplaced agents with the reason, and cordon keeps new agents off a node', async () => {
    const gpu = await client.request(r.place, {
      cluster_id: 'cluster-gpu',
      tenant_id: 'default',
      constraints: { required_services: ['gpu'] },
      agents: [agent('agent-gpu-1')],
    });
    expect(gpu.assignments).toEqual([]);
    expect(gpu.unplaced[0]).toMatchObject({ agent_id: 'agent-gpu-1' });
    expect(gpu.unplaced[0]!.reason).toMatch(/^missing_services/);

    await client.request(r.cordonNode, { id: 'node-d', reason: 'maintenance' });
    const cordoned = await client.request(r.place, {
      cluster_id: 'cluster-four',
      tenant_id: 'default',
      strategy: 'weighted',
      agents: ['d1', 'd2'].map((id) => agent(`agent-${id}`)),
    });
    expect(cordoned.assignments.map((a) => a.node_id)).not.toContain('node-d');
    expect((await client.request(r.getNode, { id: 'node-d' })).status).toBe('cordoned');
    await client.request(r.uncordonNode, { id: 'node-d' });
    expect((await client.request(r.getNode, { id: 'node-d' })).status).toBe('online');
  });

  it('drains a node: draining until its last agent is released, then drained; deregistration needs force while agents remain', async () => {
    const held = (await client.request(r.getNode, { id: 'node-a' })).agents;
    expect(held.length).toBeGreaterThan(0);
    const refused = await client
      .request(r.deregisterNode, { id: 'node-a' })
      .catch((e: unknown) => e);
    expect((refused as { code: string; details: { rule: string } }).details.rule).toBe(
      'node_not_empty',
    );
    expect(
      (await client.request(r.drainNode, { id: 'node-a', reason: 'kernel upgrade' })).status,
    ).toBe('draining');
    const byCluster = new Map<string, string[]>();
    for (const a of (await client.request(r.assignments, { node_id: 'node-a' })).assignments)
      byCluster.set(a.cluster_id, [...(byCluster.get(a.cluster_id) ?? []), a.agent_id]);
    for (const [clusterId, agentIds] of byCluster)
      await client.request(r.release, {
        cluster_id: clusterId,
        agent_ids: agentIds,
        node_id: 'node-a',
        reason: 'moved',
      });
    expect((await client.request(r.getNode, { id: 'node-a' })).status).toBe('drained');
    const stats = await client.request(r.stats, {});
    expect(stats.nodes.by_status).toMatchObject({ drained: 1 });
    expect(stats.zones['zone-a']).toMatchObject({ nodes: 1, online: 0, agents: 0 });
    expect(stats.capacity.agents.total).toBe(60);
    expect(stats.capacity.agents.used).toBe(stats.agents.total);
    const gone = await client.request(r.deregisterNode, { id: 'node-a' });
    expect(gone.status).toBe('deregistered');
    expect((await client.request(r.listNodes, {})).nodes.map((n) => n.id)).not.toContain('node-a');
  });

  it('a node agent registering with resume_own_drain undoes the drain of its own shutdown; a plain registration keeps a cordon', async () => {
    await register('node-e', 'zone-e');
    expect(
      (await client.request(r.drainNode, { id: 'node-e', reason: 'node agent shutting down' }))
        .status,
    ).toBe('drained');
    const plain = await client.request(r.registerNode, {
      node_id: 'node-e',
      hostname: 'node-e.local',
      address: '127.0.0.1',
      zone: 'zone-e',
      capacity: { cpu: 4, memory_mb: 8192, max_agents: 10 },
    });
    expect(plain.status).toBe('drained');
    const resumed = await client.request(r.registerNode, {
      node_id: 'node-e',
      hostname: 'node-e.local',
      address: '127.0.0.1',
      zone: 'zone-e',
      capacity: { cpu: 4, memory_mb: 8192, max_agents: 10 },
      resume_own_drain: true,
    });
    expect(resumed.status).toBe('online');
  });
});
