import { Inject, Injectable } from '@nestjs/common';
import { scalingReadingOf, type ClusterSnapshot } from '@flotilla/contracts';
import { backlogTrend, clusterHealth, NotFoundError, type HealthStatus } from '@flotilla/domain';
import {
  ClusterEntity,
  desiredAgentsOf,
  type ClusterRow,
  type ReadModelOrm,
} from '@flotilla/projections';
import { TaskQueues } from '@flotilla/tasks';
import { Messaging } from '@flotilla/messaging';
import type pg from 'pg';
import { PG_POOL } from '@flotilla/platform';
import { READ_MODELS } from '../tokens.js';
import { FleetMirror } from './fleet-mirror.js';
import { LiveState } from './live-state.js';

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 10) / 10;
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

export interface SnapshotDetails {
  readonly snapshot: ClusterSnapshot;
  readonly health: ReturnType<typeof clusterHealth>;
  readonly nodes: { node_id: string; health: HealthStatus | 'unknown'; score: number | null; reasons: string[] }[];
}

/** The health endpoint's answer for a snapshot (GET /api/clusters/{id}/health). */
export function healthViewOf(d: SnapshotDetails) {
  return {
    cluster_id: d.snapshot.cluster_id,
    score: d.health.score,
    status: d.health.status,
    components: { ...d.health.components },
    recommendations: d.health.recommendations.map((x) => ({ code: x.code, message: x.message })),
    nodes: d.nodes,
    at: d.snapshot.at,
  };
}

/** Queue depth by priority; `in_flight`: handed out to an agent, not yet acknowledged. */
export interface QueueDepth {
  readonly high: number;
  readonly normal: number;
  readonly low: number;
  readonly in_flight: number;
}

/** How many recent depths the backlog trend looks at. */
const TREND_POINTS = 12;

/**
 * A cluster's state of the moment: counts from the fleet mirror (the read models in memory),
 * queue depth from JetStream, busy agents, latency and errors from node telemetry, CPU and memory
 * of the nodes its agents run on, and the domain's health score over all of it. Building one
 * costs no I/O: the collector reads every queue's depth in one request per round and writes a
 * round's snapshots in one statement.
 */
@Injectable()
export class Snapshots {
  private readonly queues: TaskQueues;
  /** Recent queue depths per cluster (this replica's own snapshots), for the backlog trend. */
  private readonly recent = new Map<string, { at: string; queueDepth: number }[]>();

