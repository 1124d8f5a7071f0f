import { z } from 'zod';
import type { ScalingReading } from '@flotilla/domain';
import { atFilter, idOf, isoTime, sinceFilter } from './common.js';
import { route } from './route.js';

/** What a node agent publishes every second on `metrics.telemetry.<nodeId>` (core NATS). */
export const telemetry = z.object({
  node_id: z.string(),
  at: isoTime,
  interval_ms: z.number(),
  cpu_percent: z.number(),
  memory_percent: z.number(),
  agents: z.array(
    z.object({
      agent_id: z.string(),
      cluster_id: z.string(),
      role: z.string(),
      state: z.enum(['starting', 'idle', 'busy', 'failed', 'stopping']),
      tasks_completed: z.number().int().min(0),
      tasks_failed: z.number().int().min(0),
      /** Latencies (ms) of the tasks finished in this interval. */
      latencies_ms: z.array(z.number()).max(10_000),
    }),
  ),
});
export type Telemetry = z.infer<typeof telemetry>;

export const metricsSubjects = {
  telemetry: (nodeId: string) => `metrics.telemetry.${nodeId}`,
  telemetryAll: 'metrics.telemetry.*',
  /** One snapshot per cluster per interval, for the autoscaler (core NATS). */
  snapshot: (clusterId: string) => `metrics.snapshots.${clusterId}`,
  snapshots: 'metrics.snapshots.*',
} as const;

export const clusterSnapshot = z.object({
  cluster_id: z.string(),
  tenant_id: z.string(),
  at: isoTime,
  status: z.string(),
  min_workers: z.number(),
  max_workers: z.number(),
  target_workers: z.number(),
  workers: z.number(),
  policy: z.record(z.string(), z.unknown()),
  last_scale_up_at: isoTime.nullable(),
  last_scale_down_at: isoTime.nullable(),
  queue: z.object({
    total: z.number(),
    high: z.number(),
    normal: z.number(),
    low: z.number(),
    in_flight: z.number(),
  }),
  agents: z.object({ active: z.number(), idle: z.number(), busy: z.number(), failed: z.number() }),
  tasks_per_minute: z.number(),
  latency_ms: z.object({
    p50: z.number().nullable(),
    p95: z.number().nullable(),
    p99: z.number().nullable(),
  }),
  error_rate: z.number(),
  cpu_percent: z.number().nullable(),
  memory_percent: z.number().nullable(),
  health: z.object({ score: z.number(), status: z.string() }),
});
export type ClusterSnapshot = z.infer<typeof clusterSnapshot>;

/** What the autoscaler reads of a snapshot (and the metrics service records beside it, for replays). */
export function scalingReadingOf(s: ClusterSnapshot): ScalingReading {
  return {
    at: s.at,
    status: s.status,
    target: s.target_workers,
    min: s.min_workers,
    max: s.max_workers,
    policy: s.policy,
    lastScaleUpAt: s.last_scale_up_at,
    lastScaleDownAt: s.last_scale_down_at,
    queueDepth: s.queue.total + s.queue.in_flight,
    workers: s.workers,
    busyWorkers: s.agents.busy,
    errorRate: s.error_rate,
    cpu: s.cpu_percent,
  };
}

export const metricPoint = z.object({
  at: isoTime,
  resolution: z.enum(['raw', '1m']),
  queue_depth: z.number(),
  queue_high: z.number(),
  queue_normal: z.number(),
  queue_low: z.number(),
  agents_active: z.number(),
  agents_idle: z.number(),
  agents_busy: z.number(),
  agents_failed: z.number(),
  workers: z.number(),
  tasks_per_minute: z.number(),
  latency_p50_ms: z.number().nullable(),
  latency_p95_ms: z.number().nullable(),
  latency_p99_ms: z.number().nullable(),
  error_rate: z.number(),
  cpu_percent: z.number().nullable(),
  memory_percent: z.number().nullable(),
  health_score: z.number().nullable(),
});

export const healthView = z.object({
  cluster_id: z.string(),
  score: z.number(),
  status: z.enum(['healthy', 'warning', 'critical']),
  components: z.record(z.string(), z.number()),
  recommendations: z.array(z.object({ code: z.string(), message: z.string() })),
  nodes: z.array(
    // score: 1 = idle and fresh, 0 = saturated or silent (null until the node has reported).
    z.object({ node_id: z.string(), health: z.string(), score: z.number().nullable(), reasons: z.array(z.string()) }),
  ),
  at: isoTime,
});

/** A budget period: the UTC day or month holding `at` (now when absent). */
const costPeriod = {
  period: z.enum(['day', 'month']).default('day'),
  at: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a date-time, e.g. 2026-11-25T12:00:00Z')
    .optional(),
};

