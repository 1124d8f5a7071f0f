import { defineEntity, p } from '@mikro-orm/core';

/**
 * Read models: rows derived from the event log (except cluster_metrics, a plain time series the
 * metrics service writes). Every projected row remembers the log `position` of the last event
 * applied to it, so re-applying an event is a no-op. Column names are the snake_case of these
 * properties; the migrations in ./migrations create exactly these tables.
 */

export const ClusterEntity = defineEntity({
  name: 'ClusterRow',
  tableName: 'clusters',
  properties: {
    id: p.string().primary(),
    tenantId: p.string().index(),
    name: p.string(),
    description: p.text(),
    type: p.string(),
    status: p.string().index(),
    blueprintId: p.string(),
    blueprintVersion: p.string(),
    minWorkers: p.integer(),
    targetWorkers: p.integer(),
    maxWorkers: p.integer(),
    lastTarget: p.integer(),
    fixedAgents: p.integer(),
    keepFixedAgents: p.boolean(),
    monitoringIntervalS: p.integer(),
    lastScaleUpAt: p.datetime().nullable(),
    lastScaleDownAt: p.datetime().nullable(),
    policy: p.json<Record<string, unknown>>(),
    backupCluster: p.string().nullable(),
    circuit: p.string(),
    degradedReason: p.text().nullable(),
    lastDecision: p.json<Record<string, unknown>>().nullable(),
    /** The blueprint's resolved pricing (null when it prices nothing). */
    pricing: p.json<Record<string, unknown>>().nullable(),
    /** The blueprint's budgets (null when it sets none). */
    budgets: p.json<Record<string, unknown>[]>().nullable(),
    /** The last rolling upgrade, in the cluster view's shape (null before the first). */
    rollout: p.json<Record<string, unknown>>().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    revision: p.integer(),
    position: p.bigint('string'),
  },
});

export const ClusterAgentEntity = defineEntity({
  name: 'ClusterAgentRow',
  tableName: 'cluster_agents',
  properties: {
    id: p.string().primary(),
    clusterId: p.string().index(),
    tenantId: p.string(),
    name: p.string(),
    role: p.string(),
    ordinal: p.integer(),
    state: p.string(),
    nodeId: p.string().nullable().index(),
    capabilities: p.json<string[]>(),
    runtime: p.json<Record<string, unknown>>(),
    reportsTo: p.string().nullable(),
    specHash: p.string(),
    blueprintVersion: p.string().nullable(),
    resources: p.json<Record<string, unknown>>(),
    reason: p.text().nullable(),
    /** When it first started, and when it stopped or failed: its agent-hours. */
    startedAt: p.datetime().nullable(),
    stoppedAt: p.datetime().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    position: p.bigint('string'),
  },
});

export const BlueprintEntity = defineEntity({
  name: 'BlueprintRow',
  tableName: 'cluster_blueprints',
  properties: {
    id: p.string().primary(),
    tenantId: p.string().index(),
    name: p.string(),
    latestVersion: p.string(),
    latestHash: p.string(),
    status: p.string(),
    deprecationReason: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    position: p.bigint('string'),
  },
});

export const BlueprintVersionEntity = defineEntity({
  name: 'BlueprintVersionRow',
  tableName: 'cluster_blueprint_versions',
  properties: {
    id: p.string().primary(),
    blueprintId: p.string().index(),
    tenantId: p.string(),
    version: p.string(),
    hash: p.string(),
    document: p.json<Record<string, unknown>>(),
    createdAt: p.datetime(),
    position: p.bigint('string'),
  },
});

export const NodeEntity = defineEntity({
  name: 'NodeRow',
  tableName: 'cluster_nodes',
  properties: {
    id: p.string().primary(),
    tenantId: p.string().nullable(),
    hostname: p.string(),
    address: p.string(),
    region: p.string(),
    zone: p.string(),
    labels: p.json<Record<string, string>>(),
    services: p.json<string[]>(),
    capacity: p.json<Record<string, number>>(),
    role: p.string(),
    priority: p.integer(),
    status: p.string().index(),
    /** active, cordoned, draining or drained: what `status` shows again once the node is online. */
    adminStatus: p.string().default('active'),
    statusReason: p.text().nullable(),
    agents: p.json<string[]>(),
    registeredAt: p.datetime(),
    updatedAt: p.datetime(),
    position: p.bigint('string'),
  },
});

export const PlacementEntity = defineEntity({
  name: 'PlacementRow',
  tableName: 'placements',
  properties: {
    agentId: p.string().primary(),
    clusterId: p.string().index(),
    nodeId: p.string().index(),
    tenantId: p.string().nullable(),
    resources: p.json<Record<string, unknown>>(),
    status: p.string(),
    assignedAt: p.datetime(),
    releasedAt: p.datetime().nullable(),
    position: p.bigint('string'),
  },
});

