import { type Instant, toMillis } from '../time.js';

export type HealthStatus = 'healthy' | 'warning' | 'critical';

export interface HealthReason {
  readonly code: string;
  readonly status: Exclude<HealthStatus, 'healthy'>;
  readonly message: string;
}

export interface NodeHealthInput {
  /** CPU utilisation in %. */
  readonly cpu: number;
  /** Memory utilisation in %. */
  readonly memory: number;
  /** Disk utilisation in %. */
  readonly disk: number;
  /** One-minute load average (divided by `cores` to compare). */
  readonly load: number;
  readonly cores: number;
  /** Time since the node's last heartbeat; omitted when unknown. */
  readonly heartbeatAgeMs?: number;
}

interface Band {
  readonly warning: number;
  readonly critical: number;
}

export interface NodeHealthThresholds {
  readonly cpu: Band;
  readonly memory: Band;
  readonly disk: Band;
  readonly loadPerCore: Band;
  readonly heartbeatAgeMs: Band;
}

export const DEFAULT_NODE_HEALTH_THRESHOLDS: NodeHealthThresholds = {
  cpu: { warning: 80, critical: 95 },
  memory: { warning: 85, critical: 95 },
  disk: { warning: 85, critical: 95 },
  loadPerCore: { warning: 1.5, critical: 3 },
  heartbeatAgeMs: { warning: 15_000, critical: 60_000 },
};

export interface NodeHealth {
  readonly status: HealthStatus;
  /** 1 = idle and fresh, 0 = saturated or silent. */
  readonly score: number;
  readonly reasons: readonly HealthReason[];
}

const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 1);
const finiteOr = (x: number, fallback: number): number => (Number.isFinite(x) ? x : fallback);

/** A node's health from its resource usage, load and heartbeat age. */
export function nodeHealth(input: NodeHealthInput, thresholds: NodeHealthThresholds = DEFAULT_NODE_HEALTH_THRESHOLDS): NodeHealth {
  const cores = input.cores > 0 ? input.cores : 1;
  const metrics = [
    { code: 'cpu', label: 'CPU', value: finiteOr(input.cpu, 100), band: thresholds.cpu, unit: '%', weight: 0.3 },
    { code: 'memory', label: 'memory', value: finiteOr(input.memory, 100), band: thresholds.memory, unit: '%', weight: 0.3 },
    { code: 'disk', label: 'disk', value: finiteOr(input.disk, 100), band: thresholds.disk, unit: '%', weight: 0.2 },
    { code: 'load', label: 'load per core', value: finiteOr(input.load, cores * 10) / cores, band: thresholds.loadPerCore, unit: '', weight: 0.2 },
  ];
  const reasons: HealthReason[] = [];
  let stress = 0;
  for (const m of metrics) {
    stress += m.weight * clamp01(m.value / m.band.critical);
    const shown = m.unit === '%' ? `${round(m.value)}%` : round(m.value).toString();
    if (m.value >= m.band.critical) {
      reasons.push({ code: `${m.code}_critical`, status: 'critical', message: `${m.label} at ${shown} (critical from ${m.band.critical}${m.unit})` });
    } else if (m.value >= m.band.warning) {
      reasons.push({ code: `${m.code}_high`, status: 'warning', message: `${m.label} at ${shown} (warning from ${m.band.warning}${m.unit})` });
    }
  }
  let score = 1 - stress;
  if (input.heartbeatAgeMs !== undefined) {
    const age = finiteOr(input.heartbeatAgeMs, Infinity);
    const band = thresholds.heartbeatAgeMs;
    score *= 1 - clamp01(age / band.critical);
    if (age >= band.critical) {
      reasons.push({ code: 'heartbeat_missing', status: 'critical', message: `no heartbeat for ${Math.round(age / 1000)} s (critical from ${band.critical / 1000} s)` });
    } else if (age >= band.warning) {
      reasons.push({ code: 'heartbeat_late', status: 'warning', message: `no heartbeat for ${Math.round(age / 1000)} s (warning from ${band.warning / 1000} s)` });
    }
  }
  const status: HealthStatus = reasons.some((r) => r.status === 'critical') ? 'critical' : reasons.length > 0 ? 'warning' : 'healthy';
  return { status, score: clamp01(score), reasons };
}

const round = (x: number): number => Math.round(x * 10) / 10;

export interface ClusterHealthInput {
  /** Agents the cluster should have now. */
  readonly desired: number;
  /** Of those, how many are running. */
  readonly running: number;
  /** Health of the nodes hosting the cluster's agents. */
  readonly nodeHealths: readonly HealthStatus[];
  /** Share of recent tasks that failed, in [0, 1]. */
  readonly errorRate: number;
  /** Queue growth in tasks per minute (positive: the backlog grows); see backlogTrend(). */
  readonly backlogTrend: number;
  readonly queueDepth?: number;
  readonly workers?: number;
  readonly minWorkers?: number;
  readonly maxWorkers?: number;
  readonly autoscalingEnabled?: boolean;
  readonly circuit?: 'closed' | 'open' | 'half_open';
}

