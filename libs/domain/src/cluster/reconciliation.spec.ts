import { describe, expect, it } from '@jest/globals';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import type { ResolvedBlueprint } from '../blueprint/blueprint.types.js';
import { fold } from '../decider.js';
import { smallBlueprint } from '../testing/blueprints.js';
import { clusterDecider } from './cluster.decider.js';
import type { ClusterEvent } from './cluster.events.js';
import { planReconciliation, type ReconcileAction, type ReconcileLimits, type ReconcileMemory } from './reconciliation.js';

// Given: literal events (what the log holds), folded with evolve only: the planner is what is
// tested, never the decider. When: the plan at a time, with node statuses. Then: the actions.
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const LIMITS: ReconcileLimits = { stopTimeoutMs: 15_000, startTimeoutMs: 60_000, spawnTimeoutMs: 120_000 };

const blueprint: ResolvedBlueprint = resolveBlueprint(smallBlueprint({ targetWorkers: 1, maxWorkers: 3 }));
const spec = (name: string) => blueprint.agents.find((a) => a.name === name)!;

function created(): ClusterEvent {
  return {
    type: 'ClusterCreated',
    data: {
      at: at(0),
      clusterId: 'c1',
      tenantId: 'acme',
      name: 'C1',
      description: '',
      type: 'team',
      blueprintId: 'small-v1',
      blueprintVersion: '1.0.0',
      blueprintHash: 'h',
      blueprint,
      minWorkers: 1,
      targetWorkers: 1,
      maxWorkers: 3,
      policy: blueprint.cluster.scaling,
      backupCluster: null,
      keepFixedAgents: true,
    },
  };
}
function spawned(agentId: string, name: string, ordinal = 0): ClusterEvent {
  const a = spec(name);
  return {
    type: 'AgentSpawned',
    data: { at: at(0), agentId, name, role: a.role, ordinal, capabilities: [...a.capabilities], runtime: a.runtime, reportsTo: a.reportsTo, specHash: 'h', resources: a.resources },
  };
}
const placed = (agentId: string, nodeId: string, ms = 0): ClusterEvent => ({ type: 'AgentPlaced', data: { at: at(ms), agentId, nodeId } });
const started = (agentId: string, nodeId: string, ms = 0): ClusterEvent => ({ type: 'AgentStarted', data: { at: at(ms), agentId, nodeId } });
const stopRequested = (agentId: string, nodeId: string, ms = 0): ClusterEvent => ({ type: 'AgentStopRequested', data: { at: at(ms), agentId, nodeId, reason: 'scaled down' } });

/** Every desired agent of the small blueprint (boss, lead, expert, one worker), running on n1. */
const running: ClusterEvent[] = [
  created(),
  { type: 'ClusterSpawningStarted', data: { at: at(0), desiredAgents: 4 } },
  ...[
    ['a-boss', 'boss'],
    ['a-lead', 'lead'],
    ['a-expert', 'expert'],
    ['a-w0', 'worker'],
  ].flatMap(([id, name]) => [spawned(id!, name!), placed(id!, 'n1'), started(id!, 'n1')]),
  { type: 'ClusterActivated', data: { at: at(0), agents: 4, workers: 1 } },
];

const summary = (actions: readonly ReconcileAction[]): string[] =>
  actions.map((a) => {
    switch (a.kind) {
      case 'spawn':
        return `spawn ${a.agents.map((d) => `${d.name}#${d.ordinal}`).join(',')}`;
      case 'place':
        return `place ${a.agents.map((x) => x.agentId).join(',')}`;
      case 'replace':
        return `replace ${a.agents.map((x) => x.agentId).join(',')} from ${a.fromNodeId}`;
      case 'orphan':
        return `orphan ${a.agentId} on ${a.nodeId}`;
      case 'drain':
        return `drain ${a.agent.agentId} from ${a.fromNodeId}`;
      case 'release':
        return `release ${a.agentIds.join(',')}`;
      case 'stopped':
        return `stopped ${a.agentId}: ${a.reason}`;
      case 'fail':
        return `fail ${a.agentId}: ${a.reason}${a.release ? ' (release)' : ''}`;
      case 'degrade':
        return `degrade: ${a.reason}`;
      case 'wave':
        return `wave ${a.wave}: ${a.agents.map((d) => `${d.name}#${d.ordinal}`).join(',')}`;
    }
  });

interface Case {
  readonly name: string;
  readonly given: readonly ClusterEvent[];
  readonly nodes?: Record<string, string>;
  readonly now?: number;
  readonly memory?: ReconcileMemory;
  readonly then: readonly string[];
}

