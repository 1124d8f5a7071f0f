import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PLACEMENT_STRATEGIES, type PlacementStrategy } from '../blueprint/blueprint.schema.js';
import { ValidationError } from '../errors.js';
import { place } from './placement.js';
import type { NodeSnapshot, PlaceInput, PlaceResult, PlacementRequest } from './placement.types.js';
import { naivePlace } from './testing/naive-placement.js';
import { agent, agentsArb, constraintsArb, node, nodesArb } from './testing/placement-fixtures.js';

const assigned = (r: PlaceResult): Record<string, string> => Object.fromEntries(r.assignments.map((a) => [a.agentId, a.nodeId]));
const agents = (n: number, overrides: Partial<PlacementRequest> = {}): PlacementRequest[] => Array.from({ length: n }, (_, i) => agent(`a-${i}`, overrides));
const countBy = (xs: readonly string[]): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});

describe('place: strategies', () => {
  const three = [node('n1'), node('n2'), node('n3')];

  it('round-robin cycles in node order and resumes from the cursor', () => {
    const first = place({ agents: agents(4), nodes: three, strategy: 'round-robin' });
    expect(first.assignments.map((a) => a.nodeId)).toEqual(['n1', 'n2', 'n3', 'n1']);
    expect(first.cursor).toBe('n1');
    const next = place({ agents: [agent('b-0'), agent('b-1')], nodes: three, strategy: 'round-robin', cursor: first.cursor });
    expect(next.assignments.map((a) => a.nodeId)).toEqual(['n2', 'n3']);
    // A cursor on a node that has since left still resumes after its position.
    expect(place({ agents: [agent('c-0')], nodes: three, strategy: 'round-robin', cursor: 'n15' }).assignments[0]?.nodeId).toBe('n2');
  });

  it('least-loaded combines CPU, memory and agent share', () => {
    const nodes = [
      node('busy-cpu', { used: { cpu: 6, memoryMb: 0, agents: 1 } }),
      node('busy-mem', { used: { cpu: 0, memoryMb: 12_000, agents: 1 } }),
      node('light', { used: { cpu: 1, memoryMb: 1000, agents: 1 } }),
      node('hot', { health: { cpu: 95, memory: 10, disk: 10, load: 1 } }),
    ];
    expect(place({ agents: [agent('a')], nodes, strategy: 'least-loaded' }).assignments).toEqual([{ agentId: 'a', nodeId: 'light' }]);
  });

  it('least-agents fills the emptiest node, ties to higher priority then node id', () => {
    const nodes = [node('n1', { used: { cpu: 0, memoryMb: 0, agents: 2 } }), node('n2', { used: { cpu: 0, memoryMb: 0, agents: 1 } }), node('n3', { used: { cpu: 0, memoryMb: 0, agents: 1 }, priority: 5 })];
    expect(place({ agents: agents(3), nodes, strategy: 'least-agents' }).assignments.map((a) => a.nodeId)).toEqual(['n3', 'n2', 'n3']);
  });

  it('weighted places in proportion to CPU capacity', () => {
    const nodes = [node('small', { capacity: { cpu: 2, memoryMb: 64_000, maxAgents: 100 } }), node('big', { capacity: { cpu: 6, memoryMb: 64_000, maxAgents: 100 } })];
    const r = place({ agents: agents(40, { resources: { cpu: 0.1, memoryMb: 10 } }), nodes, strategy: 'weighted' });
    expect(countBy(r.assignments.map((a) => a.nodeId))).toEqual({ small: 10, big: 30 });
  });

  it('health-based prefers healthy nodes and never uses critical ones', () => {
    const nodes = [
      node('critical', { health: { cpu: 10, memory: 10, disk: 99, load: 0 } }),
      node('warning', { health: { cpu: 85, memory: 70, disk: 10, load: 2 } }),
      node('healthy', { health: { cpu: 5, memory: 5, disk: 5, load: 0 } }),
    ];
    const r = place({ agents: agents(6), nodes, strategy: 'health-based' });
    expect(r.assignments[0]?.nodeId).toBe('healthy');
    expect(r.assignments.some((a) => a.nodeId === 'critical')).toBe(false);
    expect(place({ agents: [agent('x')], nodes: [nodes[0] as NodeSnapshot], strategy: 'health-based' }).unplaced[0]?.reason).toBe('no_healthy_nodes');
  });

  it('random is reproducible for a seed and spreads', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, { capacity: { cpu: 100, memoryMb: 100_000, maxAgents: 100 } }));
    const a = place({ agents: agents(50), nodes, strategy: 'random', seed: 7 });
    expect(place({ agents: agents(50), nodes, strategy: 'random', seed: 7 })).toEqual(a);
    expect(place({ agents: agents(50), nodes, strategy: 'random', seed: 8 })).not.toEqual(a);
    expect(new Set(a.assignments.map((x) => x.nodeId)).size).toBeGreaterThan(5);
  });
});