export const ClusterEventEntity = defineEntity({
  name: 'ClusterEventRow',
  tableName: 'cluster_events',
  properties: {
    position: p.bigint('string').primary(),
    eventId: p.uuid().unique(),
    streamId: p.string(),
    /** The event's revision in its stream (null in rows projected before this column existed). */
    revision: p.bigint('number').nullable(),
    aggregate: p.string(),
    aggregateId: p.string(),
    clusterId: p.string().nullable().index(),
    type: p.string(),
    severity: p.string(),
    actor: p.string(),
    tenantId: p.string(),
    occurredAt: p.datetime(),
    data: p.json<Record<string, unknown>>(),
    metadata: p.json<Record<string, unknown>>(),
  },
});

export const ClusterMetricEntity = defineEntity({
  name: 'ClusterMetricRow',
  tableName: 'cluster_metrics',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    clusterId: p.string(),
    tenantId: p.string(),
    at: p.datetime(),
    resolution: p.string(),
    queueDepth: p.integer(),
    queueHigh: p.integer(),
    queueNormal: p.integer(),
    queueLow: p.integer(),
    agentsActive: p.integer(),
    agentsIdle: p.integer(),
    agentsBusy: p.integer(),
    agentsFailed: p.integer(),
    workers: p.integer(),
    tasksPerMinute: p.double(),
    latencyP50Ms: p.double().nullable(),
    latencyP95Ms: p.double().nullable(),
    latencyP99Ms: p.double().nullable(),
    errorRate: p.double(),
    cpuPercent: p.double().nullable(),
    memoryPercent: p.double().nullable(),
    healthScore: p.double().nullable(),
    samples: p.integer(),
    /** What the autoscaler read of a raw snapshot (ScalingReading); null on minute rollups. */
    scaling: p.json<Record<string, unknown>>().nullable(),
    /** The health endpoint's answer at that snapshot (without cluster_id and at); null on rollups. */
    health: p.json<Record<string, unknown>>().nullable(),
  },
});

export const ApiKeyEntity = defineEntity({
  name: 'ApiKeyRow',
  tableName: 'api_keys',
  properties: {
    id: p.string().primary(),
    tenantId: p.string().index(),
    role: p.string(),
    name: p.string(),
    secretHash: p.string(),
    createdBy: p.string(),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    revokedReason: p.text().nullable(),
    position: p.bigint('string'),
  },
});

/** Each tenant's budgets and their last crossings (the tenant aggregate's, as the budget watch reads them). */
export const TenantBudgetsEntity = defineEntity({
  name: 'TenantBudgetsRow',
  tableName: 'tenant_budgets',
  properties: {
    tenantId: p.string().primary(),
    budgets: p.json<Record<string, unknown>[]>(),
    crossings: p.json<Record<string, unknown>>(),
    updatedAt: p.datetime(),
    position: p.bigint('string'),
  },
});

export const CheckpointEntity = defineEntity({
  name: 'CheckpointRow',
  tableName: 'projection_checkpoints',
  properties: {
    name: p.string().primary(),
    position: p.bigint('string'),
    rebuilding: p.boolean(),
    updatedAt: p.datetime(),
  },
});

export type ClusterRow = InstanceType<typeof ClusterEntity.class>;
export type ClusterAgentRow = InstanceType<typeof ClusterAgentEntity.class>;
export type BlueprintRow = InstanceType<typeof BlueprintEntity.class>;
export type BlueprintVersionRow = InstanceType<typeof BlueprintVersionEntity.class>;
export type NodeRow = InstanceType<typeof NodeEntity.class>;
export type PlacementRow = InstanceType<typeof PlacementEntity.class>;
export type ClusterEventRow = InstanceType<typeof ClusterEventEntity.class>;
export type ClusterMetricRow = InstanceType<typeof ClusterMetricEntity.class>;
export type CheckpointRow = InstanceType<typeof CheckpointEntity.class>;
export type ApiKeyRow = InstanceType<typeof ApiKeyEntity.class>;
export type TenantBudgetsRow = InstanceType<typeof TenantBudgetsEntity.class>;

export const READ_MODEL_ENTITIES = [
  ClusterEntity,
  ClusterAgentEntity,
  BlueprintEntity,
  BlueprintVersionEntity,
  NodeEntity,
  PlacementEntity,
  ClusterEventEntity,
  ClusterMetricEntity,
  ApiKeyEntity,
  TenantBudgetsEntity,
  CheckpointEntity,
];
