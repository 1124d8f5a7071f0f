import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  metricsRoutes as r,
  type RouteRequestParsed,
  spansAllTenants,
} from '@flotilla/contracts';
import { NotFoundError, UnauthenticatedError, ValidationError } from '@flotilla/domain';
import type { EventStore } from '@flotilla/eventstore';
import type { NatsRequestContext, RequestMeta } from '@flotilla/messaging';
import { EVENT_STORE } from '@flotilla/platform';
import { withTenant, type ReadModelOrm } from '@flotilla/projections';
import { healthViewOf, Snapshots } from './collector/snapshots.service.js';
import { READ_MODELS } from './tokens.js';
import { Costs } from './cost/costs.service.js';

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
    private readonly costs: Costs,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  @MessagePattern(r.clusterMetrics.subject)
  async series(@Payload() req: Req<'clusterMetrics'>, @Ctx() ctx: NatsRequestContext) {
    const cluster = await this.snapshots.row(req.id, tenantOf(ctx.meta));
    const since = req.since ? new Date(req.since) : new Date(Date.now() - 3_600_000);
    // Row-level security as the second wall behind the cluster check above.
    const rows = await withTenant(this.orm, tenantOf(ctx.meta), (em) =>
      em.execute<Record<string, unknown>[]>(
        `SELECT * FROM cluster_metrics WHERE cluster_id = ? AND at >= ? ORDER BY at ASC LIMIT ?`,
        [req.id, since, req.limit],
      ),
    );
    const today = await this.costs.clusterCost(cluster, tenantOf(ctx.meta), 'day', new Date());
    return {
      cluster_id: req.id,
      cost_today: { currency: today.currency, agent_cost: today.agent_cost, token_cost: today.token_cost, total_cost: today.total_cost },
      by_version: today.by_version,
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
    const tenant = tenantOf(ctx.meta);
    const row = await this.snapshots.row(req.id, tenant);
    if (req.at !== undefined) return this.healthAt(req.id, req.at, tenant);
    return healthViewOf(await this.snapshots.takeNow(row));
  }

  /**
   * The health as the endpoint answered it at the last snapshot recorded by `at` (a time, or a
   * log position: the time of that event). Its `at` is that snapshot's.
   */
  private async healthAt(id: string, at: string, tenant: string | undefined) {
    const time = /^\d+$/.test(at) ? await this.timeOfPosition(BigInt(at)) : new Date(at);
    const [raw] = await withTenant(this.orm, tenant, (em) =>
      em.execute<{ at: Date; health: Record<string, unknown> }[]>(
        `SELECT at, health FROM cluster_metrics WHERE cluster_id = ? AND resolution = 'raw' AND health IS NOT NULL AND at <= ? ORDER BY at DESC LIMIT 1`,
        [id, time],
      ),
    );
    if (!raw) throw new NotFoundError(`no health of cluster '${id}' was recorded by ${time.toISOString()}`, { kind: 'health', id });
    return { cluster_id: id, ...raw.health, at: new Date(raw.at).toISOString() };
  }

  private async timeOfPosition(position: bigint): Promise<Date> {
    const [event] = position > 0n ? await this.store.readAll({ after: position - 1n, limit: 1 }) : [];
    if (!event || event.position !== position) throw new NotFoundError(`no event at log position ${position}`, { kind: 'position', id: position.toString() });
    return event.occurredAt;
  }

  @MessagePattern(r.clusterCost.subject)
  async cost(@Payload() req: Req<'clusterCost'>, @Ctx() ctx: NatsRequestContext) {
    const tenant = tenantOf(ctx.meta);
    const row = await this.snapshots.row(req.id, tenant);
    return this.costs.clusterCost(row, tenant, req.period, req.at ? new Date(req.at) : new Date());
  }

  @MessagePattern(r.clusterVersions.subject)
  async versions(@Payload() req: Req<'clusterVersions'>, @Ctx() ctx: NatsRequestContext) {
    const tenant = tenantOf(ctx.meta);
    await this.snapshots.row(req.id, tenant);
    const since = req.since ? new Date(req.since) : new Date(Date.now() - 86_400_000);
    return { cluster_id: req.id, since: since.toISOString(), versions: await this.costs.versions(req.id, tenant, since) };
  }

  @MessagePattern(r.clusterTasks.subject)
  async tasks(@Payload() req: Req<'clusterTasks'>, @Ctx() ctx: NatsRequestContext) {
    const tenant = tenantOf(ctx.meta);
    await this.snapshots.row(req.id, tenant);
    const since = req.since ? new Date(req.since) : new Date(Date.now() - 7 * 86_400_000);
    return { cluster_id: req.id, blueprint_version: req.blueprint_version ?? null, tasks: await this.costs.tasks(req.id, tenant, req.blueprint_version, since, req.limit) };
  }

  @MessagePattern(r.tenantCost.subject)
  async tenantCost(@Payload() req: Req<'tenantCost'>, @Ctx() ctx: NatsRequestContext) {
    const own = tenantOf(ctx.meta);
    // A tenant's identity reads its own costs; the platform names the tenant it reads.
    const tenantId = own ?? req.tenant_id;
    if (!tenantId) throw ValidationError.of([{ path: 'tenant_id', message: 'required for a platform identity: the tenant whose costs to read' }], 'request');
    if (own && req.tenant_id && req.tenant_id !== own) throw NotFoundError.of('tenant', req.tenant_id);
    return this.costs.tenantCost(tenantId, own, req.period, req.at ? new Date(req.at) : new Date());
  }

  @MessagePattern(r.snapshotNow.subject)
  async snapshot(@Payload() req: Req<'snapshotNow'>, @Ctx() ctx: NatsRequestContext) {
    const row = await this.snapshots.row(req.id, tenantOf(ctx.meta));
    return (await this.snapshots.takeNow(row)).snapshot;
  }
}
