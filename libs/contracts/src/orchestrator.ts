import { z } from 'zod';
import { AGENT_STATES, CLUSTER_STATUSES, ROLLOUT_LIMITS, ROLLOUT_STATUSES, TENANT_BUDGETS_MAX, TenantBudgetSchema, CLUSTER_TYPES, clusterDescription, clusterName, reasonText, SCALING_DECISIONS, ScalingPolicyPatchSchema, workerCount } from '@flotilla/domain';
import { asOf, atFilter, dryRunFlag, idOf, isoTime, moment, page, position, queryBool, sinceFilter, waitFlag } from './common.js';
import { placementPreview } from './registry.js';
import { commandEnvelope, dryRunnable, route } from './route.js';

export const SEVERITIES = ['debug', 'info', 'warning', 'error'] as const;

// ---------------------------------------------------------------- views (replies)

export const blueprintView = z.object({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  latest_version: z.string(),
  status: z.enum(['active', 'deprecated']),
  created_at: isoTime,
  updated_at: isoTime,
});
export type BlueprintView = z.infer<typeof blueprintView>;

export const blueprintDetails = blueprintView.extend({
  description: z.string(),
  tags: z.array(z.string()),
  document: z.record(z.string(), z.unknown()),
  versions: z.array(z.object({ version: z.string(), hash: z.string(), created_at: isoTime })),
});

/** A rolling upgrade (or its undo): its limits, how far it got, and the wave in flight. */
export const rolloutView = z.object({
  rollout: z.number(),
  status: z.enum(ROLLOUT_STATUSES),
  undo: z.boolean(),
  from_version: z.string(),
  to_version: z.string(),
  max_surge: z.number(),
  max_unavailable: z.number(),
  pause_after: z.number().nullable(),
  /** Agents to replace when it started, and those replaced so far. */
  total: z.number(),
  replaced: z.number(),
  waves: z.number(),
  current_wave: z
    .object({
      wave: z.number(),
      started_at: isoTime,
      slots: z.array(z.object({ slot: z.string(), agent_id: z.string(), replaces: z.string(), mode: z.enum(['surge', 'stop_first']) })),
    })
    .nullable(),
  /** Why it started, paused or failed. */
  reason: z.string(),
  started_at: isoTime,
  updated_at: isoTime,
  ended_at: isoTime.nullable(),
});
export type RolloutView = z.infer<typeof rolloutView>;

export const clusterView = z.object({
  id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  description: z.string(),
  type: z.enum(CLUSTER_TYPES),
  status: z.enum(CLUSTER_STATUSES),
  blueprint_id: z.string(),
  blueprint_version: z.string(),
  min_workers: z.number(),
  max_workers: z.number(),
  target_workers: z.number(),
  current_workers: z.number(),
  desired_agents: z.number(),
  running_agents: z.number(),
  health_score: z.number().nullable(),
  circuit: z.enum(['closed', 'open', 'half_open']),
  degraded_reason: z.string().nullable(),
  backup_cluster: z.string().nullable(),
  policy: z.record(z.string(), z.unknown()),
  /** The last rolling upgrade; null before the first. */
  rollout: rolloutView.nullable().optional(),
  created_at: isoTime,
  updated_at: isoTime,
  /** The log position the view reflects (on `?at=` reads, and on live reads of one cluster). */
  as_of: asOf.optional(),
});
export type ClusterView = z.infer<typeof clusterView>;

export const agentView = z.object({
  id: z.string(),
  cluster_id: z.string(),
  name: z.string(),
  role: z.enum(['supervisor', 'lead', 'specialist', 'worker']),
  ordinal: z.number(),
  state: z.enum(AGENT_STATES),
  node_id: z.string().nullable(),
  capabilities: z.array(z.string()),
  runtime: z.record(z.string(), z.unknown()),
  reports_to: z.string().nullable(),
  spec_hash: z.string(),
  /** The blueprint version whose spec it runs (null for agents spawned before rollouts existed). */
  blueprint_version: z.string().nullable().optional(),
  reason: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});
export type AgentView = z.infer<typeof agentView>;

/** One position in the reporting tree (an agent instance, or a desired one still missing). */
export interface HierarchyNode {
  readonly name: string;
  readonly role: string;
  readonly ordinal: number;
  readonly agent_id: string | null;
  readonly state: string;
  readonly node_id: string | null;
  /** False for agents on their way out (beyond the target, or hibernating). */
  readonly desired: boolean;
  readonly children: readonly HierarchyNode[];
}
export const hierarchyNode: z.ZodType<HierarchyNode> = z.lazy(() =>
  z.object({
    name: z.string(),
    role: z.string(),
    ordinal: z.number(),
    agent_id: z.string().nullable(),
    state: z.string(),
    node_id: z.string().nullable(),
    desired: z.boolean(),
    children: z.array(hierarchyNode),
  }),
);

