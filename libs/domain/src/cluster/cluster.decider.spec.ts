import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import { fold } from '../decider.js';
import { AlreadyExistsError, FlotillaError, NotFoundError, RuleViolationError, ValidationError } from '../errors.js';
import { isPlainJson } from '../json.js';
import { smallBlueprint } from '../testing/blueprints.js';
import { deciderSpec } from '../testing/decider-spec.js';
import type { ClusterCommand } from './cluster.commands.js';
import { clusterDecider } from './cluster.decider.js';
import { manualScalePause } from './cluster.queries.js';
import type { ClusterEvent } from './cluster.events.js';
import { desiredAgents, extraAgents, isLive, slotKey } from './cluster.queries.js';
import type { ClusterState, ExistingCluster } from './cluster.state.js';
import { type ClusterEventBuilders, clusterEvents } from './testing/cluster-events.js';

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);
const t = (minutes = 0): string => new Date(T0 + minutes * 60_000).toISOString();
const NOW = t(0);

type Data<K extends ClusterCommand['type']> = Extract<ClusterCommand, { type: K }>['data'];
const cmd = <K extends ClusterCommand['type']>(type: K, data: Data<K>, now = NOW): ClusterCommand =>
  ({ type, data, metadata: { now } }) as ClusterCommand;

const blueprint = resolveBlueprint(smallBlueprint());
const bpNoFixed = resolveBlueprint(smallBlueprint({ keepFixedAgents: false }));
const spec = deciderSpec(clusterDecider);

/**
 * Decides commands one after the other and returns the history with every event they emitted: the
 * `when` of a test that drives several commands. Never a `given`: those are literal events below.
 */
function decideAll(commands: readonly ClusterCommand[], from: readonly ClusterEvent[] = []): ClusterEvent[] {
  const events = [...from];
  for (const command of commands) events.push(...clusterDecider.decide(command, fold(clusterDecider, events)));
  return events;
}
const stateOf = (events: readonly ClusterEvent[]): ClusterState => fold(clusterDecider, events);

const create = (data: Partial<Data<'CreateCluster'>> = {}) =>
  cmd('CreateCluster', { clusterId: 'cluster-test-001', tenantId: 'acme', name: 'Test cluster', blueprint, ...data });
const FIXED = [
  { agentId: 'a-boss', name: 'boss', ordinal: 0 },
  { agentId: 'a-lead', name: 'lead', ordinal: 0 },
  { agentId: 'a-expert', name: 'expert', ordinal: 0 },
];
const worker = (ordinal: number) => ({ agentId: `a-w${ordinal}`, name: 'worker', ordinal });
const spawn = (...agents: { agentId: string; name: string; ordinal: number }[]) => cmd('SpawnAgents', { agents });
const placed = (agentId: string, nodeId = 'node-1') => cmd('RecordAgentPlaced', { agentId, nodeId });
const started = (agentId: string, nodeId = 'node-1') => cmd('RecordAgentStarted', { agentId, nodeId });
const bringUp = (...ids: string[]) => ids.flatMap((id) => [placed(id), started(id)]);
const ALL = ['a-boss', 'a-lead', 'a-expert', 'a-w0', 'a-w1'];

// The givens: literal events, written out rather than decided, so a bug in `decide` cannot
// write the history its own tests start from.
const ev = clusterEvents({ at: NOW, blueprint });
/** What `create()` records for the small blueprint (its identity, policy and snapshot added by the builder). */
const CREATED = {
  clusterId: 'cluster-test-001',
  tenantId: 'acme',
  name: 'Test cluster',
  description: '',
  type: 'team',
  minWorkers: 1,
  targetWorkers: 2,
  maxWorkers: 5,
  backupCluster: null,
  keepFixedAgents: true,
} as const;
const spawnedFixed = (b: ClusterEventBuilders): ClusterEvent[] => [b.spawned('a-boss', 'boss', 0), b.spawned('a-lead', 'lead', 0), b.spawned('a-expert', 'expert', 0)];
/** Placed on node-1, then started there, one agent after the other. */
const up = (...ids: string[]): ClusterEvent[] => ids.flatMap((id) => [ev.placed(id), ev.started(id)]);
const orphanedW0 = [ev.orphaned('a-w0'), ev.degraded("agent worker#0 orphaned: node 'node-1' is offline")];

const createdH: ClusterEvent[] = [ev.created(CREATED)];
const spawnedH: ClusterEvent[] = [...createdH, ev.spawningStarted(5), ...spawnedFixed(ev), ev.spawned('a-w0', 'worker', 0), ev.spawned('a-w1', 'worker', 1)];
const activeH: ClusterEvent[] = [...spawnedH, ...up(...ALL), ev.activated(5, 2)];
const hibernatingH: ClusterEvent[] = [
  ...activeH,
  ev.hibernationStarted(2, true, 'hibernation requested'),
  ev.stopRequested('a-w1', 'cluster hibernating'),
  ev.stopRequested('a-w0', 'cluster hibernating'),
];
const hibernatedH: ClusterEvent[] = [...hibernatingH, ev.stopped('a-w0', 'cluster hibernating'), ev.stopped('a-w1', 'cluster hibernating'), ev.hibernated()];
const decommissioningH: ClusterEvent[] = [
  ...activeH,
  ev.decommissionStarted('decommission requested'),
  ...['a-w1', 'a-w0', 'a-expert', 'a-lead', 'a-boss'].map((id) => ev.stopRequested(id, 'cluster decommissioning')),
];
const decommissionedH: ClusterEvent[] = [...decommissioningH, ...ALL.map((id) => ev.stopped(id, 'cluster decommissioning')), ev.decommissioned()];
const degradedH: ClusterEvent[] = [...activeH, ev.failed('a-w1', 'crashed'), ev.degraded('agent worker#1 failed: crashed')];

