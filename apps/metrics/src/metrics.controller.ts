import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  metricsRoutes as r,
  type RouteRequestParsed,
  spansAllTenants,
} from '@flotilla/contracts';
import { UnauthenticatedError } from '@flotilla/domain';
import type { NatsRequestContext, RequestMeta } from '@flotilla/messaging';
import { withTenant, type ReadModelOrm } from '@flotilla/projections';
import { Snapshots } from './collector/snapshots.service.js';
import { READ_MODELS } from './tokens.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

/** The caller's tenant; a request without identity headers never gets here (Messaging refuses it). */
function tenantOf(meta: RequestMeta): string | undefined {
  const identity = meta.identity;
  if (!identity) throw new UnauthenticatedError('a request without identity headers is refused', { subject: meta.subject });
  return spansAllTenants(identity) ? undefined : identity.tenantId;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

@Controller()
export class MetricsController {
  constructor(
    private readonly snapshots: Snapshots,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
  ) {}

  @MessagePattern(r.clusterMetrics.subject)
  async series(@Payload() req: Req<'clusterMetrics'>, @Ctx() ctx: NatsRequestContext) {
    await this.snapshots.row(req.id, tenantOf(ctx.meta));
    const since = req.since ? new Date(req.since) : new Date(Date.now() - 3_600_000);
    // Row-level security as the second wall behind the cluster check above.
    const rows = await withTenant(this.orm, tenantOf(ctx.meta), (em) =>
      em.execute<Record<string, unknown>[]>(
        `SELECT * FROM cluster_metrics WHERE cluster_id = ? AND at >= ? ORDER BY at ASC LIMIT ?`,
        [req.id, since, req.limit],
      ),
    );
    return {
      cluster_id: req.id,
      points: rows.map((p) => ({
        at: new Date(p['at'] as string).toISOString(),
        resolution: p['resolution'] as 'raw' | '1m',
        queue_depth: Number(p['queue_depth']),
        queue_high: Number(p['queue_high']),
        queue_normal: Number(p['queue_normal']),
        queue_low: Number(p['queue_low']),
        agents_active: Number(p['agents_active']),
        agents_idle: Number(p['agents_idle']),
        agents_busy: Number(p['agents_busy']),
        agents_failed: Number(p['agents_failed']),
        workers: Number(p['workers']),
        tasks_per_minute: Number(p['tasks_per_minute']),
        latency_p50_ms: num(p['latency_p50_ms']),
        latency_p95_ms: num(p['latency_p95_ms']),
        latency_p99_ms: num(p['latency_p99_ms']),
        error_rate: Number(p['error_rate']),
        cpu_percent: num(p['cpu_percent']),
        memory_percent: num(p['memory_percent']),
        health_score: num(p['health_score']),
      })),
    };
  }

  @MessagePattern(r.clusterHealth.subject)
  async health(@Payload() req: Req<'clusterHealth'>, @Ctx() ctx: NatsRequestContext) {
    const row = await this.snapshots.row(req.id, tenantOf(ctx.meta));
    const { health, nodes } = await this.snapshots.takeNow(row);
    return {
      cluster_id: req.id,
      score: health.score,
      status: health.status,
      components: { ...health.components },
      recommendations: health.recommendations.map((x) => ({ code: x.code, message: x.message })),
      nodes,
      at: new Date().toISOString(),
    };
  }

  @MessagePattern(r.snapshotNow.subject)
  async snapshot(@Payload() req: Req<'snapshotNow'>, @Ctx() ctx: NatsRequestContext) {
    const row = await this.snapshots.row(req.id, tenantOf(ctx.meta));
    return (await this.snapshots.takeNow(row)).snapshot;
  }
}