export const eventView = z.object({
  id: z.string(),
  position: position,
  type: z.string(),
  stream: z.string(),
  cluster_id: z.string().nullable(),
  severity: z.enum(SEVERITIES),
  actor: z.string(),
  tenant_id: z.string(),
  occurred_at: isoTime,
  data: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof eventView>;

/** A cluster field whose value differs between two moments, and the events that changed it. */
export const fieldChange = z.object({ field: z.string(), from: z.unknown(), to: z.unknown(), events: z.array(position) });
/** What happened to one agent between two moments: added, stopped, failed, moved, state. */
export const agentChange = z.object({
  agent_id: z.string(),
  name: z.string(),
  role: z.string(),
  ordinal: z.number(),
  changes: z.array(z.enum(['added', 'stopped', 'failed', 'moved', 'state'])),
  from_state: z.string().nullable(),
  to_state: z.string().nullable(),
  from_node: z.string().nullable(),
  to_node: z.string().nullable(),
  events: z.array(position),
});
export const clusterDiff = z.object({
  cluster_id: z.string(),
  from: asOf,
  to: asOf,
  changes: z.array(fieldChange),
  agents: z.array(agentChange),
  events: z.array(z.object({ position, revision: position, type: z.string(), occurred_at: z.string(), actor: z.string() })),
});
export type ClusterDiff = z.infer<typeof clusterDiff>;

/** One track of a scaling replay: its figures and its decisions. */
export const scalingOutcome = z.object({
  scale_events: z.number(),
  flaps: z.number(),
  minutes_above_queue_threshold: z.number(),
  worker_minutes: z.number(),
  timeline: z.array(z.object({ at: z.string(), decision: z.string(), target: z.number(), rule: z.string(), reason: z.string() })),
});

/**
 * A what-if replay of a scaling policy over a cluster's recorded load: `recorded` is what the
 * autoscaler did (the ScalingDecided events of the range), `candidate` what the candidate
 * policy would have done. `reproduced` says whether replaying the recorded policy gives the
 * recorded decisions (the replay's own check).
 */
export const simulation = z.object({
  cluster_id: z.string(),
  from: z.string(),
  to: z.string(),
  samples: z.number(),
  samples_without_reading: z.number(),
  reproduced: z.boolean(),
  diverged_at: z.string().nullable(),
  policy: z.object({ recorded: z.record(z.string(), z.unknown()), candidate: z.record(z.string(), z.unknown()) }),
  recorded: scalingOutcome,
  candidate: scalingOutcome,
});
export type Simulation = z.infer<typeof simulation>;

/** An event a dry run would have appended: its type, the tenant it would be recorded as, its data. */
export const plannedEvent = z.object({
  type: z.string(),
  tenant_id: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type PlannedEvent = z.infer<typeof plannedEvent>;

/**
 * What every command answers: the resulting view, the log position of its events, their types;
 * `read_models_behind` when `wait` was asked and the read models had not shown the events within
 * READ_YOUR_WRITES_TIMEOUT_MS (the command is stored all the same: REST answers 202). A dry run
 * answers `dry_run: true`, the view the command would lead to, no position, and in `planned`
 * the events it would append (none is stored).
 */
const commandReply = <T extends z.ZodType>(view: T) =>
  commandEnvelope(z.object({
    result: view,
    position: position.nullable(),
    events: z.array(z.string()),
    duplicate: z.boolean(),
    read_models_behind: z.boolean().optional(),
    dry_run: z.boolean().optional(),
    planned: z.array(plannedEvent).optional(),
    /** A dry run that would place agents: where each would go with the cluster's constraints. */
    plan: placementPreview.optional(),
  }));

// ---------------------------------------------------------------- requests

const byId = (kind: 'cluster' | 'blueprint') => ({ id: idOf(kind) });

export const registerBlueprintRequest = z.strictObject({
  /** The blueprint as YAML or JSON text, or as an already parsed object. */
  document: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  format: z.enum(['yaml', 'json']).optional(),
  ...waitFlag,
});

export const scalingPolicyPatch = z.record(z.string(), z.unknown());

export const createClusterRequest = dryRunnable(z
  .strictObject({
    /** A client-chosen id (a DNS label such as `marketing-prod`, or a TypeID); generated when absent. */
    id: idOf('cluster').optional(),
    /** The earlier name of `id`, still accepted. */
    cluster_id: idOf('cluster').optional(),
    blueprint_id: idOf('blueprint'),
    blueprint_version: z.string().optional(),
    name: clusterName,
    description: clusterDescription.optional(),
    type: z.enum(CLUSTER_TYPES).optional(),
    target_workers: workerCount.optional(),
    environment: z.enum(['development', 'staging', 'production']).optional(),
    ...waitFlag,
    ...dryRunFlag,
  })
  .superRefine((r, ctx) => {
    if (r.id !== undefined && r.cluster_id !== undefined && r.id !== r.cluster_id)
      ctx.addIssue({ code: 'custom', path: ['cluster_id'], message: 'an alias of id: give one of them, or the same value' });
  })
  .transform(({ id, cluster_id, ...rest }) => ({ ...rest, cluster_id: id ?? cluster_id })));

export const updateClusterRequest = dryRunnable(z.strictObject({
  ...byId('cluster'),
  name: clusterName.optional(),
  description: clusterDescription.optional(),
  min_workers: workerCount.optional(),
  max_workers: workerCount.optional(),
  policy: scalingPolicyPatch.optional(),
  ...waitFlag,
  ...dryRunFlag,
}));

export const scaleClusterRequest = dryRunnable(z.strictObject({
  ...byId('cluster'),
  target_workers: workerCount,
  reason: reasonText.optional(),
  ...waitFlag,
  ...dryRunFlag,
}));

/** A rolling upgrade to another version of the cluster's blueprint. */
export const upgradeClusterRequest = dryRunnable(z.strictObject({
  ...byId('cluster'),
  blueprint_version: z.string().min(1, 'expected a version').max(64),
  /** New agents started beside the old ones per wave (default 1). */
  max_surge: z.number().int().min(0).max(ROLLOUT_LIMITS.maxSurge).default(1),
  /** Old agents stopped before their replacement runs, per wave (default 0). */
  max_unavailable: z.number().int().min(0).max(ROLLOUT_LIMITS.maxUnavailable).default(0),
  /** Pause after this many waves (a canary), until resumed. */
  pause_after: z.number().int().min(1).max(ROLLOUT_LIMITS.pauseAfter).optional(),
  reason: reasonText.optional(),
  ...waitFlag,
  ...dryRunFlag,
}).refine((d) => d.max_surge + d.max_unavailable > 0, { path: ['max_surge'], message: 'max_surge and max_unavailable cannot both be 0' }));

/** A rollout's progress: the view, and the cluster's agents per blueprint version. */
export const rolloutStatusView = z.object({
  cluster_id: z.string(),
  blueprint_version: z.string(),
  rollout: rolloutView.nullable(),
  /** Live agents per version: how many, and how many run (serve). */
  versions: z.array(z.object({ version: z.string(), agents: z.number(), running: z.number(), workers_running: z.number() })),
  /** Agents still to replace (their slots run the version the rollout started from). */
  remaining: z.number(),
  as_of: asOf.optional(),
});

/** A tenant's budgets, and the last crossing of each. */
export const tenantBudgetsView = z.object({
  tenant_id: z.string(),
  budgets: z.array(z.object({ amount: z.number(), currency: z.string(), period: z.enum(['day', 'month']), action: z.enum(['warn', 'throttle', 'scale_down']) })),
  crossings: z.array(
    z.object({ budget: z.number(), period: z.enum(['day', 'month']), period_start: isoTime, amount: z.number(), spent: z.number(), currency: z.string(), action: z.string(), at: isoTime }),
  ),
  updated_at: isoTime.nullable(),
});
export type TenantBudgetsView = z.infer<typeof tenantBudgetsView>;

/** Hibernate, reactivate, decommission. */
export const clusterCommandRequest = dryRunnable(z.strictObject({
  ...byId('cluster'),
  reason: reasonText.optional(),
  ...waitFlag,
  ...dryRunFlag,
}));

export const listClustersRequest = z.strictObject({
  status: z.enum(CLUSTER_STATUSES).optional(),
  type: z.enum(CLUSTER_TYPES).optional(),
  blueprint_id: z.string().optional(),
  ...page,
});

export const clusterEventsRequest = z.strictObject({
  ...byId('cluster'),
  severity: z.enum(SEVERITIES).optional(),
  type: z.string().optional(),
  since: sinceFilter,
  after: position.optional(),
  ...page,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/**
 * A node agent's report, on its own node's subject (`orchestrator.agents.report.<nodeId>`): the
 * node is the subject's, which only that node's NATS user may publish. `node_id`, when given,
 * must name the same node (older agents sent it; it is never trusted on its own).
 */
export const agentReportRequest = z.strictObject({
  cluster_id: idOf('cluster'),
  agent_id: idOf('agent'),
  node_id: idOf('node').optional(),
  state: z.enum(['started', 'failed', 'stopped']),
  reason: reasonText.optional(),
});

export const scalingDecisionRequest = z.strictObject({
  cluster_id: idOf('cluster'),
  decision: z.enum(SCALING_DECISIONS),
  target: workerCount,
  reason: z.string(),
  rule: z.string(),
  inputs: z.record(z.string(), z.unknown()),
  /** The autoscaler leader's fencing term: a deposed leader's late decision is refused. */
  term: z.number().int().positive(),
});

// ---------------------------------------------------------------- routes

export const orchestratorRoutes = {
  registerBlueprint: route(
    'orchestrator',
    'orchestrator.blueprints.register',
    registerBlueprintRequest,
    commandReply(blueprintView),
    'Register a blueprint, or publish a new version of it.',
    'write',
  ),
  listBlueprints: route(
    'orchestrator',
    'orchestrator.blueprints.list',
    z.strictObject({ ...page }),
    z.object({ blueprints: z.array(blueprintView), total: z.number() }),
    'List blueprints.',
    'read',
  ),
  getBlueprint: route(
    'orchestrator',
    'orchestrator.blueprints.get',
    z.strictObject(byId('blueprint')),
    blueprintDetails,
    'One blueprint with its versions.',
    'read',
  ),
  deprecateBlueprint: route(
    'orchestrator',
    'orchestrator.blueprints.deprecate',
    z.strictObject({ ...byId('blueprint'), reason: z.string().default('deprecated'), ...waitFlag }),
    commandReply(blueprintView),
    'Deprecate a blueprint.',
    'write',
  ),

  createCluster: route(
    'orchestrator',
    'orchestrator.clusters.create',
    createClusterRequest,
    commandReply(clusterView),
    'Create a cluster from a blueprint.',
    'write',
  ),
  listClusters: route(
    'orchestrator',
    'orchestrator.clusters.list',
    listClustersRequest,
    z.object({ clusters: z.array(clusterView), total: z.number() }),
    'List clusters.',
    'read',
  ),
  getCluster: route(
    'orchestrator',
    'orchestrator.clusters.get',
    z.strictObject({ ...byId('cluster'), ...atFilter }),
    clusterView,
    'One cluster.',
    'read',
  ),
  updateCluster: route(
    'orchestrator',
    'orchestrator.clusters.update',
    updateClusterRequest,
    commandReply(clusterView),
    'Change name, description, bounds or policy.',
    'write',
  ),
  scaleCluster: route(
    'orchestrator',
    'orchestrator.clusters.scale',
    scaleClusterRequest,
    commandReply(clusterView),
    'Scale the worker pool to a target.',
    'write',
  ),
  hibernateCluster: route(
    'orchestrator',
    'orchestrator.clusters.hibernate',
    clusterCommandRequest,
    commandReply(clusterView),
    'Stop every worker (and fixed agents unless the blueprint keeps them).',
    'write',
  ),
  reactivateCluster: route(
    'orchestrator',
    'orchestrator.clusters.reactivate',
    clusterCommandRequest,
    commandReply(clusterView),
    'Bring a hibernated cluster back to its last target.',
    'write',
  ),
  upgradeCluster: route(
    'orchestrator',
    'orchestrator.clusters.upgrade',
    upgradeClusterRequest,
    commandReply(clusterView),
    "Roll the cluster's agents to another version of its blueprint, in waves.",
    'write',
  ),
  getRollout: route(
    'orchestrator',
    'orchestrator.clusters.rollout',
    z.strictObject({ ...byId('cluster') }),
    rolloutStatusView,
    "The cluster's last rollout and its agents per version.",
    'read',
  ),
  pauseRollout: route(
    'orchestrator',
    'orchestrator.clusters.rollout.pause',
    clusterCommandRequest,
    commandReply(clusterView),
    'Start no further wave of the rollout (the wave in flight completes).',
    'write',
  ),
  resumeRollout: route(
    'orchestrator',
    'orchestrator.clusters.rollout.resume',
    clusterCommandRequest,
    commandReply(clusterView),
    'Go on with a paused rollout.',
    'write',
  ),
  undoRollout: route(
    'orchestrator',
    'orchestrator.clusters.rollout.undo',
    clusterCommandRequest,
    commandReply(clusterView),
    'Roll back to the version the last rollout started from, in waves.',
    'write',
  ),
  decommissionCluster: route(
    'orchestrator',
    'orchestrator.clusters.decommission',
    clusterCommandRequest,
    commandReply(clusterView),
    'Stop every agent and retire the cluster.',
    'write',
  ),
  clusterAgents: route(
    'orchestrator',
    'orchestrator.clusters.agents',
    z.strictObject({
      ...byId('cluster'),
      state: z.enum(AGENT_STATES).optional(),
      include_stopped: queryBool(false),
      ...atFilter,
    }),
    z.object({ agents: z.array(agentView), total: z.number(), as_of: asOf.optional() }),
    "A cluster's agents.",
    'read',
  ),
  clusterHierarchy: route(
    'orchestrator',
    'orchestrator.clusters.hierarchy',
    z.strictObject({ ...byId('cluster'), ...atFilter }),
    z.object({ cluster_id: z.string(), root: hierarchyNode.nullable(), as_of: asOf.optional() }),
    'Supervisor → leads → specialists → workers.',
    'read',
  ),
  clusterEvents: route(
    'orchestrator',
    'orchestrator.clusters.events',
    clusterEventsRequest,
    z.object({ events: z.array(eventView), total: z.number() }),
    "A cluster's events (the audit trail).",
    'read',
  ),
  clusterDiff: route(
    'orchestrator',
    'orchestrator.clusters.diff',
    z.strictObject({ ...byId('cluster'), from: moment, to: moment.optional() }),
    clusterDiff,
    'What changed between two moments (`to` defaults to now): fields, agents, and the events that did it.',
    'read',
  ),
  simulateCluster: route(
    'orchestrator',
    'orchestrator.clusters.simulate',
    z.strictObject({
      ...byId('cluster'),
      /** The candidate: fields of the scaling policy to change (the rest stays the cluster's). */
      policy: ScalingPolicyPatchSchema.default({}),
      /** The recorded range (RFC 3339); default: the last hour. */
      from: sinceFilter,
      to: sinceFilter,
    }),
    simulation,
    "Replay a candidate scaling policy over the cluster's recorded load, beside what the autoscaler did.",
    'read',
  ),
  clusterManifest: route(
    'orchestrator',
    'orchestrator.clusters.manifest',
    z.strictObject(byId('cluster')),
    z.object({ cluster_id: z.string(), markdown: z.string() }),
    "The cluster's README and skills sheet, from its live state.",
    'read',
  ),

  reportAgent: route(
    'orchestrator',
    'orchestrator.agents.report.*',
    agentReportRequest,
    z.object({ recorded: z.array(z.string()) }),
    "A node agent reports that an agent started, failed or stopped (on its own node's subject; checked against the node's assignments).",
    'service',
  ),
  recordBudgetCrossing: route(
    'orchestrator',
    'orchestrator.budgets.record',
    z.strictObject({
      cluster_id: idOf('cluster'),
      /** The budget's index in the cluster's blueprint. */
      budget: z.number().int().min(0).max(7),
      period_start: z.string(),
      spent: z.number().min(0),
    }),
    commandReply(clusterView),
    "The metrics service found a budget's spend at its amount in the current period: recorded with the figures, and its action taken.",
    'service',
  ),
  setTenantBudgets: route(
    'orchestrator',
    'orchestrator.tenants.budgets.set',
    z.strictObject({ id: idOf('tenant'), budgets: z.array(TenantBudgetSchema).max(TENANT_BUDGETS_MAX, `expected at most ${TENANT_BUDGETS_MAX} budgets`) }),
    tenantBudgetsView,
    "Set a tenant's budgets (replacing the ones it had): spend per UTC day or month over all its clusters, and the action at the amount.",
    'admin',
  ),
  getTenantBudgets: route(
    'orchestrator',
    'orchestrator.tenants.budgets.get',
    z.strictObject({ id: idOf('tenant') }),
    tenantBudgetsView,
    "A tenant's budgets and their last crossings.",
    'read',
  ),
  recordTenantBudgetCrossing: route(
    'orchestrator',
    'orchestrator.tenants.budgets.record',
    z.strictObject({ tenant_id: idOf('tenant'), budget: z.number().int().min(0).max(TENANT_BUDGETS_MAX - 1), period_start: z.string(), spent: z.number().min(0) }),
    z.object({ tenant_id: z.string(), recorded: z.boolean(), clusters: z.array(z.string()) }),
    "The metrics service found a tenant's spend at one of its budgets: recorded with the figures, and every cluster of the tenant takes the action.",
    'service',
  ),
  applyScalingDecision: route(
    'orchestrator',
    'orchestrator.scaling.apply',
    scalingDecisionRequest,
    commandReply(clusterView),
    "The autoscaler's decision, recorded with its inputs and applied.",
    'service',
  ),
} as const;