describe('Cluster decider', () => {
  it('walks the fixture histories through the status machine', () => {
    expect(stateOf(createdH).status).toBe('planning');
    expect(stateOf(spawnedH).status).toBe('spawning');
    expect(stateOf(activeH).status).toBe('active');
    expect(stateOf(hibernatingH).status).toBe('hibernating');
    expect(stateOf(hibernatedH).status).toBe('hibernated');
    expect(stateOf(decommissioningH).status).toBe('decommissioning');
    expect(stateOf(decommissionedH).status).toBe('decommissioned');
    expect(stateOf(degradedH).status).toBe('degraded');
    for (const e of decommissionedH) expect(isPlainJson(e.data)).toBe(true);
  });

  describe('CreateCluster', () => {
    it('creates a planning cluster from a resolved blueprint', () =>
      spec
        .given([])
        .when(create({ description: 'for tests' }))
        .then([
          {
            type: 'ClusterCreated',
            data: {
              clusterId: 'cluster-test-001',
              tenantId: 'acme',
              name: 'Test cluster',
              description: 'for tests',
              type: 'team',
              blueprintId: 'small-v1',
              blueprintVersion: '1.0.0',
              blueprintHash: blueprint.hash,
              blueprint,
              minWorkers: 1,
              targetWorkers: 2,
              maxWorkers: 5,
              policy: blueprint.cluster.scaling,
              backupCluster: null,
              keepFixedAgents: true,
              at: NOW,
            },
          },
        ]));
    it('takes a type and target override', () => {
      const [e] = spec.given([]).when(create({ type: 'research', targetWorkers: 4 })).events();
      expect(e?.data).toMatchObject({ type: 'research', targetWorkers: 4 });
    });
    it('refuses a second create', () => spec.given(createdH).when(create()).thenThrows(AlreadyExistsError));
    it('refuses a bad cluster id', () => spec.given([]).when(create({ clusterId: 'Cluster 1' })).thenThrows(ValidationError));
    it('refuses a target above max', () => spec.given([]).when(create({ targetWorkers: 6 })).thenThrows(RuleViolationError, 'target_above_max'));
    it('refuses a target below min', () => spec.given([]).when(create({ targetWorkers: 0 })).thenThrows(RuleViolationError, 'target_below_min'));
    it('refuses something that is not a resolved blueprint', () =>
      spec.given([]).when(create({ blueprint: { blueprintId: 'x' } as never })).thenThrows(ValidationError));
  });

  describe('SpawnAgents', () => {
    it('starts spawning from planning, with specs from the blueprint snapshot', () =>
      spec
        .given(createdH)
        .when(spawn(FIXED[0]!))
        .then([{ type: 'ClusterSpawningStarted', data: { desiredAgents: 5, at: NOW } }, ev.spawned('a-boss', 'boss', 0)]));
    it('is idempotent for a retried spawn', () => spec.given(spawnedH).when(spawn(FIXED[0]!, worker(1))).then([]));
    it('refuses an id already used for another slot', () =>
      spec.given(spawnedH).when(spawn({ agentId: 'a-boss', name: 'lead', ordinal: 0 })).thenThrows(RuleViolationError, 'agent_id_conflict'));
    it('refuses a slot beyond the target', () => spec.given(spawnedH).when(spawn(worker(2))).thenThrows(RuleViolationError, 'agent_not_desired'));
    it('refuses an agent the blueprint does not define', () =>
      spec.given(createdH).when(spawn({ agentId: 'a-x', name: 'intern', ordinal: 0 })).thenThrows(RuleViolationError, 'agent_not_desired'));
    it('refuses a slot held by a live agent', () =>
      spec.given(spawnedH).when(spawn({ agentId: 'a-boss-2', name: 'boss', ordinal: 0 })).thenThrows(RuleViolationError, 'agent_slot_occupied'));
    it('refuses the same slot twice in one command', () =>
      spec
        .given(createdH)
        .when(spawn({ agentId: 'a-1', name: 'boss', ordinal: 0 }, { agentId: 'a-2', name: 'boss', ordinal: 0 }))
        .thenThrows(RuleViolationError, 'agent_slot_occupied'));
    it('replaces a failed agent in its slot', () =>
      spec.given(degradedH).when(spawn({ agentId: 'a-w1-b', name: 'worker', ordinal: 1 })).then([ev.spawned('a-w1-b', 'worker', 1)]));
    it('refuses bad ids with their path', () => spec.given(createdH).when(spawn({ agentId: 'A W', name: 'boss', ordinal: 0 })).thenThrows(ValidationError));
    it('refuses an unknown cluster', () => spec.given([]).when(spawn(FIXED[0]!)).thenThrows(NotFoundError));
    it('refuses a decommissioning cluster', () => spec.given(decommissioningH).when(spawn(worker(0))).thenThrows(RuleViolationError, 'cluster_decommissioning'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(spawn(worker(0))).thenThrows(RuleViolationError, 'cluster_decommissioned'));
    it('spawns no workers for a hibernated cluster', () =>
      spec.given(hibernatedH).when(spawn({ agentId: 'a-w0-b', name: 'worker', ordinal: 0 })).thenThrows(RuleViolationError, 'agent_not_desired'));
  });

  describe('RecordAgentPlaced', () => {
    it('records a placement', () => spec.given(spawnedH).when(placed('a-w0', 'node-7')).then([{ type: 'AgentPlaced', data: { agentId: 'a-w0', nodeId: 'node-7', at: NOW } }]));
    it('is idempotent', () => spec.given([...spawnedH, ev.placed('a-w0')]).when(placed('a-w0')).then([]));
    it('refuses a second node', () => spec.given([...spawnedH, ev.placed('a-w0')]).when(placed('a-w0', 'node-2')).thenThrows(RuleViolationError, 'agent_already_placed'));
    it('refuses an unknown agent', () => spec.given(spawnedH).when(placed('a-ghost')).thenThrows(RuleViolationError, 'agent_unknown'));
    it('refuses a stopping agent', () =>
      spec
        .given([
          ...activeH,
          ev.scalingStarted(2, 3, 'r', 'manual'),
          ev.spawned('a-w2', 'worker', 2),
          ev.scalingStarted(3, 2, 'back', 'manual'),
          ev.stopRequested('a-w2', 'scale down from 3 to 2 workers', null),
        ])
        .when(placed('a-w2'))
        .thenThrows(RuleViolationError, 'agent_stopping'));
    it('refuses a stopped agent', () => spec.given(decommissionedH).when(placed('a-w0', 'node-9')).thenThrows(RuleViolationError, 'agent_stopped'));
    it('refuses a failed agent', () => spec.given(degradedH).when(placed('a-w1', 'node-9')).thenThrows(RuleViolationError, 'agent_not_pending'));
    it('refuses a bad node id', () => spec.given(spawnedH).when(placed('a-w0', 'Node 1')).thenThrows(ValidationError));
  });

  describe('RecordAgentStarted', () => {
    const almost = [...spawnedH, ...up('a-boss', 'a-lead', 'a-expert', 'a-w0'), ev.placed('a-w1')];
    it('records a start', () => spec.given([...spawnedH, ev.placed('a-boss')]).when(started('a-boss')).then([{ type: 'AgentStarted', data: { agentId: 'a-boss', nodeId: 'node-1', at: NOW } }]));
    it('activates the cluster when the last desired agent starts', () =>
      spec
        .given(almost)
        .when(started('a-w1'))
        .then([
          { type: 'AgentStarted', data: { agentId: 'a-w1', nodeId: 'node-1', at: NOW } },
          { type: 'ClusterActivated', data: { agents: 5, workers: 2, at: NOW } },
        ]));
    it('is idempotent', () => spec.given(activeH).when(started('a-w1')).then([]));
    it('adopts the node of a pending agent (placement not recorded yet)', () =>
      spec.given(spawnedH).when(started('a-w0', 'node-3')).then([{ type: 'AgentStarted', data: { agentId: 'a-w0', nodeId: 'node-3', at: NOW } }]));
    it('refuses another node than the placement', () => spec.given(activeH).when(started('a-w1', 'node-2')).thenThrows(RuleViolationError, 'agent_node_mismatch'));
    it('refuses a stopping agent', () => spec.given(hibernatingH).when(started('a-w0')).thenThrows(RuleViolationError, 'agent_stopping'));
    it('refuses a stopped agent', () => spec.given(hibernatedH).when(started('a-w0')).thenThrows(RuleViolationError, 'agent_stopped'));
    it('refuses a failed agent whose slot was refilled', () =>
      spec.given([...degradedH, ev.spawned('a-w1-b', 'worker', 1)]).when(started('a-w1')).thenThrows(RuleViolationError, 'agent_superseded'));
    it('recovers a degraded cluster when the failed agent comes back', () =>
      spec.given(degradedH).when(started('a-w1')).thenTypes(['AgentStarted', 'ClusterRecovered']));
    it('completes a scale-up', () => {
      const scaling = [...activeH, ev.scalingStarted(2, 3, 'load', 'autoscaler'), ev.spawned('a-w2', 'worker', 2), ev.placed('a-w2')];
      spec.given(scaling).when(started('a-w2')).then([
        { type: 'AgentStarted', data: { agentId: 'a-w2', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterScaled', data: { from: 2, to: 3, direction: 'up', at: NOW } },
      ]);
    });
    it('completes a reactivation', () => {
      const reactivating = [
        ...hibernatedH,
        ev.reactivationStarted(2, 'reactivation requested'),
        ev.spawned('a-w0-b', 'worker', 0),
        ev.spawned('a-w1-b', 'worker', 1),
        ...up('a-w0-b'),
        ev.placed('a-w1-b'),
      ];
      spec.given(reactivating).when(started('a-w1-b')).thenTypes(['AgentStarted', 'ClusterReactivated']);
    });
    it('restarts an orphaned agent whose node came back', () => {
      const orphaned = [...activeH, ...orphanedW0];
      spec.given(orphaned).when(started('a-w0')).thenTypes(['AgentStarted', 'ClusterRecovered']);
    });
    it('finishes the scale that was in flight when the cluster degraded', () => {
      const h = [
        ...activeH,
        ev.scalingStarted(2, 3, 'load', 'manual'),
        ev.spawned('a-w2', 'worker', 2),
        ev.placed('a-w2'),
        ev.failed('a-w0', 'oom'),
        ev.degraded('agent worker#0 failed: oom'),
        ev.started('a-w2'),
      ];
      expect(stateOf(h).status).toBe('degraded');
      spec.given(h).when(started('a-w0')).then([
        { type: 'AgentStarted', data: { agentId: 'a-w0', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterScaled', data: { from: 2, to: 3, direction: 'up', at: NOW } },
        { type: 'ClusterRecovered', data: { reason: 'every desired agent is running again', at: NOW } },
      ]);
    });
  });

  describe('RecordAgentFailed', () => {
    it('degrades an active cluster', () =>
      spec.given(activeH).when(cmd('RecordAgentFailed', { agentId: 'a-w1', reason: 'crashed' })).then([
        { type: 'AgentFailed', data: { agentId: 'a-w1', reason: 'crashed', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterDegraded', data: { reason: 'agent worker#1 failed: crashed', at: NOW } },
      ]));
    it('only records the failure while spawning', () =>
      spec.given(spawnedH).when(cmd('RecordAgentFailed', { agentId: 'a-w1', reason: 'bad image' })).thenTypes(['AgentFailed']));
    it('is idempotent', () => spec.given(degradedH).when(cmd('RecordAgentFailed', { agentId: 'a-w1', reason: 'again' })).then([]));
    it('ignores a stopped agent', () => spec.given(hibernatedH).when(cmd('RecordAgentFailed', { agentId: 'a-w1', reason: 'late' })).then([]));
    it('completes a hibernation when the last stopping agent fails', () =>
      spec.given([...hibernatingH, ev.stopped('a-w1', 'cluster hibernating')]).when(cmd('RecordAgentFailed', { agentId: 'a-w0', reason: 'killed' })).thenTypes(['AgentFailed', 'ClusterHibernated']));
    it('needs a reason', () => spec.given(activeH).when(cmd('RecordAgentFailed', { agentId: 'a-w1', reason: '' })).thenThrows(ValidationError));
    it('refuses an unknown agent', () => spec.given(activeH).when(cmd('RecordAgentFailed', { agentId: 'a-nope', reason: 'x' })).thenThrows(RuleViolationError, 'agent_unknown'));
  });

  describe('RecordAgentStopped', () => {
    const scaledDown = [...activeH, ev.scalingStarted(2, 1, 'quiet', 'autoscaler'), ev.stopRequested('a-w1', 'scale down from 2 to 1 workers')];
    it('completes a scale-down', () =>
      spec.given(scaledDown).when(cmd('RecordAgentStopped', { agentId: 'a-w1' })).then([
        { type: 'AgentStopped', data: { agentId: 'a-w1', reason: 'scale down from 2 to 1 workers', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterScaled', data: { from: 2, to: 1, direction: 'down', at: NOW } },
      ]));
    it('completes a hibernation', () =>
      spec.given([...hibernatingH, ev.stopped('a-w0', 'cluster hibernating')]).when(cmd('RecordAgentStopped', { agentId: 'a-w1' })).thenTypes(['AgentStopped', 'ClusterHibernated']));
    it('completes a decommission', () =>
      spec.given([...decommissioningH, ...ALL.slice(1).map((id) => ev.stopped(id, 'cluster decommissioning'))]).when(cmd('RecordAgentStopped', { agentId: 'a-boss' })).thenTypes(['AgentStopped', 'ClusterDecommissioned']));
    it('degrades an active cluster when a desired agent stops unexpectedly', () =>
      spec.given(activeH).when(cmd('RecordAgentStopped', { agentId: 'a-lead', reason: 'exited 0' })).then([
        { type: 'AgentStopped', data: { agentId: 'a-lead', reason: 'exited 0', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterDegraded', data: { reason: 'agent lead#0 stopped unexpectedly', at: NOW } },
      ]));
    it('is idempotent', () => spec.given(hibernatedH).when(cmd('RecordAgentStopped', { agentId: 'a-w0' })).then([]));
    it('refuses an unknown agent', () => spec.given(activeH).when(cmd('RecordAgentStopped', { agentId: 'a-nope' })).thenThrows(RuleViolationError, 'agent_unknown'));
    describe('a slot that stops again forgets its earlier stopped agents (the state stays bounded by slots, not history)', () => {
      const again: ClusterEvent[] = [...hibernatedH, ev.spawned('a-w0b', 'worker', 0), ...up('a-w0b'), ev.stopped('a-w0b', 'scaled down')];
      it('keeps the latest stopped agent of the slot, and every other slot as it was', () =>
        expect(Object.keys(stateOf(again).status === 'none' ? {} : (stateOf(again) as { agents: object }).agents).sort()).toEqual(
          ['a-boss', 'a-expert', 'a-lead', 'a-w0b', 'a-w1'],
        ));
      it('answers a late report about a forgotten agent as about an unknown one', () =>
        spec.given(again).when(cmd('RecordAgentStopped', { agentId: 'a-w0' })).thenThrows(RuleViolationError, 'agent_unknown'));
      it('a thousand stop-and-respawn cycles of a slot leave one stopped agent of it', () => {
        const churn: ClusterEvent[] = [...hibernatedH];
        for (let i = 0; i < 1000; i++) churn.push(ev.spawned(`a-c${i}`, 'worker', 0), ...up(`a-c${i}`), ev.stopped(`a-c${i}`, 'scaled down'));
        const state = stateOf(churn) as { agents: Record<string, { state: string }> };
        expect(Object.keys(state.agents)).toHaveLength(5);
        expect(state.agents['a-c999']!.state).toBe('stopped');
      });
    });
  });

  describe('RecordAgentOrphaned', () => {
    const orphan = (agentId: string, nodeId = 'node-1') => cmd('RecordAgentOrphaned', { agentId, nodeId });
    it('orphans the agents of an offline node and degrades the cluster', () =>
      spec.given(activeH).when(orphan('a-w0')).then([
        { type: 'AgentOrphaned', data: { agentId: 'a-w0', nodeId: 'node-1', at: NOW } },
        { type: 'ClusterDegraded', data: { reason: "agent worker#0 orphaned: node 'node-1' is offline", at: NOW } },
      ]));
    it('ignores a report about a node the agent left', () => spec.given(activeH).when(orphan('a-w0', 'node-9')).then([]));
    it('is idempotent', () => spec.given([...activeH, ...orphanedW0]).when(orphan('a-w0')).then([]));
    it('counts a stopping agent on a dead node as stopped', () =>
      spec.given([...hibernatingH, ev.stopped('a-w1', 'cluster hibernating')]).when(orphan('a-w0')).thenTypes(['AgentStopped', 'ClusterHibernated']));
    it('refuses an agent that was never placed', () => spec.given(spawnedH).when(orphan('a-w0')).thenThrows(RuleViolationError, 'agent_not_placed'));
    it('refuses an unknown agent', () => spec.given(activeH).when(orphan('a-x')).thenThrows(RuleViolationError, 'agent_unknown'));
  });

  describe('RecordAgentReplaced', () => {
    const orphanedH = [...activeH, ...orphanedW0];
    const replace = (agentId: string, fromNodeId: string, toNodeId: string) => cmd('RecordAgentReplaced', { agentId, fromNodeId, toNodeId });
    it('moves an orphaned agent to a new node', () =>
      spec.given(orphanedH).when(replace('a-w0', 'node-1', 'node-2')).then([{ type: 'AgentReplaced', data: { agentId: 'a-w0', fromNodeId: 'node-1', toNodeId: 'node-2', at: NOW } }]));
    it('then recovers the cluster when it starts there', () =>
      spec.given([...orphanedH, ev.replaced('a-w0', 'node-1', 'node-2')]).when(started('a-w0', 'node-2')).thenTypes(['AgentStarted', 'ClusterRecovered']));
    it('is idempotent', () => spec.given([...orphanedH, ev.replaced('a-w0', 'node-1', 'node-2')]).when(replace('a-w0', 'node-1', 'node-2')).then([]));
    it('refuses a wrong source node', () => spec.given(orphanedH).when(replace('a-w0', 'node-5', 'node-2')).thenThrows(RuleViolationError, 'agent_node_mismatch'));
    it('refuses a move to the same node', () => spec.given(orphanedH).when(replace('a-w0', 'node-1', 'node-1')).thenThrows(ValidationError));
    it('refuses a stopping agent', () => spec.given(hibernatingH).when(replace('a-w0', 'node-1', 'node-2')).thenThrows(RuleViolationError, 'agent_stopping'));
    it('refuses a stopped agent', () => spec.given(hibernatedH).when(replace('a-w0', 'node-1', 'node-2')).thenThrows(RuleViolationError, 'agent_stopped'));
    it('refuses an agent never placed', () => spec.given(spawnedH).when(replace('a-w0', 'node-1', 'node-2')).thenThrows(RuleViolationError, 'agent_not_placed'));
    it('refuses a failed agent whose slot was refilled', () =>
      spec.given([...degradedH, ev.spawned('a-w1-b', 'worker', 1)]).when(replace('a-w1', 'node-1', 'node-2')).thenThrows(RuleViolationError, 'agent_superseded'));
  });

  describe('ScaleCluster', () => {
    const scale = (targetWorkers: number, source: 'manual' | 'autoscaler' = 'manual') => cmd('ScaleCluster', { targetWorkers, reason: 'ops', source });
    it('scales up', () =>
      spec.given(activeH).when(scale(4)).then([{ type: 'ClusterScalingStarted', data: { from: 2, to: 4, direction: 'up', reason: 'ops', source: 'manual', at: NOW } }]));
    it('pauses automatic scaling for the cooldown after a manual scale, in either direction, but never a wake', () => {
      const { policy } = stateOf(activeH) as ExistingCluster;
      const manual = stateOf(decideAll([scale(4)], activeH));
      const byAutoscaler = stateOf(decideAll([scale(4, 'autoscaler')], activeH));
      const at = Date.parse(NOW);
      expect(manual.status !== 'none' && manual.lastManualScaleAt).toBe(NOW);
      expect(byAutoscaler.status !== 'none' && byAutoscaler.lastManualScaleAt).toBe(null);
      expect(manualScalePause(manual, 'down', at + 1000)).toMatch(/by hand 1 s ago: automatic scaling down waits out the \d+ s cooldown/);
      expect(manualScalePause(manual, 'hibernate', at + 1000)).not.toBeNull();
      expect(manualScalePause(manual, 'up', at + 1000)).not.toBeNull();
      expect(manualScalePause(manual, 'wake', at + 1000)).toBeNull();
      expect(manualScalePause(manual, 'down', at + policy.cooldownDownSeconds * 1000)).toBeNull();
      expect(manualScalePause(manual, 'up', at + policy.cooldownUpSeconds * 1000)).toBeNull();
      expect(manualScalePause(byAutoscaler, 'down', at + 1000)).toBeNull();
    });
    it('records the autoscaler inputs', () => {
      const [e] = spec.given(activeH).when(cmd('ScaleCluster', { targetWorkers: 3, reason: 'queue', source: 'autoscaler', inputs: { queueDepth: 40 } })).events();
      expect(e?.data).toMatchObject({ source: 'autoscaler', inputs: { queueDepth: 40 } });
    });
    it('scales down by stopping the newest workers first', () => {
      const at4 = [...activeH, ev.scalingStarted(2, 4, 'ops', 'manual'), ev.spawned('a-w2', 'worker', 2), ev.spawned('a-w3', 'worker', 3), ...up('a-w2', 'a-w3'), ev.scaled(2, 4)];
      expect(stateOf(at4).status).toBe('active');
      spec.given(at4).when(scale(1)).then([
        { type: 'ClusterScalingStarted', data: { from: 4, to: 1, direction: 'down', reason: 'ops', source: 'manual', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w3', reason: 'scale down from 4 to 1 workers', nodeId: 'node-1', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w2', reason: 'scale down from 4 to 1 workers', nodeId: 'node-1', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w1', reason: 'scale down from 4 to 1 workers', nodeId: 'node-1', at: NOW } },
      ]);
    });
    it('completes at once when the extra workers were never spawned', () =>
      spec.given([...activeH, ev.scalingStarted(2, 4, 'ops', 'manual')]).when(scale(2)).thenTypes(['ClusterScalingStarted', 'ClusterScaled']));
    it('re-targets while scaling', () => spec.given([...activeH, ev.scalingStarted(2, 4, 'ops', 'manual')]).when(scale(5)).thenTypes(['ClusterScalingStarted']));
    it('scales a degraded cluster', () => spec.given(degradedH).when(scale(3)).thenTypes(['ClusterScalingStarted']));
    it('does nothing for the current target', () => spec.given(activeH).when(scale(2)).then([]));
    it('refuses a target above max', () => spec.given(activeH).when(scale(6)).thenThrows(RuleViolationError, 'target_above_max'));
    it('refuses a target below min', () => spec.given(activeH).when(scale(0)).thenThrows(RuleViolationError, 'target_below_min'));
    it('refuses a hibernated cluster', () => spec.given(hibernatedH).when(scale(3)).thenThrows(RuleViolationError, 'cluster_hibernated'));
    it('refuses a hibernating cluster', () => spec.given(hibernatingH).when(scale(3)).thenThrows(RuleViolationError, 'cluster_hibernating'));
    it('refuses a cluster still spawning', () => spec.given(spawnedH).when(scale(3)).thenThrows(RuleViolationError, 'cluster_not_ready'));
    it('refuses a planning cluster', () => spec.given(createdH).when(scale(3)).thenThrows(RuleViolationError, 'cluster_not_ready'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(scale(3)).thenThrows(RuleViolationError, 'cluster_decommissioned'));
    it('refuses an unknown cluster', () => spec.given([]).when(scale(3)).thenThrows(NotFoundError));
    it('refuses a fractional target', () => spec.given(activeH).when(scale(2.5)).thenThrows(ValidationError));
    it('refuses an unknown source', () => spec.given(activeH).when(cmd('ScaleCluster', { targetWorkers: 3, reason: 'x', source: 'cron' as never })).thenThrows(ValidationError));
  });

  describe('RecordScalingDecision', () => {
    it('records the decision with its inputs', () =>
      spec
        .given(activeH)
        .when(cmd('RecordScalingDecision', { decision: 'hold', reason: 'within thresholds', rule: 'within_thresholds', inputs: { queueDepth: 4 } }))
        .then([{ type: 'ScalingDecided', data: { decision: 'hold', current: 2, target: 2, reason: 'within thresholds', rule: 'within_thresholds', inputs: { queueDepth: 4 }, at: NOW } }]));
    it('refuses an unknown decision', () =>
      spec.given(activeH).when(cmd('RecordScalingDecision', { decision: 'sideways' as never, reason: 'x', inputs: {} })).thenThrows(ValidationError));
    it('refuses a decommissioned cluster', () =>
      spec.given(decommissionedH).when(cmd('RecordScalingDecision', { decision: 'hold', reason: 'x', inputs: {} })).thenThrows(RuleViolationError, 'cluster_decommissioned'));
  });

  describe('HibernateCluster', () => {
    it('stops the workers and keeps the fixed agents', () =>
      spec.given(activeH).when(cmd('HibernateCluster', { reason: 'night' })).then([
        { type: 'ClusterHibernationStarted', data: { workersBefore: 2, keepFixedAgents: true, reason: 'night', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w1', reason: 'cluster hibernating', nodeId: 'node-1', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w0', reason: 'cluster hibernating', nodeId: 'node-1', at: NOW } },
      ]));
    it('stops everything, supervisor last, when the blueprint keeps no fixed agents', () => {
      const nf = clusterEvents({ at: NOW, blueprint: bpNoFixed });
      const h = [
        nf.created({ ...CREATED, keepFixedAgents: false }),
        nf.spawningStarted(5),
        ...spawnedFixed(nf),
        nf.spawned('a-w0', 'worker', 0),
        nf.spawned('a-w1', 'worker', 1),
        ...up(...ALL),
        nf.activated(5, 2),
      ];
      const events = spec.given(h).when(cmd('HibernateCluster', {})).events();
      expect(events.filter((e) => e.type === 'AgentStopRequested').map((e) => (e.data as { agentId: string }).agentId)).toEqual(['a-w1', 'a-w0', 'a-expert', 'a-lead', 'a-boss']);
    });
    it('hibernates at once when no worker runs', () => {
      const minZero = resolveBlueprint(smallBlueprint({ minWorkers: 0, targetWorkers: 0 }));
      const mz = clusterEvents({ at: NOW, blueprint: minZero });
      const h = [mz.created({ ...CREATED, minWorkers: 0, targetWorkers: 0 }), mz.spawningStarted(3), ...spawnedFixed(mz), ...up('a-boss', 'a-lead', 'a-expert'), mz.activated(3, 0)];
      spec.given(h).when(cmd('HibernateCluster', {})).thenTypes(['ClusterHibernationStarted', 'ClusterHibernated']);
    });
    it('is idempotent', () => {
      spec.given(hibernatingH).when(cmd('HibernateCluster', {})).then([]);
      spec.given(hibernatedH).when(cmd('HibernateCluster', {})).then([]);
    });
    it('refuses a cluster still spawning', () => spec.given(spawnedH).when(cmd('HibernateCluster', {})).thenThrows(RuleViolationError, 'cluster_not_ready'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(cmd('HibernateCluster', {})).thenThrows(RuleViolationError, 'cluster_decommissioned'));
  });

  describe('ReactivateCluster', () => {
    it('goes back to the last target', () =>
      spec.given(hibernatedH).when(cmd('ReactivateCluster', {})).then([{ type: 'ClusterReactivationStarted', data: { target: 2, reason: 'reactivation requested', at: NOW } }]));
    it('clamps the last target into the current bounds', () => {
      const h = [...hibernatedH, ev.updated({ maxWorkers: 1 })];
      const [e] = spec.given(h).when(cmd('ReactivateCluster', {})).events();
      expect(e?.data).toMatchObject({ target: 1 });
    });
    it('is idempotent while reactivating', () => spec.given([...hibernatedH, ev.reactivationStarted(2, 'reactivation requested')]).when(cmd('ReactivateCluster', {})).then([]));
    it('refuses an awake cluster', () => spec.given(activeH).when(cmd('ReactivateCluster', {})).thenThrows(RuleViolationError, 'cluster_not_hibernated'));
    it('refuses a cluster still hibernating', () => spec.given(hibernatingH).when(cmd('ReactivateCluster', {})).thenThrows(RuleViolationError, 'cluster_hibernating'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(cmd('ReactivateCluster', {})).thenThrows(RuleViolationError, 'cluster_decommissioned'));
  });

  describe('UpdateCluster', () => {
    it('renames and describes', () =>
      spec.given(activeH).when(cmd('UpdateCluster', { name: 'Renamed', description: 'new words' })).then([{ type: 'ClusterUpdated', data: { changes: { name: 'Renamed', description: 'new words' }, at: NOW } }]));
    it('does nothing when nothing changes', () => spec.given(activeH).when(cmd('UpdateCluster', { name: 'Test cluster', minWorkers: 1 })).then([]));
    it('merges a policy patch into the full policy', () => {
      const [e] = spec.given(activeH).when(cmd('UpdateCluster', { policy: { queuePerWorkerUp: 20 } })).events();
      expect(e?.data).toEqual({ changes: { policy: { ...blueprint.cluster.scaling, queuePerWorkerUp: 20 } }, at: NOW });
    });
    it('refuses a policy whose thresholds cross', () => spec.given(activeH).when(cmd('UpdateCluster', { policy: { queuePerWorkerDown: 15 } })).thenThrows(ValidationError));
    it('refuses min above max', () => spec.given(activeH).when(cmd('UpdateCluster', { minWorkers: 4, maxWorkers: 3 })).thenThrows(ValidationError));
    it('moves the target into new bounds like a manual scale', () =>
      spec.given(activeH).when(cmd('UpdateCluster', { maxWorkers: 1 })).then([
        { type: 'ClusterUpdated', data: { changes: { maxWorkers: 1 }, at: NOW } },
        { type: 'ClusterScalingStarted', data: { from: 2, to: 1, direction: 'down', reason: 'bounds changed to [1, 1]', source: 'manual', at: NOW } },
        { type: 'AgentStopRequested', data: { agentId: 'a-w1', reason: 'scale down from 2 to 1 workers', nodeId: 'node-1', at: NOW } },
      ]));
    it('only records bounds while hibernated', () => spec.given(hibernatedH).when(cmd('UpdateCluster', { minWorkers: 3 })).thenTypes(['ClusterUpdated']));
    it('refuses bounds that would move the target while spawning', () =>
      spec.given(spawnedH).when(cmd('UpdateCluster', { minWorkers: 3 })).thenThrows(RuleViolationError, 'target_outside_bounds'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(cmd('UpdateCluster', { name: 'x' })).thenThrows(RuleViolationError, 'cluster_decommissioned'));
  });

  describe('MarkClusterDegraded / MarkClusterRecovered', () => {
    it('degrades an active cluster', () =>
      spec.given(activeH).when(cmd('MarkClusterDegraded', { reason: 'nodes critical' })).then([{ type: 'ClusterDegraded', data: { reason: 'nodes critical', at: NOW } }]));
    it('is idempotent', () => spec.given(degradedH).when(cmd('MarkClusterDegraded', { reason: 'again' })).then([]));
    it('refuses a cluster that is neither serving nor spawning', () => spec.given(hibernatedH).when(cmd('MarkClusterDegraded', { reason: 'x' })).thenThrows(RuleViolationError, 'cluster_not_active'));
    it('degrades a cluster that does not come up in time, which becomes active once its agents run', () => {
      spec.given(spawnedH).when(cmd('MarkClusterDegraded', { reason: 'not active after 120 s' })).then([{ type: 'ClusterDegraded', data: { reason: 'not active after 120 s', at: NOW } }]);
      const h = decideAll([cmd('MarkClusterDegraded', { reason: 'not active after 120 s' }), ...bringUp(...ALL)], spawnedH);
      expect(h.map((e) => e.type).slice(-1)).toEqual(['ClusterRecovered']);
      expect(stateOf(h).status).toBe('active');
    });
    it('needs a reason', () => spec.given(activeH).when(cmd('MarkClusterDegraded', { reason: '' })).thenThrows(ValidationError));
    it('recovers when every desired agent runs', () => {
      const h = [...activeH, ev.degraded('nodes critical')];
      spec.given(h).when(cmd('MarkClusterRecovered', { reason: 'nodes healthy' })).then([{ type: 'ClusterRecovered', data: { reason: 'nodes healthy', at: NOW } }]);
    });
    it('refuses to recover with agents down', () => spec.given(degradedH).when(cmd('MarkClusterRecovered', {})).thenThrows(RuleViolationError, 'agents_not_running'));
    it('does nothing for an active cluster', () => spec.given(activeH).when(cmd('MarkClusterRecovered', {})).then([]));
    it('refuses a cluster that is not degraded', () => spec.given(hibernatedH).when(cmd('MarkClusterRecovered', {})).thenThrows(RuleViolationError, 'cluster_not_degraded'));
  });

  describe('DecommissionCluster', () => {
    it('stops everything, workers first', () =>
      spec.given(activeH).when(cmd('DecommissionCluster', { reason: 'campaign over' })).then([
        { type: 'ClusterDecommissionStarted', data: { reason: 'campaign over', at: NOW } },
        ...['a-w1', 'a-w0', 'a-expert', 'a-lead', 'a-boss'].map(
          (agentId): ClusterEvent => ({ type: 'AgentStopRequested', data: { agentId, reason: 'cluster decommissioning', nodeId: 'node-1', at: NOW } }),
        ),
      ]));
    it('finishes at once without agents', () => spec.given(createdH).when(cmd('DecommissionCluster', {})).thenTypes(['ClusterDecommissionStarted', 'ClusterDecommissioned']));
    it('is idempotent', () => {
      spec.given(decommissioningH).when(cmd('DecommissionCluster', {})).then([]);
      spec.given(decommissionedH).when(cmd('DecommissionCluster', {})).then([]);
    });
    it('refuses an unknown cluster', () => spec.given([]).when(cmd('DecommissionCluster', {})).thenThrows(NotFoundError));
  });

  describe('RecordCircuitBreakerTransition', () => {
    const tr = (from: 'closed' | 'open' | 'half_open', to: 'closed' | 'open' | 'half_open') => cmd('RecordCircuitBreakerTransition', { from, to, reason: `${from}→${to}` });
    const backup = resolveBlueprint({ ...smallBlueprint(), cluster: { ...smallBlueprint().cluster, backupCluster: 'cluster-backup' } });
    it('opens, naming the backup cluster', () =>
      spec.given([clusterEvents({ at: NOW, blueprint: backup }).created({ ...CREATED, backupCluster: 'cluster-backup' })]).when(tr('closed', 'open')).then([{ type: 'CircuitBreakerOpened', data: { reason: 'closed→open', backupCluster: 'cluster-backup', at: NOW } }]));
    it('half-opens and closes', () => {
      const open = [...activeH, ev.circuitOpened('closed→open')];
      spec.given(open).when(tr('open', 'half_open')).thenTypes(['CircuitBreakerHalfOpened']);
      spec.given([...open, ev.circuitHalfOpened('open→half_open')]).when(tr('half_open', 'closed')).thenTypes(['CircuitBreakerClosed']);
      spec.given([...open, ev.circuitHalfOpened('open→half_open')]).when(tr('half_open', 'open')).thenTypes(['CircuitBreakerOpened']);
    });
    it('is idempotent', () => spec.given(activeH).when(tr('open', 'closed')).then([]));
    it('refuses a skipped state', () => spec.given(activeH).when(tr('closed', 'half_open')).thenThrows(RuleViolationError, 'circuit_transition_invalid'));
    it('refuses a decommissioned cluster', () => spec.given(decommissionedH).when(tr('closed', 'open')).thenThrows(RuleViolationError, 'cluster_decommissioned'));
  });

  it('runs a whole life: create → active → scale → hibernate → reactivate → decommission', () => {
    let h = decideAll([cmd('ScaleCluster', { targetWorkers: 3, reason: 'load', source: 'autoscaler' }, t(1)), spawn(worker(2)), ...bringUp('a-w2')], activeH);
    expect(stateOf(h)).toMatchObject({ status: 'active', targetWorkers: 3, lastTarget: 3, lastScaleUpAt: t(1) });
    h = decideAll([cmd('HibernateCluster', {}, t(2)), ...['a-w0', 'a-w1', 'a-w2'].map((agentId) => cmd('RecordAgentStopped', { agentId }))], h);
    expect(stateOf(h)).toMatchObject({ status: 'hibernated', targetWorkers: 0, lastTarget: 3 });
    h = decideAll([cmd('ReactivateCluster', {}, t(3))], h);
    expect(stateOf(h)).toMatchObject({ status: 'reactivating', targetWorkers: 3 });
    const fresh = [0, 1, 2].map((o) => ({ agentId: `a-w${o}-r`, name: 'worker', ordinal: o }));
    h = decideAll([spawn(...fresh), ...bringUp(...fresh.map((f) => f.agentId))], h);
    expect(stateOf(h).status).toBe('active');
    h = decideAll([cmd('DecommissionCluster', {}), ...['a-boss', 'a-lead', 'a-expert', ...fresh.map((f) => f.agentId)].map((agentId) => cmd('RecordAgentStopped', { agentId }))], h);
    expect(stateOf(h).status).toBe('decommissioned');
    for (const e of h) expect(isPlainJson(e.data)).toBe(true);
  });
});

describe('Cluster decider (property): random command sequences', () => {
  const agentIds = ['a-boss', 'a-lead', 'a-expert', 'a-w0', 'a-w1', 'a-w2', 'a-w3', 'a-w4', 'a-x'];
  const agentId = fc.constantFrom(...agentIds);
  const nodeId = fc.constantFrom('node-1', 'node-2');
  const command: fc.Arbitrary<ClusterCommand> = fc.oneof(
    fc.constant(create()),
    fc.constant(spawn(...FIXED)),
    fc.integer({ min: 0, max: 5 }).map((o) => spawn(worker(o))),
    fc.tuple(agentId, nodeId).map(([a, n]) => placed(a, n)),
    fc.tuple(agentId, nodeId).map(([a, n]) => started(a, n)),
    agentId.map((a) => cmd('RecordAgentFailed', { agentId: a, reason: 'boom' })),
    agentId.map((a) => cmd('RecordAgentStopped', { agentId: a })),
    fc.tuple(agentId, nodeId).map(([a, n]) => cmd('RecordAgentOrphaned', { agentId: a, nodeId: n })),
    fc.tuple(agentId, nodeId, nodeId).map(([a, f, to]) => cmd('RecordAgentReplaced', { agentId: a, fromNodeId: f, toNodeId: to })),
    fc.integer({ min: 0, max: 6 }).map((n) => cmd('ScaleCluster', { targetWorkers: n, reason: 'fuzz', source: 'autoscaler' })),
    fc.constant(cmd('HibernateCluster', {})),
    fc.constant(cmd('ReactivateCluster', {})),
    fc.record({ minWorkers: fc.integer({ min: 0, max: 3 }), maxWorkers: fc.integer({ min: 3, max: 6 }) }).map((d) => cmd('UpdateCluster', d)),
    fc.constant(cmd('MarkClusterDegraded', { reason: 'fuzz' })),
    fc.constant(cmd('MarkClusterRecovered', {})),
    fc.constant(cmd('DecommissionCluster', {})),
    fc.constantFrom('closed' as const, 'open' as const, 'half_open' as const).map((to) => cmd('RecordCircuitBreakerTransition', { from: 'closed', to, reason: 'fuzz' })),
  );

  it('only ever refuses with typed errors, emits plain JSON, and keeps its invariants', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 40 }), (commands) => {
        let state = clusterDecider.initialState();
        for (const c of commands) {
          let events: readonly ClusterEvent[] = [];
          try {
            events = clusterDecider.decide(c, state);
          } catch (err) {
            expect(err).toBeInstanceOf(FlotillaError);
            continue;
          }
          for (const e of events) expect(isPlainJson(e.data)).toBe(true);
          state = fold(clusterDecider, events, state);
          // Re-deciding a fact just recorded changes nothing (idempotent facts).
          if (c.type.startsWith('Record') && c.type !== 'RecordScalingDecision' && events.length > 0) {
            expect(clusterDecider.decide(c, state)).toEqual([]);
          }
          if (state.status === 'none') continue;
          const live = Object.values(state.agents).filter(isLive);
          const slots = live.map((a) => slotKey(a.name, a.ordinal));
          expect(new Set(slots).size).toBe(slots.length);
          // A cluster going to zero (hibernating) or away (decommissioning) may sit below its minimum:
          // a hibernated cluster that is decommissioned keeps the target of 0 hibernation gave it.
          if (!['hibernating', 'hibernated', 'decommissioning', 'decommissioned'].includes(state.status)) {
            expect(state.targetWorkers).toBeGreaterThanOrEqual(state.minWorkers);
            expect(state.targetWorkers).toBeLessThanOrEqual(state.maxWorkers);
          }
          if (state.status === 'active') {
            expect(extraAgents(state)).toEqual([]);
            expect(desiredAgents(state).every((d) => live.some((a) => a.name === d.name && a.ordinal === d.ordinal && a.state === 'idle'))).toBe(true);
          }
          if (state.status === 'decommissioned') expect(live).toEqual([]);
        }
      }),
      { numRuns: 150 },
    );
  });
});