describe('place: filters', () => {
  it('uses only online nodes', () => {
    const nodes = (['suspect', 'offline', 'draining', 'cordoned', 'deregistered'] as const).map((status) => node(status, { status }));
    expect(place({ agents: [agent('a')], nodes, strategy: 'least-loaded' }).unplaced).toEqual([
      { agentId: 'a', reason: 'no_schedulable_nodes', constraint: 'node_status', message: expect.any(String) },
    ]);
  });

  it('honours required services and labels, with the reason when nothing matches', () => {
    const nodes = [node('plain'), node('gpu-slow', { services: ['gpu'], labels: { tier: 'slow' } }), node('gpu-fast', { services: ['gpu'], labels: { tier: 'fast' } })];
    expect(assigned(place({ agents: [agent('a', { requiredServices: ['gpu'], requiredLabels: { tier: 'fast' } })], nodes, strategy: 'round-robin' }))).toEqual({ a: 'gpu-fast' });
    expect(place({ agents: [agent('b', { requiredServices: ['tpu'] })], nodes, strategy: 'round-robin' }).unplaced[0]?.reason).toBe('missing_services');
    expect(place({ agents: [agent('c', { requiredLabels: { tier: 'ultra' } })], nodes, strategy: 'round-robin' }).unplaced[0]?.reason).toBe('missing_labels');
  });

  it('never exceeds agents, CPU or memory, and says so', () => {
    const nodes = [node('tiny', { capacity: { cpu: 1, memoryMb: 1024, maxAgents: 3 } })];
    const r = place({ agents: agents(4), nodes, strategy: 'least-loaded' });
    expect(r.assignments).toHaveLength(2);
    expect(r.unplaced.map((u) => u.reason)).toEqual(['insufficient_capacity', 'insufficient_capacity']);
  });

  it('uses standby nodes only when no worker node fits', () => {
    const nodes = [node('standby', { role: 'standby' }), node('worker', { capacity: { cpu: 1, memoryMb: 1024, maxAgents: 10 } })];
    const r = place({ agents: agents(3), nodes, strategy: 'least-loaded' });
    expect(r.assignments.map((a) => a.nodeId)).toEqual(['worker', 'worker', 'standby']);
  });

  it('anti-affinity: one agent of a cluster per node, other clusters unaffected', () => {
    const nodes = [node('n1'), node('n2')];
    const r = place({
      agents: [agent('a1'), agent('a2'), agent('a3'), agent('b1', { clusterId: 'cluster-b' })],
      nodes,
      strategy: 'least-agents',
      constraints: { zoneSpread: false, antiAffinity: true },
      existing: [],
    });
    expect(assigned(r)).toEqual({ a1: 'n1', a2: 'n2', b1: 'n1' });
    expect(r.unplaced).toEqual([{ agentId: 'a3', reason: 'anti_affinity', constraint: 'anti_affinity', message: expect.any(String) }]);
  });

  it('zone spread balances a cluster over zones; maxPerZone caps each zone', () => {
    const nodes = ['a', 'b', 'c'].flatMap((z) => [node(`${z}1`, { zone: `zone-${z}` }), node(`${z}2`, { zone: `zone-${z}` })]);
    const spread = place({ agents: agents(7), nodes, strategy: 'least-loaded', constraints: { zoneSpread: true, antiAffinity: false } });
    const zoneOf = (id: string) => `zone-${id[0]}`;
    expect(countBy(spread.assignments.map((a) => zoneOf(a.nodeId)))).toEqual({ 'zone-a': 3, 'zone-b': 2, 'zone-c': 2 });
    const capped = place({ agents: agents(7), nodes, strategy: 'least-loaded', constraints: { zoneSpread: false, antiAffinity: false, maxPerZone: 2 } });
    expect(capped.assignments).toHaveLength(6);
    expect(capped.unplaced[0]?.reason).toBe('zone_limit');
  });

  it('counts existing placements for spread and anti-affinity, and keeps a retried agent where it is', () => {
    const nodes = [node('n1', { zone: 'z1' }), node('n2', { zone: 'z2' })];
    const r = place({
      agents: [agent('old'), agent('new')],
      nodes,
      strategy: 'round-robin',
      constraints: { zoneSpread: false, antiAffinity: true },
      existing: [{ agentId: 'old', clusterId: 'cluster-a', nodeId: 'n1' }],
    });
    expect(assigned(r)).toEqual({ old: 'n1', new: 'n2' });
  });

  it('reports duplicates and refuses a bad strategy', () => {
    expect(place({ agents: [agent('a'), agent('a')], nodes: [node('n')], strategy: 'least-loaded' }).unplaced[0]?.reason).toBe('duplicate_agent');
    expect(() => place({ agents: [], nodes: [], strategy: 'fastest' as PlacementStrategy })).toThrow(ValidationError);
  });
});