export interface Recommendation {
  /** Stable identifier, e.g. `max_workers_reached`. */
  readonly code: string;
  readonly message: string;
}

export interface ClusterHealth {
  /** In [0, 1]; 1 is perfect. */
  readonly score: number;
  readonly status: HealthStatus;
  readonly components: { readonly availability: number; readonly nodes: number; readonly errors: number; readonly backlog: number };
  readonly recommendations: readonly Recommendation[];
}

/** Component weights of the cluster score; they sum to 1. */
export const CLUSTER_HEALTH_WEIGHTS = { availability: 0.4, nodes: 0.2, errors: 0.25, backlog: 0.15 } as const;

const NODE_VALUE: Readonly<Record<HealthStatus, number>> = { healthy: 1, warning: 0.5, critical: 0 };

/**
 * A cluster's health score from the share of desired agents running, the health of their nodes,
 * the error rate and the backlog trend, the status it maps to, and what an operator could do.
 * The score rises monotonically with the running share, all else equal.
 */
export function clusterHealth(input: ClusterHealthInput): ClusterHealth {
  const desired = Math.max(0, finiteOr(input.desired, 0));
  const running = Math.max(0, finiteOr(input.running, 0));
  const availability = desired === 0 ? 1 : clamp01(running / desired);
  const nodes = input.nodeHealths.length === 0 ? 1 : input.nodeHealths.reduce((sum, h) => sum + NODE_VALUE[h], 0) / input.nodeHealths.length;
  const errorRate = clamp01(finiteOr(input.errorRate, 0));
  const errors = 1 - clamp01(errorRate / 0.5);
  const trend = finiteOr(input.backlogTrend, 0);
  const perWorker = Math.max(1, input.workers ?? 1);
  const backlog = trend <= 0 ? 1 : 1 / (1 + trend / perWorker);
  const w = CLUSTER_HEALTH_WEIGHTS;
  const score = clamp01(w.availability * availability + w.nodes * nodes + w.errors * errors + w.backlog * backlog);

  let status: HealthStatus = score >= 0.8 ? 'healthy' : score >= 0.5 ? 'warning' : 'critical';
  if (desired > 0 && running === 0) status = 'critical';
  if (input.circuit === 'open' && status === 'healthy') status = 'warning';

  const recommendations: Recommendation[] = [];
  const workers = input.workers;
  const atMax = workers !== undefined && input.maxWorkers !== undefined && workers >= input.maxWorkers;
  if (atMax && trend > 0) {
    recommendations.push({ code: 'max_workers_reached', message: 'max_workers reached while backlog grows: raise max_workers' });
  } else if (trend > 0) {
    recommendations.push(
      input.autoscalingEnabled === false
        ? { code: 'backlog_growing', message: 'backlog grows and autoscaling is off: enable scaling or raise target_workers' }
        : { code: 'backlog_growing', message: 'backlog grows: expect the autoscaler to add workers; check its cooldowns if it does not' },
    );
  }
  if (running < desired) {
    recommendations.push({
      code: 'agents_not_running',
      message: `${desired - running} of ${desired} desired agents are not running: check failed agents and node capacity`,
    });
  }
  const critical = input.nodeHealths.filter((h) => h === 'critical').length;
  if (critical > 0) {
    recommendations.push({ code: 'nodes_critical', message: `${critical} node(s) hosting agents are critical: drain them or add capacity` });
  }
  if (errorRate > 0.1) {
    recommendations.push({ code: 'high_error_rate', message: `error rate ${Math.round(errorRate * 100)}% is above 10%: inspect failing tasks and the agents' runtimes` });
  }
  if (input.circuit === 'open') {
    recommendations.push({ code: 'circuit_open', message: 'circuit breaker open: tasks fail fast or go to the backup cluster' });
  }
  if (input.queueDepth === 0 && trend <= 0 && workers !== undefined && input.minWorkers !== undefined && workers > input.minWorkers && input.autoscalingEnabled === false) {
    recommendations.push({ code: 'idle_workers', message: 'workers idle above min_workers with autoscaling off: scale down or enable hibernation' });
  }
  return { score, status, components: { availability, nodes, errors, backlog }, recommendations };
}

/** Least-squares slope of queue depth over time, in tasks per minute (0 with fewer than two samples). */
export function backlogTrend(samples: readonly { readonly at: Instant; readonly queueDepth: number }[]): number {
  if (samples.length < 2) return 0;
  const xs = samples.map((s) => toMillis(s.at) / 60_000);
  const x0 = xs[0] as number;
  const n = samples.length;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  samples.forEach((s, i) => {
    const x = (xs[i] as number) - x0;
    sx += x;
    sy += s.queueDepth;
    sxx += x * x;
    sxy += x * s.queueDepth;
  });
  const denominator = n * sxx - sx * sx;
  return denominator === 0 ? 0 : (n * sxy - sx * sy) / denominator;
}
