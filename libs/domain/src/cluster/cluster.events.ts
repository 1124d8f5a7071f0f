import type { Event } from '../decider.js';
import type { JsonValue } from '../json.js';
import type { AgentRole, ClusterType } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint, ResolvedRuntime, Resources, ScalingPolicy } from '../blueprint/blueprint.types.js';
import type { BudgetCrossing, RolloutSlot, ScalingDirection, ScalingSource } from './cluster.state.js';

type At = { readonly at: string };
type Inputs = Readonly<Record<string, JsonValue>>;

export type ClusterCreated = Event<
  'ClusterCreated',
  At & {
    readonly clusterId: string;
    readonly tenantId: string;
    readonly name: string;
    readonly description: string;
    readonly type: ClusterType;
    readonly blueprintId: string;
    readonly blueprintVersion: string;
    readonly blueprintHash: string;
    readonly blueprint: ResolvedBlueprint;
    readonly minWorkers: number;
    readonly targetWorkers: number;
    readonly maxWorkers: number;
    readonly policy: ScalingPolicy;
    readonly backupCluster: string | null;
    readonly keepFixedAgents: boolean;
  }
>;
export type ClusterSpawningStarted = Event<'ClusterSpawningStarted', At & { readonly desiredAgents: number }>;
export type AgentSpawned = Event<
  'AgentSpawned',
  At & {
    readonly agentId: string;
    readonly name: string;
    readonly role: AgentRole;
    readonly ordinal: number;
    readonly capabilities: readonly string[];
    readonly runtime: ResolvedRuntime;
    readonly reportsTo: string | null;
    readonly specHash: string;
    readonly resources: Resources;
    /** The blueprint version whose spec the agent runs (absent in events written before rollouts). */
    readonly blueprintVersion?: string;
    /** The agent this one replaces in a rollout wave (it stops once this one runs). */
    readonly replaces?: string;
  }
>;
export type AgentPlaced = Event<'AgentPlaced', At & { readonly agentId: string; readonly nodeId: string }>;
export type AgentStarted = Event<'AgentStarted', At & { readonly agentId: string; readonly nodeId: string }>;
export type AgentFailed = Event<'AgentFailed', At & { readonly agentId: string; readonly reason: string; readonly nodeId: string | null }>;
export type AgentStopRequested = Event<
  'AgentStopRequested',
  At & { readonly agentId: string; readonly reason: string; readonly nodeId: string | null }
>;
export type AgentStopped = Event<'AgentStopped', At & { readonly agentId: string; readonly reason: string; readonly nodeId: string | null }>;
export type AgentOrphaned = Event<'AgentOrphaned', At & { readonly agentId: string; readonly nodeId: string }>;
export type AgentReplaced = Event<'AgentReplaced', At & { readonly agentId: string; readonly fromNodeId: string; readonly toNodeId: string }>;
export type ClusterActivated = Event<'ClusterActivated', At & { readonly agents: number; readonly workers: number }>;
export type ClusterScalingStarted = Event<
  'ClusterScalingStarted',
  At & {
    readonly from: number;
    readonly to: number;
    readonly direction: ScalingDirection;
    readonly reason: string;
    readonly source: ScalingSource;
    readonly inputs?: Inputs;
  }
>;
export type ClusterScaled = Event<'ClusterScaled', At & { readonly from: number; readonly to: number; readonly direction: ScalingDirection }>;
export type ScalingDecided = Event<
  'ScalingDecided',
  At & {
    readonly decision: 'up' | 'down' | 'hold' | 'hibernate' | 'wake';
    readonly current: number;
    readonly target: number;
    readonly reason: string;
    readonly rule: string;
    readonly inputs: Inputs;
  }
>;
export type ClusterHibernationStarted = Event<
  'ClusterHibernationStarted',
  At & { readonly workersBefore: number; readonly keepFixedAgents: boolean; readonly reason: string }
>;
export type ClusterHibernated = Event<'ClusterHibernated', At>;
export type ClusterReactivationStarted = Event<'ClusterReactivationStarted', At & { readonly target: number; readonly reason: string }>;
export type ClusterReactivated = Event<'ClusterReactivated', At & { readonly workers: number }>;
export type ClusterUpdated = Event<
  'ClusterUpdated',
  At & {
    readonly changes: {
      readonly name?: string;
      readonly description?: string;
      readonly minWorkers?: number;
      readonly maxWorkers?: number;
      readonly policy?: ScalingPolicy;
    };
  }
>;
export type ClusterDegraded = Event<'ClusterDegraded', At & { readonly reason: string }>;
export type ClusterRecovered = Event<'ClusterRecovered', At & { readonly reason: string }>;
export type ClusterDecommissionStarted = Event<'ClusterDecommissionStarted', At & { readonly reason: string }>;
export type ClusterDecommissioned = Event<'ClusterDecommissioned', At>;
export type CircuitBreakerOpened = Event<'CircuitBreakerOpened', At & { readonly reason: string; readonly backupCluster: string | null }>;
export type CircuitBreakerHalfOpened = Event<'CircuitBreakerHalfOpened', At & { readonly reason: string }>;
export type CircuitBreakerClosed = Event<'CircuitBreakerClosed', At & { readonly reason: string }>;
/** A budget's spend reached its amount: which budget, its period, the figures and the action it takes. */
/** `scope: 'tenant'`: a budget of the cluster's tenant (`budget` is its index among the tenant's budgets). */
export type BudgetExceeded = Event<'BudgetExceeded', BudgetCrossing & { readonly budget: number }>;