describe('a placement refusal names the constraint that binds', () => {
  const small = { resources: { cpu: 0.01, memoryMb: 8 } };
  const refusal = (input: Omit<PlaceInput, 'strategy'>) => place({ strategy: 'least-loaded', ...input }).unplaced[0];

  it('every node at its max_agents with CPU and memory nearly free: agent slots, not "room for 0.01 CPU and 8 MiB"', () => {
    const full = { capacity: { cpu: 16, memoryMb: 32_768, maxAgents: 4 }, used: { cpu: 0.04, memoryMb: 32, agents: 4 } };
    const u = refusal({ agents: [agent('a', small)], nodes: [node('n1', full), node('n2', full), node('n3', full)] });
    expect(u).toMatchObject({ reason: 'insufficient_capacity', constraint: 'agent_slots' });
    expect(u?.message).toContain('max_agents');
    expect(u?.message).toContain('12 of 12 slots taken');
    expect(u?.message).toContain('CPU and memory are not the limit');
    expect(u?.message).not.toMatch(/no matching node has room for/);
  });

  it('CPU, when every node has slots and memory but not the CPU', () => {
    const u = refusal({ agents: [agent('a', { resources: { cpu: 4, memoryMb: 8 } })], nodes: [node('n1', { used: { cpu: 6, memoryMb: 0, agents: 1 } }), node('n2', { used: { cpu: 7.5, memoryMb: 0, agents: 1 } })] });
    expect(u).toMatchObject({ reason: 'insufficient_capacity', constraint: 'cpu' });
    expect(u?.message).toBe('no matching node has 4 CPU free (the most any has is 2)');
  });

  it('memory, when every node has slots and CPU but not the memory', () => {
    const u = refusal({ agents: [agent('a', { resources: { cpu: 0.1, memoryMb: 4096 } })], nodes: [node('n1', { used: { cpu: 0, memoryMb: 14_336, agents: 1 } })] });
    expect(u).toMatchObject({ reason: 'insufficient_capacity', constraint: 'memory' });
    expect(u?.message).toContain('2048 MiB');
  });

  it('a mix: the constraint that rules out the most nodes, with the count for each', () => {
    const nodes = [
      node('slots-1', { capacity: { cpu: 8, memoryMb: 16_384, maxAgents: 1 }, used: { cpu: 0, memoryMb: 0, agents: 1 } }),
      node('slots-2', { capacity: { cpu: 8, memoryMb: 16_384, maxAgents: 1 }, used: { cpu: 0, memoryMb: 0, agents: 1 } }),
      node('cpu', { used: { cpu: 8, memoryMb: 0, agents: 1 } }),
    ];
    const u = refusal({ agents: [agent('a')], nodes });
    expect(u).toMatchObject({ reason: 'insufficient_capacity', constraint: 'agent_slots' });
    expect(u?.message).toContain('of 3 matching nodes, 2 at their max_agents, 1 short of CPU');
  });

  it('node status, with how many nodes are in which state', () => {
    const u = refusal({ agents: [agent('a')], nodes: [node('d1', { status: 'draining' }), node('d2', { status: 'draining' }), node('o', { status: 'offline' })] });
    expect(u).toMatchObject({ reason: 'no_schedulable_nodes', constraint: 'node_status' });
    expect(u?.message).toContain('2 draining, 1 offline');
    expect(refusal({ agents: [agent('a')], nodes: [] })).toMatchObject({ constraint: 'node_status', message: 'no node is registered' });
  });

  it('required services and labels, health, zone spread and anti-affinity', () => {
    expect(refusal({ agents: [agent('a', { requiredServices: ['gpu'] })], nodes: [node('n')] })?.constraint).toBe('services');
    expect(refusal({ agents: [agent('a', { requiredLabels: { tier: 'fast' } })], nodes: [node('n')] })?.constraint).toBe('labels');
    expect(place({ agents: [agent('a')], nodes: [node('hot', { health: { cpu: 10, memory: 10, disk: 99, load: 0 } })], strategy: 'health-based' }).unplaced[0]?.constraint).toBe('health');
    const zoned = refusal({ agents: [agent('a'), agent('b')], nodes: [node('n1'), node('n2')], constraints: { zoneSpread: true, antiAffinity: false, maxPerZone: 1 } });
    expect(zoned).toMatchObject({ reason: 'zone_limit', constraint: 'zone_spread' });
    const apart = refusal({ agents: [agent('a'), agent('b')], nodes: [node('n1')], constraints: { zoneSpread: false, antiAffinity: true } });
    expect(apart).toMatchObject({ reason: 'anti_affinity', constraint: 'anti_affinity' });
  });
});

