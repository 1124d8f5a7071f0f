/**
 * @flotilla/domain: the pure core of Flotilla. No I/O, no framework, no clock: everything here is
 * a function of its arguments (time and ids arrive on commands, randomness from a seed).
 */

// Errors, ids and small pure utilities
export * from './errors.js';
export * from './ids.js';
export * from './json.js';
export * from './time.js';
export * from './semver.js';
export * from './random.js';

// Deciders: the shape every aggregate follows
export * from './decider.js';

// Blueprints: format, validation, resolution, JSON Schema, and the Blueprint aggregate
export * from './blueprint/blueprint.schema.js';
export * from './blueprint/blueprint.types.js';
export * from './cost/cost.js';
export * from './blueprint/blueprint.validate.js';
export * from './blueprint/blueprint.resolve.js';
export * from './blueprint/blueprint.redact.js';
export * from './blueprint/blueprint.parse.js';
export * from './blueprint/blueprint.json-schema.js';
export * from './blueprint/blueprint.commands.js';
export * from './blueprint/blueprint.events.js';
export {
  blueprintDecider,
  decide as decideBlueprint,
  evolve as evolveBlueprint,
  initialState as initialBlueprintState,
  type BlueprintState,
} from './blueprint/blueprint.decider.js';

// The Cluster aggregate and what is derived from its state
export {
  AGENT_STATES,
  CLUSTER_STATUSES,
  type AgentRecord,
  type AgentState,
  type CircuitStatus,
  type ClusterCore,
  type ClusterState,
  type ClusterStatus,
  type DecommissionedCluster,
  type DegradedCluster,
  type ExistingCluster,
  type HibernatedCluster,
  type NoCluster,
  type RecordedDecision,
  ROLLOUT_STATUSES,
  type Rollout,
  type RolloutSlot,
  type RolloutStatus,
  type RolloutWave,
  type ScalingCluster,
  type ScalingDirection,
  type ScalingOperation,
  type ScalingSource,
} from './cluster/cluster.state.js';
export * from './cluster/cluster.queries.js';
export * from './cluster/cluster.commands.js';
export * from './cluster/cluster.schemas.js';
export * from './cluster/cluster.events.js';
export * from './cluster/rollout.js';
export {
  TENANT_BUDGET_ACTIONS,
  TENANT_BUDGETS_MAX,
  TENANT_EVENT_TYPES,
  TenantBudgetSchema,
  tenantDecider,
  tenantStream,
  type RecordTenantBudgetCrossing,
  type SetTenantBudgets,
  type TenantBudget,
  type TenantBudgetAction,
  type TenantCommand,
  type TenantEvent,
  type TenantState,
} from './tenant/tenant-budgets.js';
export { planReconciliation, type NodeStatuses, type ReconcileAction, type ReconcileLimits, type ReconcileMemory } from './cluster/reconciliation.js';
export {
  clusterDecider,
  decide as decideCluster,
  evolve as evolveCluster,
  initialState as initialClusterState,
} from './cluster/cluster.decider.js';

// The Node aggregate and failure detection
export * from './node/node.state.js';
export * from './node/node.commands.js';
export * from './node/node.events.js';
export * from './node/node-transitions.js';
export {
  nodeDecider,
  decide as decideNode,
  evolve as evolveNode,
  initialState as initialNodeState,
} from './node/node.decider.js';

// Placement, scaling, health, circuit breaking
export * from './placement/placement.types.js';
export { place } from './placement/placement.js';
export * from './scaling/scaling-policy.js';
export * from './scaling/scaling-replay.js';
export * from './health/health.js';
export * from './circuit-breaker/circuit-breaker.js';
export {
  ALL_TENANTS,
  API_KEY_EVENT_TYPES,
  apiKeyDecider,
  apiKeyStream,
  ROLES,
  type ApiKeyCommand,
  type ApiKeyCreated,
  type ApiKeyEvent,
  type ApiKeyRevoked,
  type ApiKeyState,
  type CreateApiKey,
  type RevokeApiKey,
  type Role,
} from './access/api-key.decider.js';