/**
 * A rolling upgrade (or its undo) began: the cluster's blueprint is `blueprint` from now on, and
 * the agents of `slots` (whose spec hash changes) are replaced in waves of at most
 * `maxSurge + maxUnavailable`.
 */
export type RolloutStarted = Event<
  'RolloutStarted',
  At & {
    readonly rollout: number;
    readonly fromVersion: string;
    readonly toVersion: string;
    readonly blueprintHash: string;
    readonly blueprint: ResolvedBlueprint;
    readonly maxSurge: number;
    readonly maxUnavailable: number;
    readonly pauseAfter: number | null;
    readonly slots: readonly string[];
    readonly undo: boolean;
    readonly reason: string;
  }
>;
/** A wave's new agents were spawned; `stop_first` slots' old agents are stopped at once (within maxUnavailable). */
export type RolloutWaveStarted = Event<'RolloutWaveStarted', At & { readonly rollout: number; readonly wave: number; readonly slots: readonly RolloutSlot[]; readonly reason: string }>;
/** Every new agent of the wave runs: the old ones are being released. */
export type RolloutWaveCompleted = Event<'RolloutWaveCompleted', At & { readonly rollout: number; readonly wave: number; readonly replaced: number; readonly remaining: number }>;
export type RolloutPaused = Event<'RolloutPaused', At & { readonly rollout: number; readonly wave: number; readonly reason: string }>;
export type RolloutResumed = Event<'RolloutResumed', At & { readonly rollout: number; readonly reason: string }>;
/** A new agent of the wave failed: no further wave starts, the old agents keep serving. */
export type RolloutFailed = Event<'RolloutFailed', At & { readonly rollout: number; readonly wave: number; readonly agentId: string; readonly reason: string }>;
export type RolloutCompleted = Event<'RolloutCompleted', At & { readonly rollout: number; readonly version: string; readonly waves: number; readonly replaced: number }>;

export type ClusterEvent =
  | ClusterCreated
  | ClusterSpawningStarted
  | AgentSpawned
  | AgentPlaced
  | AgentStarted
  | AgentFailed
  | AgentStopRequested
  | AgentStopped
  | AgentOrphaned
  | AgentReplaced
  | ClusterActivated
  | ClusterScalingStarted
  | ClusterScaled
  | ScalingDecided
  | ClusterHibernationStarted
  | ClusterHibernated
  | ClusterReactivationStarted
  | ClusterReactivated
  | ClusterUpdated
  | ClusterDegraded
  | ClusterRecovered
  | ClusterDecommissionStarted
  | ClusterDecommissioned
  | CircuitBreakerOpened
  | CircuitBreakerHalfOpened
  | CircuitBreakerClosed
  | BudgetExceeded
  | RolloutStarted
  | RolloutWaveStarted
  | RolloutWaveCompleted
  | RolloutPaused
  | RolloutResumed
  | RolloutFailed
  | RolloutCompleted;

// A record keyed by every type: the compiler refuses to build when a type is missing here.
const CLUSTER_EVENT_TYPE_SET: { readonly [K in ClusterEvent['type']]: true } = {
  ClusterCreated: true,
  ClusterSpawningStarted: true,
  AgentSpawned: true,
  AgentPlaced: true,
  AgentStarted: true,
  AgentFailed: true,
  AgentStopRequested: true,
  AgentStopped: true,
  AgentOrphaned: true,
  AgentReplaced: true,
  ClusterActivated: true,
  ClusterScalingStarted: true,
  ClusterScaled: true,
  ScalingDecided: true,
  ClusterHibernationStarted: true,
  ClusterHibernated: true,
  ClusterReactivationStarted: true,
  ClusterReactivated: true,
  ClusterUpdated: true,
  ClusterDegraded: true,
  ClusterRecovered: true,
  ClusterDecommissionStarted: true,
  ClusterDecommissioned: true,
  CircuitBreakerOpened: true,
  CircuitBreakerHalfOpened: true,
  CircuitBreakerClosed: true,
  BudgetExceeded: true,
  RolloutStarted: true,
  RolloutWaveStarted: true,
  RolloutWaveCompleted: true,
  RolloutPaused: true,
  RolloutResumed: true,
  RolloutFailed: true,
  RolloutCompleted: true,
};
export const CLUSTER_EVENT_TYPES = Object.keys(CLUSTER_EVENT_TYPE_SET) as readonly ClusterEvent['type'][];

export type ClusterEventType = ClusterEvent['type'];

export function isClusterEvent(event: { readonly type: string }): event is ClusterEvent {
  return (CLUSTER_EVENT_TYPES as readonly string[]).includes(event.type);
}