const cases: readonly Case[] = [
  { name: 'a new cluster: spawn every desired agent', given: [created()], then: ['spawn boss#0,lead#0,expert#0,worker#0'] },
  {
    name: 'spawned agents: place the pending ones',
    given: [created(), spawned('a-boss', 'boss'), spawned('a-w0', 'worker')],
    then: ['spawn lead#0,expert#0', 'place a-boss,a-w0'],
  },
  { name: 'everything running on an online node: nothing to do', given: running, nodes: { n1: 'online' }, then: [] },
  { name: 'a suspect node is not gone yet: nothing to do', given: running, nodes: { n1: 'suspect' }, then: [] },
  {
    name: 'its node went offline: orphan every agent on it',
    given: running,
    nodes: { n1: 'offline' },
    then: ['orphan a-boss on n1', 'orphan a-lead on n1', 'orphan a-expert on n1', 'orphan a-w0 on n1'],
  },
  {
    name: 'orphans: replace them elsewhere, grouped by the node they left',
    given: [...running, { type: 'AgentOrphaned', data: { at: at(1000), agentId: 'a-w0', nodeId: 'n1' } }],
    nodes: { n1: 'offline' },
    then: ['orphan a-boss on n1', 'orphan a-lead on n1', 'orphan a-expert on n1', 'replace a-w0 from n1'],
  },
  {
    name: 'a draining node: start a replacement of each running agent elsewhere first',
    given: running,
    nodes: { n1: 'draining' },
    then: ['drain a-boss from n1', 'drain a-lead from n1', 'drain a-expert from n1', 'drain a-w0 from n1'],
  },
  {
    name: 'a stop requested on a live node: ask the registry to release it, and wait',
    given: [...running, stopRequested('a-w0', 'n1', 1000)],
    nodes: { n1: 'online' },
    now: T0 + 5000,
    then: ['release a-w0'],
  },
  {
    name: 'a stop nobody confirmed within the timeout: record it stopped',
    given: [...running, stopRequested('a-w0', 'n1', 1000)],
    nodes: { n1: 'online' },
    now: T0 + 17_000,
    then: ['release a-w0', 'stopped a-w0: no stop confirmation within 15 s'],
  },
  {
    name: 'a stop on a node that is gone: record it stopped at once (not orphaned and moved)',
    given: [...running, stopRequested('a-w0', 'n1', 1000)],
    nodes: { n1: 'deregistered' },
    now: T0 + 2000,
    then: ['orphan a-boss on n1', 'orphan a-lead on n1', 'orphan a-expert on n1', 'release a-w0', 'stopped a-w0: its node is gone'],
  },
  {
    name: 'an agent placed but not started within the timeout: fail it and release it',
    given: [created(), spawned('a-boss', 'boss'), placed('a-boss', 'n1', 0)],
    nodes: { n1: 'online' },
    now: T0 + 61_000,
    then: ['spawn lead#0,expert#0,worker#0', 'fail a-boss: did not start within 60 s (release)'],
  },
  {
    name: 'spawning too long: degrade with what is waiting and why',
    given: [created(), { type: 'ClusterSpawningStarted', data: { at: at(0), desiredAgents: 4 } }, spawned('a-boss', 'boss'), spawned('a-w0', 'worker')],
    memory: { spawningSince: T0, unplacedReason: '2 cannot be placed: no node has room' },
    now: T0 + 121_000,
    then: ['spawn lead#0,expert#0', 'place a-boss,a-w0', 'degrade: not active after 120 s: 2 pending (2 cannot be placed: no node has room)'],
  },
  {
    name: 'spawning, but not for long yet: no degrade',
    given: [created(), { type: 'ClusterSpawningStarted', data: { at: at(0), desiredAgents: 4 } }, spawned('a-boss', 'boss')],
    memory: { spawningSince: T0 },
    now: T0 + 30_000,
    then: ['spawn lead#0,expert#0,worker#0', 'place a-boss'],
  },
  {
    name: 'a decommissioned cluster: nothing, ever',
    given: [...running, { type: 'ClusterDecommissionStarted', data: { at: at(1000), reason: 'done' } }, { type: 'ClusterDecommissioned', data: { at: at(2000) } }],
    nodes: { n1: 'offline' },
    then: [],
  },
];

describe('planReconciliation', () => {
  it.each(cases)('$name', ({ given, nodes = {}, now = T0, memory = {}, then }) => {
    const state = fold(clusterDecider, given);
    expect(summary(planReconciliation(state, new Map(Object.entries(nodes)), now, LIMITS, memory))).toEqual(then);
  });

  it('plans nothing for a cluster that does not exist', () => {
    expect(planReconciliation(clusterDecider.initialState(), new Map(), T0, LIMITS)).toEqual([]);
  });
});