/** A blueprint version's share of the work: attempts, outcomes, latency, tokens and cost. */
export const versionMetrics = z.object({
  /** Null for attempts by agents placed before assignments carried their lineage. */
  blueprint_version: z.string().nullable(),
  attempts: z.number(),
  completed: z.number(),
  failed: z.number(),
  /** Failed attempts over all attempts. */
  error_rate: z.number(),
  latency_p50_ms: z.number().nullable(),
  latency_p95_ms: z.number().nullable(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  token_cost: z.number(),
  first_at: isoTime.nullable(),
  last_at: isoTime.nullable(),
});
export type VersionMetrics = z.infer<typeof versionMetrics>;

/** What a cluster cost in a period: its agents' hours and its tasks' tokens. */
export const clusterCost = z.object({
  cluster_id: z.string(),
  tenant_id: z.string(),
  currency: z.string(),
  period: z.enum(['day', 'month']),
  from: isoTime,
  to: isoTime,
  /** Hours its agents ran in the period (first start to stop, each), and what they cost. */
  agent_hours: z.number(),
  agent_cost: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  token_cost: z.number(),
  total_cost: z.number(),
  /** Agent-hours by role and runtime, at the price each ran at. */
  agents: z.array(z.object({ role: z.string(), runtime: z.string(), hours: z.number(), price_per_hour: z.number(), cost: z.number() })),
  by_version: z.array(versionMetrics),
});
export type ClusterCost = z.infer<typeof clusterCost>;

export const metricsRoutes = {
  clusterMetrics: route(
    'metrics',
    'metrics.clusters.series',
    z.strictObject({
      id: idOf('cluster'),
      since: sinceFilter,
      limit: z.coerce.number().int().min(1).max(10_000).default(500),
    }),
    z.object({
      cluster_id: z.string(),
      /** What the cluster cost so far today (UTC), in its pricing's currency. */
      cost_today: z.object({ currency: z.string(), agent_cost: z.number(), token_cost: z.number(), total_cost: z.number() }),
      /** Today's task metrics per blueprint version. */
      by_version: z.array(versionMetrics),
      points: z.array(metricPoint),
    }),
    "A cluster's metrics time series (raw for a day, 1-minute rollups after), with today's cost and its task metrics per blueprint version.",
    'read',
  ),
  clusterHealth: route(
    'metrics',
    'metrics.clusters.health',
    z.strictObject({ id: idOf('cluster'), ...atFilter }),
    healthView,
    "A cluster's health score, status and recommendations; with `at`, as recorded at the last snapshot by then.",
    'read',
  ),
  clusterCost: route(
    'metrics',
    'metrics.clusters.cost',
    z.strictObject({ id: idOf('cluster'), ...costPeriod }),
    clusterCost,
    "What a cluster cost in a UTC day or month: agent-hours from its agents' lifecycle events, tokens from its task attempts, at its blueprint's prices.",
    'read',
  ),
  clusterVersions: route(
    'metrics',
    'metrics.clusters.versions',
    z.strictObject({ id: idOf('cluster'), since: sinceFilter }),
    z.object({ cluster_id: z.string(), since: isoTime, versions: z.array(versionMetrics) }),
    "A cluster's task metrics per blueprint version (error rate, latency, tokens, cost) since `since` (default: a day ago): a rollout's effect, version against version.",
    'read',
  ),
  clusterTasks: route(
    'metrics',
    'metrics.clusters.tasks',
    z.strictObject({
      id: idOf('cluster'),
      blueprint_version: z.string().min(1).max(64).optional(),
      since: sinceFilter,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    z.object({
      cluster_id: z.string(),
      blueprint_version: z.string().nullable(),
      tasks: z.array(
        z.object({
          task_id: z.string(),
          /** The cluster the task was submitted to (another one when its circuit breaker sent it here). */
          task_cluster_id: z.string(),
          attempts: z.number(),
          outcome: z.enum(['completed', 'failed']),
          blueprint_versions: z.array(z.string().nullable()),
          first_started_at: isoTime,
          last_finished_at: isoTime,
          duration_ms: z.number(),
          input_tokens: z.number(),
          output_tokens: z.number(),
          cost: z.number(),
        }),
      ),
    }),
    "Tasks a cluster's agents ran, newest first, with `blueprint_version` those that version's agents ran (any attempt); each with its attempts, last outcome, tokens and cost.",
    'read',
  ),
  tenantCost: route(
    'metrics',
    'metrics.tenants.cost',
    z.strictObject({ tenant_id: idOf('tenant').optional(), ...costPeriod }),
    z.object({
      tenant_id: z.string(),
      period: z.enum(['day', 'month']),
      from: isoTime,
      to: isoTime,
      /** Totals per currency (clusters may price in different ones). */
      totals: z.array(z.object({ currency: z.string(), agent_cost: z.number(), token_cost: z.number(), total_cost: z.number() })),
      clusters: z.array(z.object({ cluster_id: z.string(), currency: z.string(), agent_cost: z.number(), token_cost: z.number(), total_cost: z.number() })),
    }),
    "What a tenant's clusters cost in a UTC day or month (the caller's tenant; the platform names one with `tenant_id`).",
    'read',
  ),
  snapshotNow: route(
    'metrics',
    'metrics.clusters.snapshot',
    z.strictObject({ id: idOf('cluster') }),
    clusterSnapshot,
    'Take a snapshot now (on demand).',
    'service',
  ),
} as const;
