import type { ResolvedBlueprint } from '../../blueprint/blueprint.types.js';
import type { ClusterCreated, ClusterEvent } from '../cluster.events.js';
import type { ScalingSource } from '../cluster.state.js';

/**
 * Literal cluster events for a decider spec's `given`, written from the event types in
 * cluster.events.ts rather than produced by `decide`: a bug in `decide` cannot write the history
 * its own tests start from. Every builder stamps `at` (the spec's clock); `spawned` copies the
 * agent's resolved spec out of `blueprint` (the snapshot the cluster was created from).
 */
export function clusterEvents({ at, blueprint }: { readonly at: string; readonly blueprint: ResolvedBlueprint }) {
  return {
    /** The blueprint's identity, its policy and snapshot, the rest as given. */
    created: (data: Omit<ClusterCreated['data'], 'at' | 'blueprint' | 'blueprintId' | 'blueprintVersion' | 'blueprintHash' | 'policy'>): ClusterEvent => ({
      type: 'ClusterCreated',
      data: {
        ...data,
        blueprintId: blueprint.blueprintId,
        blueprintVersion: blueprint.version,
        blueprintHash: blueprint.hash,
        blueprint,
        policy: blueprint.cluster.scaling,
        at,
      },
    }),
    spawningStarted: (desiredAgents: number): ClusterEvent => ({ type: 'ClusterSpawningStarted', data: { desiredAgents, at } }),
    spawned: (agentId: string, name: string, ordinal: number): ClusterEvent => {
      const spec = blueprint.agents.find((a) => a.name === name);
      if (spec === undefined) throw new Error(`the blueprint defines no agent '${name}'`);
      return {
        type: 'AgentSpawned',
        data: {
          agentId,
          name,
          role: spec.role,
          ordinal,
          capabilities: spec.capabilities,
          runtime: spec.runtime,
          reportsTo: spec.reportsTo,
          specHash: spec.specHash,
          resources: spec.resources,
          blueprintVersion: blueprint.version,
          at,
        },
      };
    },
    placed: (agentId: string, nodeId = 'node-1'): ClusterEvent => ({ type: 'AgentPlaced', data: { agentId, nodeId, at } }),
    started: (agentId: string, nodeId = 'node-1'): ClusterEvent => ({ type: 'AgentStarted', data: { agentId, nodeId, at } }),
    failed: (agentId: string, reason: string, nodeId: string | null = 'node-1'): ClusterEvent => ({ type: 'AgentFailed', data: { agentId, reason, nodeId, at } }),
    stopRequested: (agentId: string, reason: string, nodeId: string | null = 'node-1'): ClusterEvent => ({
      type: 'AgentStopRequested',
      data: { agentId, reason, nodeId, at },
    }),
    stopped: (agentId: string, reason: string, nodeId: string | null = 'node-1'): ClusterEvent => ({ type: 'AgentStopped', data: { agentId, reason, nodeId, at } }),
    orphaned: (agentId: string, nodeId = 'node-1'): ClusterEvent => ({ type: 'AgentOrphaned', data: { agentId, nodeId, at } }),
    replaced: (agentId: string, fromNodeId: string, toNodeId: string): ClusterEvent => ({ type: 'AgentReplaced', data: { agentId, fromNodeId, toNodeId, at } }),
    activated: (agents: number, workers: number): ClusterEvent => ({ type: 'ClusterActivated', data: { agents, workers, at } }),
    scalingStarted: (from: number, to: number, reason: string, source: ScalingSource): ClusterEvent => ({
      type: 'ClusterScalingStarted',
      data: { from, to, direction: to > from ? 'up' : 'down', reason, source, at },
    }),
    scaled: (from: number, to: number): ClusterEvent => ({ type: 'ClusterScaled', data: { from, to, direction: to > from ? 'up' : 'down', at } }),
    hibernationStarted: (workersBefore: number, keepFixedAgents: boolean, reason: string): ClusterEvent => ({
      type: 'ClusterHibernationStarted',
      data: { workersBefore, keepFixedAgents, reason, at },
    }),
    hibernated: (): ClusterEvent => ({ type: 'ClusterHibernated', data: { at } }),
    reactivationStarted: (target: number, reason: string): ClusterEvent => ({ type: 'ClusterReactivationStarted', data: { target, reason, at } }),
    updated: (changes: Extract<ClusterEvent, { type: 'ClusterUpdated' }>['data']['changes']): ClusterEvent => ({ type: 'ClusterUpdated', data: { changes, at } }),
    degraded: (reason: string): ClusterEvent => ({ type: 'ClusterDegraded', data: { reason, at } }),
    decommissionStarted: (reason: string): ClusterEvent => ({ type: 'ClusterDecommissionStarted', data: { reason, at } }),
    decommissioned: (): ClusterEvent => ({ type: 'ClusterDecommissioned', data: { at } }),
    circuitOpened: (reason: string, backupCluster: string | null = null): ClusterEvent => ({ type: 'CircuitBreakerOpened', data: { reason, backupCluster, at } }),
    circuitHalfOpened: (reason: string): ClusterEvent => ({ type: 'CircuitBreakerHalfOpened', data: { reason, at } }),
  };
}

export type ClusterEventBuilders = ReturnType<typeof clusterEvents>;

/**
 * Cluster `c1` of tenant `acme` active with `smallBlueprint`'s agents and three workers, every one
 * started on node-1 (ids `a-boss`, `a-lead`, `a-expert`, `a-w0`..`a-w2`): where the budget,
 * rollout and tenant budget specs start.
 */
export function activeSmallCluster(ev: ClusterEventBuilders, backupCluster: string | null = null): ClusterEvent[] {
  const slots: [string, string, number][] = [
    ['a-boss', 'boss', 0],
    ['a-lead', 'lead', 0],
    ['a-expert', 'expert', 0],
    ['a-w0', 'worker', 0],
    ['a-w1', 'worker', 1],
    ['a-w2', 'worker', 2],
  ];
  return [
    ev.created({ clusterId: 'c1', tenantId: 'acme', name: 'c1', description: '', type: 'team', minWorkers: 1, targetWorkers: 3, maxWorkers: 5, backupCluster, keepFixedAgents: true }),
    ev.spawningStarted(6),
    ...slots.map(([id, name, ordinal]) => ev.spawned(id, name, ordinal)),
    ...slots.flatMap(([id]) => [ev.placed(id), ev.started(id)]),
    ev.activated(6, 3),
  ];
}
