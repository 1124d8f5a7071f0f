import { describe, expect, it } from '@jest/globals';
import { DirectoryDriver, placeRequest } from '../testing/directory-fixtures.js';
import { decideGroup, groupKey, planGroup, type PlannerState } from './placement-planner.js';

const planner = (): PlannerState => ({ cursor: null, seed: 1 });

describe('planGroup', () => {
  it('places new agents with the strategy and reserves their capacity before returning', () => {
    const d = new DirectoryDriver();
    for (const id of ['node-1', 'node-2', 'node-3']) d.register(id);
    const [plan] = planGroup(
      [placeRequest('cluster-a', ['agent-1', 'agent-2', 'agent-3'])],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(plan!.placed.map((p) => p.nodeId).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect([...d.directory.entries()].map((e) => e.reserved.size)).toEqual([1, 1, 1]);
  });

  it('decideGroup (a dry run) answers what planGroup then does, and reserves and advances nothing', () => {
    for (const strategy of ['round-robin', 'random', 'least-agents'] as const) {
      const d = new DirectoryDriver();
      for (const id of ['node-1', 'node-2', 'node-3']) d.register(id);
      d.assign('node-2', 'agent-0');
      const state: PlannerState = { cursor: 'node-1', seed: 7 };
      const request = placeRequest('cluster-a', ['agent-1', 'agent-2', 'agent-3', 'agent-4']);
      const dry = decideGroup([request], strategy, d.directory, state).plans[0]!;
      expect(state).toEqual({ cursor: 'node-1', seed: 7 });
      expect([...d.directory.entries()].map((e) => e.reserved.size)).toEqual([0, 0, 0]);
      const [real] = planGroup([request], strategy, d.directory, state);
      expect(dry.placed.map((p) => [p.agent.agent_id, p.nodeId])).toEqual(real!.placed.map((p) => [p.agent.agent_id, p.nodeId]));
      expect(dry.placed).toHaveLength(4);
    }
  });

  it('never gives two requests in one group the same last slot', () => {
    const d = new DirectoryDriver();
    d.register('node-1', { maxAgents: 3 });
    d.assign('node-1', 'agent-0');
    const plans = planGroup(
      [
        placeRequest('cluster-x', ['agent-x1', 'agent-x2']),
        placeRequest('cluster-y', ['agent-y1', 'agent-y2']),
      ],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(plans.flatMap((p) => p.placed)).toHaveLength(2);
    expect(plans.flatMap((p) => p.unplaced.map((u) => u.reason.split(':')[0]))).toEqual([
      'insufficient_capacity',
      'insufficient_capacity',
    ]);
  });

  it('sees the previous group’s reservations (serialised decisions)', () => {
    const d = new DirectoryDriver();
    d.register('node-1', { maxAgents: 1 });
    const state = planner();
    const [first] = planGroup(
      [placeRequest('cluster-x', ['agent-1'])],
      'least-loaded',
      d.directory,
      state,
    );
    const [second] = planGroup(
      [placeRequest('cluster-y', ['agent-2'])],
      'least-loaded',
      d.directory,
      state,
    );
    expect(first!.placed).toHaveLength(1);
    expect(second!.placed).toHaveLength(0);
    expect(second!.unplaced[0]!.reason).toMatch(/^insufficient_capacity/);
  });

  it('a refusal with every node at its max_agents says agent slots bind, not CPU or memory', () => {
    const d = new DirectoryDriver();
    d.register('node-1', { maxAgents: 1 });
    d.assign('node-1', 'agent-0');
    const [plan] = planGroup([placeRequest('cluster-x', ['agent-1'])], 'least-loaded', d.directory, planner());
    expect(plan!.unplaced[0]!.reason).toMatch(/^insufficient_capacity: no matching node has a free agent slot: the one matching node is at its max_agents \(1 of 1 slots taken\)/);
  });

  it('returns held agents as they are (idempotent by agent id)', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.register('node-2');
    d.assign('node-2', 'agent-1');
    const [plan] = planGroup(
      [placeRequest('cluster-a', ['agent-1'])],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(plan).toMatchObject({
      held: [{ agentId: 'agent-1', nodeId: 'node-2', previous: null, releaseFrom: null }],
      placed: [],
    });
  });

  it('moves off the source node only, keeping or releasing the source as asked', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.register('node-2', { maxAgents: 1 });
    d.assign('node-1', 'agent-1');
    const [keep] = planGroup(
      [placeRequest('cluster-a', ['agent-1'], { move_from: 'node-1', keep_source: true })],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(keep!.placed).toMatchObject([
      { nodeId: 'node-2', previous: 'node-1', releaseFrom: null },
    ]);
    // Asked again while the move is in flight: the agent is held by node-2 now.
    const [repeat] = planGroup(
      [placeRequest('cluster-a', ['agent-1'], { move_from: 'node-1', keep_source: false })],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(repeat).toMatchObject({
      held: [{ agentId: 'agent-1', nodeId: 'node-2', previous: 'node-1', releaseFrom: 'node-1' }],
      placed: [],
    });
  });

  it('reports a move with nowhere to go as unplaced rather than landing on the source', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.assign('node-1', 'agent-1');
    const [plan] = planGroup(
      [placeRequest('cluster-a', ['agent-1'], { move_from: 'node-1' })],
      'least-agents',
      d.directory,
      planner(),
    );
    expect(plan!.placed).toEqual([]);
    expect(plan!.unplaced[0]!.reason).toMatch(/^no_schedulable_nodes/);
  });

  it('continues round-robin where the previous call stopped', () => {
    const d = new DirectoryDriver();
    for (const id of ['node-1', 'node-2', 'node-3']) d.register(id);
    const state = planner();
    const [a] = planGroup(
      [placeRequest('cluster-a', ['agent-1', 'agent-2'])],
      'round-robin',
      d.directory,
      state,
    );
    const [b] = planGroup(
      [placeRequest('cluster-b', ['agent-3'])],
      'round-robin',
      d.directory,
      state,
    );
    expect([...a!.placed, ...b!.placed].map((p) => p.nodeId)).toEqual([
      'node-1',
      'node-2',
      'node-3',
    ]);
  });

  it('groups only requests that can share one place() call', () => {
    const base = placeRequest('cluster-a', ['agent-1']);
    expect(groupKey(base, 'random')).toBe(
      groupKey(placeRequest('cluster-b', ['agent-2']), 'random'),
    );
    expect(groupKey(base, 'random')).not.toBe(groupKey(base, 'weighted'));
    expect(groupKey(base, 'random')).not.toBe(groupKey({ ...base, move_from: 'node-1' }, 'random'));
    expect(groupKey(base, 'random')).not.toBe(
      groupKey({ ...base, constraints: { ...base.constraints, anti_affinity: true } }, 'random'),
    );
  });
});
