import type { Command } from '../decider.js';
import type { JsonValue } from '../json.js';
import type { ClusterType } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint, ScalingPolicy } from '../blueprint/blueprint.types.js';
import type { CircuitStatus, ScalingSource } from './cluster.state.js';

export type CreateCluster = Command<
  'CreateCluster',
  {
    readonly clusterId: string;
    readonly tenantId: string;
    readonly name: string;
    readonly description?: string;
    /** Defaults to the blueprint's cluster type. */
    readonly type?: ClusterType;
    readonly blueprint: ResolvedBlueprint;
    /** Defaults to the blueprint's targetWorkers. */
    readonly targetWorkers?: number;
  }
>;

/**
 * Records agents the reconciler is about to place. Ids are chosen by the caller before placement,
 * so a retried spawn + placement is idempotent; role and spec come from the blueprint snapshot.
 */
export type SpawnAgents = Command<
  'SpawnAgents',
  { readonly agents: readonly { readonly agentId: string; readonly name: string; readonly ordinal: number }[] }
>;

export type RecordAgentPlaced = Command<'RecordAgentPlaced', { readonly agentId: string; readonly nodeId: string }>;
export type RecordAgentStarted = Command<'RecordAgentStarted', { readonly agentId: string; readonly nodeId: string }>;
export type RecordAgentFailed = Command<'RecordAgentFailed', { readonly agentId: string; readonly reason: string }>;
export type RecordAgentStopped = Command<'RecordAgentStopped', { readonly agentId: string; readonly reason?: string }>;
export type RecordAgentOrphaned = Command<'RecordAgentOrphaned', { readonly agentId: string; readonly nodeId: string }>;
export type RecordAgentReplaced = Command<
  'RecordAgentReplaced',
  { readonly agentId: string; readonly fromNodeId: string; readonly toNodeId: string }
>;

export type ScaleCluster = Command<
  'ScaleCluster',
  {
    readonly targetWorkers: number;
    readonly reason: string;
    readonly source: ScalingSource;
    readonly inputs?: Readonly<Record<string, JsonValue>>;
  }
>;

/** Records what the autoscaler decided and why (callers may skip chatty `hold` decisions). */
export type RecordScalingDecision = Command<
  'RecordScalingDecision',
  {
    readonly decision: 'up' | 'down' | 'hold' | 'hibernate' | 'wake';
    readonly target?: number;
    readonly reason: string;
    readonly rule?: string;
    readonly inputs: Readonly<Record<string, JsonValue>>;
  }
>;

export type HibernateCluster = Command<'HibernateCluster', { readonly reason?: string }>;
export type ReactivateCluster = Command<'ReactivateCluster', { readonly reason?: string }>;

export type UpdateCluster = Command<
  'UpdateCluster',
  {
    readonly name?: string;
    readonly description?: string;
    readonly minWorkers?: number;
    readonly maxWorkers?: number;
    /** Fields to change in the scaling policy; the rest is kept. */
    readonly policy?: Partial<ScalingPolicy>;
  }
>;

export type MarkClusterDegraded = Command<'MarkClusterDegraded', { readonly reason: string }>;
export type MarkClusterRecovered = Command<'MarkClusterRecovered', { readonly reason?: string }>;
export type DecommissionCluster = Command<'DecommissionCluster', { readonly reason?: string }>;
export type RecordCircuitBreakerTransition = Command<
  'RecordCircuitBreakerTransition',
  { readonly from: CircuitStatus; readonly to: CircuitStatus; readonly reason: string }
>;

export type ClusterCommand =
  | CreateCluster
  | SpawnAgents
  | RecordAgentPlaced
  | RecordAgentStarted
  | RecordAgentFailed
  | RecordAgentStopped
  | RecordAgentOrphaned
  | RecordAgentReplaced
  | ScaleCluster
  | RecordScalingDecision
  | HibernateCluster
  | ReactivateCluster
  | UpdateCluster
  | MarkClusterDegraded
  | MarkClusterRecovered
  | DecommissionCluster
  | RecordCircuitBreakerTransition;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const CLUSTER_COMMAND_TYPE_SET: { readonly [K in ClusterCommand['type']]: true } = {
  CreateCluster: true,
  SpawnAgents: true,
  RecordAgentPlaced: true,
  RecordAgentStarted: true,
  RecordAgentFailed: true,
  RecordAgentStopped: true,
  RecordAgentOrphaned: true,
  RecordAgentReplaced: true,
  ScaleCluster: true,
  RecordScalingDecision: true,
  HibernateCluster: true,
  ReactivateCluster: true,
  UpdateCluster: true,
  MarkClusterDegraded: true,
  MarkClusterRecovered: true,
  DecommissionCluster: true,
  RecordCircuitBreakerTransition: true,
};
export const CLUSTER_COMMAND_TYPES = Object.keys(CLUSTER_COMMAND_TYPE_SET) as readonly ClusterCommand['type'][];