/** Replays assignments over the snapshot and checks every hard constraint. */
function checkInvariants(input: PlaceInput, result: PlaceResult): void {
  const nodes = new Map(input.nodes.map((n) => [n.nodeId, { ...n, used: { ...n.used } }]));
  const byAgent = new Map(input.agents.map((a) => [a.agentId, a]));
  const perClusterNode = new Set<string>();
  const perClusterZone = new Map<string, number>();
  expect(result.assignments.length + result.unplaced.length).toBe(input.agents.length);
  for (const a of result.assignments) {
    const n = nodes.get(a.nodeId) as NodeSnapshot & { used: { cpu: number; memoryMb: number; agents: number } };
    const req = byAgent.get(a.agentId) as PlacementRequest;
    expect(n.status).toBe('online');
    n.used.cpu += req.resources.cpu;
    n.used.memoryMb += req.resources.memoryMb;
    n.used.agents += 1;
    expect(n.used.agents).toBeLessThanOrEqual(n.capacity.maxAgents);
    expect(n.used.cpu).toBeLessThanOrEqual(n.capacity.cpu + 1e-9);
    expect(n.used.memoryMb).toBeLessThanOrEqual(n.capacity.memoryMb + 1e-9);
    for (const s of req.requiredServices ?? []) expect(n.services).toContain(s);
    for (const [k, v] of Object.entries(req.requiredLabels ?? {})) expect(n.labels[k]).toBe(v);
    const key = `${req.clusterId}@${n.nodeId}`;
    if (input.constraints?.antiAffinity) expect(perClusterNode.has(key)).toBe(false);
    perClusterNode.add(key);
    const zoneKey = `${req.clusterId}@${n.zone}`;
    perClusterZone.set(zoneKey, (perClusterZone.get(zoneKey) ?? 0) + 1);
    if (input.constraints?.maxPerZone) expect(perClusterZone.get(zoneKey)).toBeLessThanOrEqual(input.constraints.maxPerZone);
    if (input.strategy === 'health-based') expect(n.health.disk < 95 && n.health.cpu < 95 && n.health.memory < 95).toBe(true);
  }
}

const inputArb = fc.record({
  nodes: nodesArb,
  agents: agentsArb,
  strategy: fc.constantFrom(...PLACEMENT_STRATEGIES),
  constraints: constraintsArb,
  seed: fc.integer(),
});

describe('place (properties)', () => {
  it('never over capacity, never on a node that is not online, constraints honoured', () => {
    fc.assert(fc.property(inputArb, (input) => checkInvariants(input, place(input))), { numRuns: 300 });
  });

  it('same input and seed, same result', () => {
    fc.assert(fc.property(inputArb, (input) => expect(place(input)).toEqual(place(input))), { numRuns: 100 });
  });

  it('equals the O(agents × nodes) reference for every deterministic strategy', () => {
    const deterministic = fc.record({
      nodes: nodesArb,
      agents: agentsArb,
      strategy: fc.constantFrom<PlacementStrategy>('round-robin', 'least-loaded', 'least-agents', 'weighted', 'health-based'),
      constraints: constraintsArb,
      cursor: fc.option(fc.constantFrom('node-03', 'node-10', 'zzz'), { nil: undefined }),
    });
    fc.assert(fc.property(deterministic, (input) => expect(place(input)).toEqual(naivePlace(input))), { numRuns: 300 });
  });

  it('zone spread keeps each cluster balanced (max − min ≤ 1) when capacity is ample', () => {
    const ample = fc.record({
      zones: fc.integer({ min: 1, max: 5 }),
      perZone: fc.integer({ min: 1, max: 4 }),
      agents: fc.array(fc.constantFrom('c1', 'c2'), { maxLength: 40 }),
      strategy: fc.constantFrom(...PLACEMENT_STRATEGIES),
    });
    fc.assert(
      fc.property(ample, ({ zones, perZone, agents: clusters, strategy }) => {
        const nodes = Array.from({ length: zones * perZone }, (_, i) => node(`n${String(i).padStart(2, '0')}`, { zone: `z${i % zones}`, capacity: { cpu: 100, memoryMb: 100_000, maxAgents: 100 } }));
        const reqs = clusters.map((c, i) => agent(`a${i}`, { clusterId: c }));
        const r = place({ agents: reqs, nodes, strategy, constraints: { zoneSpread: true, antiAffinity: false } });
        expect(r.unplaced).toEqual([]);
        const zoneOfNode = new Map(nodes.map((n) => [n.nodeId, n.zone]));
        for (const c of ['c1', 'c2']) {
          const counts = Array.from({ length: zones }, (_, z) => r.assignments.filter((a) => clusters[Number(a.agentId.slice(1))] === c && zoneOfNode.get(a.nodeId) === `z${z}`).length);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 100 },
    );
  });
});
