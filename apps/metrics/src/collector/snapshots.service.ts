import { Inject, Injectable } from '@nestjs/common';
import type { ClusterSnapshot } from '@flotilla/contracts';
import { backlogTrend, clusterHealth, NotFoundError, type HealthStatus } from '@flotilla/domain';
import {
  ClusterEntity,
  desiredAgentsOf,
  type ClusterRow,
  type ReadModelOrm,
} from '@flotilla/projections';
import { TaskQueues } from '@flotilla/tasks';
import { Messaging } from '@flotilla/messaging';
import { READ_MODELS } from '../tokens.js';
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

/**
 * A cluster's state of the moment: counts from the read models, queue depth from the JetStream
 * consumers (per priority), busy agents, latency and errors from node telemetry, CPU and memory
 * of the nodes its agents run on, and the domain's health score over all of it.
 */
@Injectable()
export class Snapshots {
  private readonly queues: TaskQueues;

  constructor(
    messaging: Messaging,
    private readonly live: LiveState,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
  ) {
    this.queues = new TaskQueues(messaging);
  }

  async row(clusterId: string, tenantId?: string): Promise<ClusterRow> {
    const row = (await this.orm.em
      .fork()
      .findOne(ClusterEntity, { id: clusterId } as never)) as ClusterRow | null;
    if (!row || (tenantId && row.tenantId !== tenantId))
      throw NotFoundError.of('cluster', clusterId);
    return row;
  }

  async activeClusters(): Promise<ClusterRow[]> {
    return (await this.orm.em
      .fork()
      .find(ClusterEntity, { status: { $ne: 'decommissioned' } } as never)) as ClusterRow[];
  }

  async take(row: ClusterRow, drain: boolean): Promise<SnapshotDetails> {
    const em = this.orm.em.fork();
    const agents = await em.execute<
      { id: string; role: string; state: string; node_id: string | null; capabilities: string[] }[]
    >(
      `SELECT id, role, state, node_id, capabilities FROM cluster_agents WHERE cluster_id = ? AND state <> 'stopped'`,
      [row.id],
    );
    const capabilities = [null, ...new Set(agents.flatMap((a) => a.capabilities))];
    const queue = await this.queues
      .depth(row.id, capabilities)
      .catch(() => ({ high: 0, normal: 0, low: 0, in_flight: 0 }));
    const busy = this.live.busyAgents(row.id);
    const running = agents.filter((a) => a.state === 'idle');
    const workers = running.filter((a) => a.role === 'worker').length;
    const nodeIds = new Set(running.map((a) => a.node_id).filter((n): n is string => !!n));
    const usage = this.live.nodeUsage(nodeIds);
    const outcomes = this.live.outcomes(row.id, drain);
    const minutes = Math.max(1 / 60, (Date.now() - outcomes.since) / 60_000);
    const finished = outcomes.completed + outcomes.failed;
    const latencies = outcomes.latencies.sort((a, b) => a - b);
    const total = queue.high + queue.normal + queue.low;
    const recent = await em.execute<{ at: Date; queue_depth: number }[]>(
      `SELECT at, queue_depth FROM cluster_metrics WHERE cluster_id = ? AND resolution = 'raw' ORDER BY at DESC LIMIT 12`,
      [row.id],
    );
    const trend = backlogTrend([
      ...recent.map((r) => ({
        at: new Date(r.at).toISOString(),
        queueDepth: Number(r.queue_depth),
      })),
      { at: new Date().toISOString(), queueDepth: total },
    ]);
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
      at: new Date().toISOString(),
      status: row.status,
      min_workers: row.minWorkers,
      max_workers: row.maxWorkers,
      target_workers: row.targetWorkers,
      workers,
      policy: row.policy,
      last_scale_up_at: iso(row.lastScaleUpAt),
      last_scale_down_at: iso(row.lastScaleDownAt),
      queue: { total, ...queue },
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

  async persist(s: ClusterSnapshot): Promise<void> {
    await this.orm.em.fork().execute(
      `INSERT INTO cluster_metrics (cluster_id, tenant_id, at, resolution, queue_depth, queue_high, queue_normal, queue_low, agents_active, agents_idle,
         agents_busy, agents_failed, workers, tasks_per_minute, latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, cpu_percent, memory_percent, health_score, samples)
       VALUES (?, ?, ?, 'raw', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      [
        s.cluster_id,
        s.tenant_id,
        s.at,
        s.queue.total,
        s.queue.high,
        s.queue.normal,
        s.queue.low,
        s.agents.active,
        s.agents.idle,
        s.agents.busy,
        s.agents.failed,
        s.workers,
        s.tasks_per_minute,
        s.latency_ms.p50,
        s.latency_ms.p95,
        s.latency_ms.p99,
        s.error_rate,
        s.cpu_percent,
        s.memory_percent,
        s.health.score,
      ],
    );
  }
}
