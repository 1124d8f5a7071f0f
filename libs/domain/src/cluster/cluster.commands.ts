import type { z } from 'zod';
import type { Command } from '../decider.js';
import type * as S from './cluster.schemas.js';

/** A command whose data is what its schema (in `cluster.schemas.ts`) accepts. */
type Of<Type extends string, S extends z.ZodType<unknown, object>> = Command<Type, z.input<S>>;

export type CreateCluster = Of<'CreateCluster', typeof S.CreateClusterData>;
export type SpawnAgents = Of<'SpawnAgents', typeof S.SpawnAgentsData>;
export type RecordAgentPlaced = Of<'RecordAgentPlaced', typeof S.RecordAgentPlacedData>;
export type RecordAgentStarted = Of<'RecordAgentStarted', typeof S.RecordAgentStartedData>;
export type RecordAgentFailed = Of<'RecordAgentFailed', typeof S.RecordAgentFailedData>;
export type RecordAgentStopped = Of<'RecordAgentStopped', typeof S.RecordAgentStoppedData>;
export type RecordAgentOrphaned = Of<'RecordAgentOrphaned', typeof S.RecordAgentOrphanedData>;
export type RecordAgentReplaced = Of<'RecordAgentReplaced', typeof S.RecordAgentReplacedData>;
export type ScaleCluster = Of<'ScaleCluster', typeof S.ScaleClusterData>;
export type RecordScalingDecision = Of<'RecordScalingDecision', typeof S.RecordScalingDecisionData>;
export type HibernateCluster = Of<'HibernateCluster', typeof S.HibernateClusterData>;
export type ReactivateCluster = Of<'ReactivateCluster', typeof S.ReactivateClusterData>;
export type UpdateCluster = Of<'UpdateCluster', typeof S.UpdateClusterData>;
export type MarkClusterDegraded = Of<'MarkClusterDegraded', typeof S.MarkClusterDegradedData>;
export type MarkClusterRecovered = Of<'MarkClusterRecovered', typeof S.MarkClusterRecoveredData>;
export type DecommissionCluster = Of<'DecommissionCluster', typeof S.DecommissionClusterData>;
export type RecordCircuitBreakerTransition = Of<'RecordCircuitBreakerTransition', typeof S.RecordCircuitBreakerTransitionData>;
export type RecordBudgetCrossing = Of<'RecordBudgetCrossing', typeof S.RecordBudgetCrossingData>;
export type ApplyTenantBudget = Of<'ApplyTenantBudget', typeof S.ApplyTenantBudgetData>;
export type StartRollout = Of<'StartRollout', typeof S.StartRolloutData>;
export type SpawnRolloutWave = Of<'SpawnRolloutWave', typeof S.SpawnRolloutWaveData>;
export type PauseRollout = Of<'PauseRollout', typeof S.PauseRolloutData>;
export type ResumeRollout = Of<'ResumeRollout', typeof S.ResumeRolloutData>;
export type UndoRollout = Of<'UndoRollout', typeof S.UndoRolloutData>;

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
  | RecordCircuitBreakerTransition
  | RecordBudgetCrossing
  | ApplyTenantBudget
  | StartRollout
  | SpawnRolloutWave
  | PauseRollout
  | ResumeRollout
  | UndoRollout;

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
  RecordBudgetCrossing: true,
  ApplyTenantBudget: true,
  StartRollout: true,
  SpawnRolloutWave: true,
  PauseRollout: true,
  ResumeRollout: true,
  UndoRollout: true,
};
export const CLUSTER_COMMAND_TYPES = Object.keys(CLUSTER_COMMAND_TYPE_SET) as readonly ClusterCommand['type'][];