  constructor(
    messaging: Messaging,
    private readonly live: LiveState,
    private readonly mirror: FleetMirror,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {
    this.queues = new TaskQueues(messaging);
  }

  async row(clusterId: string, tenantId?: string): Promise<ClusterRow> {
    const row =
      this.mirror.cluster(clusterId) ??
      ((await this.orm.em.fork().findOne(ClusterEntity, { id: clusterId } as never)) as ClusterRow | null);
    if (!row || (tenantId && row.tenantId !== tenantId)) throw NotFoundError.of('cluster', clusterId);
    return row;
  }

  activeClusters(): ClusterRow[] {
    return this.mirror.clusters();
  }

  /** Every cluster's queue depth, in one request (see TaskQueues.depthAll). */
  depths(): Promise<Map<string, { high: number; normal: number; low: number }>> {
    return this.queues.depthAll();
  }

  /** One cluster's snapshot now, its queue read from its own consumers (an operator's request). */
  async takeNow(row: ClusterRow): Promise<SnapshotDetails> {
    const capabilities = [null, ...new Set(this.mirror.agents(row.id).flatMap((a) => a.capabilities))];
    const queue = await this.queues.depth(row.id, capabilities).catch(() => ({ high: 0, normal: 0, low: 0, in_flight: 0 }));
    return this.take(row, queue, false);
  }

  /**
   * The snapshot from a queue depth that counts everything the queues hold (waiting or handed
   * out): tasks in flight are as many as the agents telemetry says are busy, taken off the
   * highest priorities first (agents pull those first).
   */
  fromHeld(row: ClusterRow, held: { high: number; normal: number; low: number } | undefined): SnapshotDetails {
    const busy = this.live.busyAgents(row.id).size;
    let inFlight = Math.min(busy, (held?.high ?? 0) + (held?.normal ?? 0) + (held?.low ?? 0));
    const waiting = { high: held?.high ?? 0, normal: held?.normal ?? 0, low: held?.low ?? 0 };
    for (const p of ['high', 'normal', 'low'] as const) {
      const taken = Math.min(waiting[p], inFlight);
      waiting[p] -= taken;
      inFlight -= taken;
    }
    return this.take(row, { ...waiting, in_flight: Math.min(busy, (held?.high ?? 0) + (held?.normal ?? 0) + (held?.low ?? 0)) }, true);
  }

  take(row: ClusterRow, queue: QueueDepth, drain: boolean): SnapshotDetails {
    const agents = this.mirror.agents(row.id);
    const busy = this.live.busyAgents(row.id);
    const running = agents.filter((a) => a.state === 'idle');
    const workers = running.filter((a) => a.role === 'worker').length;
    const nodeIds = new Set(running.map((a) => a.nodeId).filter((n): n is string => !!n));
    const usage = this.live.nodeUsage(nodeIds);
    const outcomes = this.live.outcomes(row.id, drain);
    const minutes = Math.max(1 / 60, (Date.now() - outcomes.since) / 60_000);
    const finished = outcomes.completed + outcomes.failed;
    const latencies = outcomes.latencies.sort((a, b) => a - b);
    const total = queue.high + queue.normal + queue.low;
    const at = new Date().toISOString();
    const history = this.recent.get(row.id) ?? [];
    const trend = backlogTrend([...history, { at, queueDepth: total }]);
    if (drain) this.recent.set(row.id, [{ at, queueDepth: total }, ...history].slice(0, TREND_POINTS));
    const nodes = [...nodeIds].sort().map((id) => {
      const h = this.live.nodeHealth(id);
      return { node_id: id, health: h?.status ?? ('unknown' as const), score: h?.score ?? null, reasons: h?.reasons ?? [] };
    });
    const errorRate = finished ? outcomes.failed / finished : 0;
    const health = clusterHealth({
      desired: desiredAgentsOf(row),
      running: running.length,
      nodeHealths: nodes.filter((n) => n.health !== 'unknown').map((n) => n.health as HealthStatus),
      errorRate,
      backlogTrend: trend,
      queueDepth: total,
      workers,
      minWorkers: row.minWorkers,
      maxWorkers: row.maxWorkers,
      autoscalingEnabled: row.policy['enabled'] === true,
      circuit: row.circuit as 'closed' | 'open' | 'half_open',
    });
    const snapshot: ClusterSnapshot = {
      cluster_id: row.id,
      tenant_id: row.tenantId,
      at,
      status: row.status,
      min_workers: row.minWorkers,
      max_workers: row.maxWorkers,
      target_workers: row.targetWorkers,
      workers,
      policy: row.policy,
      last_scale_up_at: iso(row.lastScaleUpAt),
      last_scale_down_at: iso(row.lastScaleDownAt),
      queue: { total, high: queue.high, normal: queue.normal, low: queue.low, in_flight: queue.in_flight },
      agents: {
        active: running.length,
        busy: running.filter((a) => busy.has(a.id)).length,
        idle: running.filter((a) => !busy.has(a.id)).length,
        failed: agents.filter((a) => a.state === 'failed').length,
      },
      tasks_per_minute: Math.round((outcomes.completed / minutes) * 10) / 10,
      latency_ms: {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
      },
      error_rate: Math.round(errorRate * 1000) / 1000,
      cpu_percent: usage.cpu,
      memory_percent: usage.memory,
      health: { score: health.score, status: health.status },
    };
    return { snapshot, health, nodes };
  }

  /** A round's snapshots in one statement. */
  async persist(taken: readonly SnapshotDetails[]): Promise<void> {
    if (taken.length === 0) return;
    const rows = taken.map(({ snapshot: s, ...details }) => ({
      cluster_id: s.cluster_id,
      tenant_id: s.tenant_id,
      at: s.at,
      queue_depth: s.queue.total,
      queue_high: s.queue.high,
      queue_normal: s.queue.normal,
      queue_low: s.queue.low,
      agents_active: s.agents.active,
      agents_idle: s.agents.idle,
      agents_busy: s.agents.busy,
      agents_failed: s.agents.failed,
      workers: s.workers,
      tasks_per_minute: s.tasks_per_minute,
      latency_p50_ms: s.latency_ms.p50,
      latency_p95_ms: s.latency_ms.p95,
      latency_p99_ms: s.latency_ms.p99,
      error_rate: s.error_rate,
      cpu_percent: s.cpu_percent,
      memory_percent: s.memory_percent,
      health_score: s.health.score,
      scaling: scalingReadingOf(s),
      health: (({ cluster_id: _id, at: _at, ...health }) => health)(healthViewOf({ snapshot: s, ...details })),
    }));
    await this.pool.query(
      `INSERT INTO cluster_metrics (cluster_id, tenant_id, at, resolution, queue_depth, queue_high, queue_normal, queue_low, agents_active, agents_idle,
         agents_busy, agents_failed, workers, tasks_per_minute, latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, cpu_percent, memory_percent, health_score, samples, scaling, health)
       SELECT cluster_id, tenant_id, at, 'raw', queue_depth, queue_high, queue_normal, queue_low, agents_active, agents_idle,
         agents_busy, agents_failed, workers, tasks_per_minute, latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, cpu_percent, memory_percent, health_score, 1, scaling, health
         FROM jsonb_to_recordset($1::jsonb) AS r(cluster_id text, tenant_id text, at timestamptz, queue_depth int, queue_high int, queue_normal int, queue_low int,
           agents_active int, agents_idle int, agents_busy int, agents_failed int, workers int, tasks_per_minute float8, latency_p50_ms float8, latency_p95_ms float8,
           latency_p99_ms float8, error_rate float8, cpu_percent float8, memory_percent float8, health_score float8, scaling jsonb, health jsonb)`,
      [JSON.stringify(rows)],
    );
  }
}
