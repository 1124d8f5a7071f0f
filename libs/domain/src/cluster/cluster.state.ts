import type { JsonValue } from '../json.js';
import type { AgentRole, BudgetAction, ClusterType } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint, ResolvedRuntime, Resources, ScalingPolicy } from '../blueprint/blueprint.types.js';
import type { CIRCUIT_STATUSES, SCALING_SOURCES } from './cluster.schemas.js';

export const CLUSTER_STATUSES = [
  'planning',
  'spawning',
  'active',
  'scaling_up',
  'scaling_down',
  'hibernating',
  'hibernated',
  'reactivating',
  'degraded',
  'decommissioning',
  'decommissioned',
] as const;
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];

/** Lifecycle of one agent. `busy` is telemetry (metrics), never an event, so it is not here. */
export const AGENT_STATES = ['pending', 'starting', 'idle', 'failed', 'stopping', 'stopped', 'orphaned'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

/** Derived from the command schemas' enums, so the state and the commands name the same values. */
export type CircuitStatus = (typeof CIRCUIT_STATUSES)[number];
export type ScalingSource = (typeof SCALING_SOURCES)[number];
export type ScalingDirection = 'up' | 'down';

export interface AgentRecord {
  readonly agentId: string;
  /** The blueprint agent this instance runs. */
  readonly name: string;
  readonly role: AgentRole;
  /** Instance number: 0..count-1 for fixed agents, the pool position for workers. */
  readonly ordinal: number;
  readonly capabilities: readonly string[];
  readonly runtime: ResolvedRuntime;
  /** Blueprint name of the agent this one reports to (null for the supervisor). */
  readonly reportsTo: string | null;
  readonly specHash: string;
  readonly resources: Resources;
  readonly state: AgentState;
  readonly nodeId?: string;
  /** When the agent entered its current state. */
  readonly since: string;
  readonly reason?: string;
  /** The blueprint version whose spec it runs (absent for agents spawned before rollouts existed). */
  readonly blueprintVersion?: string;
  /** The agent it replaces in a rollout wave. */
  readonly replaces?: string;
}

export const ROLLOUT_STATUSES = ['rolling', 'paused', 'failed', 'completed'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** One slot of a wave: its new agent, the agent it replaces, and how (new first, or old stopped first). */
export interface RolloutSlot {
  readonly slot: string;
  readonly agentId: string;
  readonly replaces: string;
  readonly mode: 'surge' | 'stop_first';
}

export interface RolloutWave {
  readonly wave: number;
  readonly slots: readonly RolloutSlot[];
  readonly startedAt: string;
}

/** The cluster's last rolling upgrade (or undo). */
export interface Rollout {
  /** 1 for the cluster's first rollout, then 2, … */
  readonly rollout: number;
  readonly status: RolloutStatus;
  readonly undo: boolean;
  readonly fromVersion: string;
  readonly toVersion: string;
  /** The blueprint the cluster ran before: what an undo rolls back to. */
  readonly previous: ResolvedBlueprint;
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly pauseAfter: number | null;
  /** Slots to replace when it started. */
  readonly total: number;
  /** Agents replaced by the waves completed so far. */
  readonly replaced: number;
  /** Slots not replaced yet: an agent spawned for one runs the previous spec. */
  readonly pending: readonly string[];
  /** Waves started so far. */
  readonly waves: number;
  readonly current: RolloutWave | null;
  readonly reason: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly endedAt: string | null;
}

export interface ScalingOperation {
  readonly from: number;
  readonly to: number;
  readonly direction: ScalingDirection;
  readonly reason: string;
  readonly source: ScalingSource;
  readonly startedAt: string;
}

export interface RecordedDecision {
  readonly decision: string;
  readonly target: number;
  readonly reason: string;
  readonly rule: string;
  readonly inputs: Readonly<Record<string, JsonValue>>;
  readonly at: string;
}

/** What every existing cluster knows, whatever its status. */
export interface ClusterCore {
  readonly clusterId: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  readonly type: ClusterType;
  readonly blueprintId: string;
  readonly blueprintVersion: string;
  /** The resolved blueprint the cluster was created from: the source of agent specs. */
  readonly blueprint: ResolvedBlueprint;
  readonly minWorkers: number;
  /** Workers wanted now (0 while hibernating or hibernated). */
  readonly targetWorkers: number;
  readonly maxWorkers: number;
  /** The last non-zero target: where reactivation goes back to. */
  readonly lastTarget: number;
  readonly policy: ScalingPolicy;
  readonly backupCluster: string | null;
  readonly keepFixedAgents: boolean;
  readonly agents: Readonly<Record<string, AgentRecord>>;
  readonly circuit: CircuitStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastScaleUpAt: string | null;
  readonly lastScaleDownAt: string | null;
  /** When an operator last scaled it by hand: automatic scaling pauses for the cooldown after. */
  readonly lastManualScaleAt: string | null;
  readonly lastDecision: RecordedDecision | null;
  /** The last crossing of each budget (by its index in the blueprint); absent before the first. */
  readonly budgetCrossings?: Readonly<Record<string, BudgetCrossing>>;
  /** The last rolling upgrade; absent before the first. */
  readonly rollout?: Rollout;
}

export interface BudgetCrossing {
  readonly period: 'day' | 'month';
  readonly periodStart: string;
  readonly amount: number;
  readonly spent: number;
  readonly currency: string;
  readonly action: BudgetAction;
  readonly at: string;
  /** 'tenant': a budget of the cluster's tenant (over all its clusters), not the cluster's own. */
  readonly scope?: 'tenant';
}

type Plain<S extends ClusterStatus> = ClusterCore & { readonly status: S };

export type NoCluster = { readonly status: 'none' };
export type ScalingCluster = ClusterCore & { readonly status: 'scaling_up' | 'scaling_down'; readonly scaling: ScalingOperation };
export type DegradedCluster = ClusterCore & {
  readonly status: 'degraded';
  readonly degradedReason: string;
  readonly degradedSince: string;
  /** A scale operation that was in flight when the cluster degraded; completed on recovery. */
  readonly pendingScale: ScalingOperation | null;
};
export type HibernatedCluster = ClusterCore & { readonly status: 'hibernated'; readonly hibernatedAt: string };
export type DecommissionedCluster = ClusterCore & { readonly status: 'decommissioned'; readonly decommissionedAt: string };

/** The cluster aggregate's state: a discriminated union on `status` ('none' before creation). */
export type ClusterState =
  | NoCluster
  | Plain<'planning'>
  | Plain<'spawning'>
  | Plain<'active'>
  | ScalingCluster
  | Plain<'hibernating'>
  | HibernatedCluster
  | Plain<'reactivating'>
  | DegradedCluster
  | Plain<'decommissioning'>
  | DecommissionedCluster;

export type ExistingCluster = Exclude<ClusterState, NoCluster>;

type AnyCluster = ClusterCore & {
  readonly status: ClusterStatus;
  readonly scaling?: ScalingOperation;
  readonly degradedReason?: string;
  readonly degradedSince?: string;
  readonly pendingScale?: ScalingOperation | null;
  readonly hibernatedAt?: string;
  readonly decommissionedAt?: string;
};

/** The core of a cluster without its status-specific fields. */
export function coreOf(state: ExistingCluster): ClusterCore {
  const {
    status: _status,
    scaling: _scaling,
    degradedReason: _reason,
    degradedSince: _since,
    pendingScale: _pending,
    hibernatedAt: _hibernatedAt,
    decommissionedAt: _decommissionedAt,
    ...core
  } = state as AnyCluster;
  return core;
}
