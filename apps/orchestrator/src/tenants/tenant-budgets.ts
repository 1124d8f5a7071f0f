import { Controller, Inject, Injectable } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type pg from 'pg';
import { CommandHandler } from '@flotilla/application';
import { orchestratorRoutes as r, spansAllTenants, type RouteRequestParsed, type RouteResponse, type TenantBudgetsView } from '@flotilla/contracts';
import { FlotillaError, NotFoundError, tenantDecider, tenantStream, type TenantState } from '@flotilla/domain';
import type { NatsRequestContext, RequestMeta } from '@flotilla/messaging';
import { LOGGER, PG_POOL } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { commandContext, identityOf, now } from '../infrastructure/request-context.js';

function view(tenantId: string, state: TenantState): TenantBudgetsView {
  if (state.status === 'none') return { tenant_id: tenantId, budgets: [], crossings: [], updated_at: null };
  return {
    tenant_id: tenantId,
    budgets: state.budgets.map((b) => ({ ...b })),
    crossings: Object.entries(state.crossings)
      .map(([budget, c]) => ({ budget: Number(budget), period: c.period, period_start: c.periodStart, amount: c.amount, spent: c.spent, currency: c.currency, action: c.action, at: c.at }))
      .sort((a, b) => a.budget - b.budget),
    updated_at: state.updatedAt,
  };
}

/**
 * Tenant budgets: a tenant's admin (or the platform) sets them; the metrics service's budget
 * watch reports each one reached; the crossing is recorded on the tenant's stream, and every
 * live cluster of the tenant takes the action (ApplyTenantBudget on each, with the tenant
 * aggregate's figures). A cluster created later in the period takes it at the watch's next report.
 */
@Injectable()
export class TenantBudgetsService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly clusters: ClustersService,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Another tenant's budgets are not found (nor are they said to exist). */
  private visible(tenantId: string, meta: RequestMeta): void {
    const identity = identityOf(meta);
    if (!spansAllTenants(identity) && identity.tenantId !== tenantId) throw NotFoundError.of('tenant', tenantId);
  }

  async get(tenantId: string, meta: RequestMeta): Promise<TenantBudgetsView> {
    this.visible(tenantId, meta);
    return view(tenantId, (await this.commands.load(tenantDecider, tenantStream(tenantId))).state);
  }

  async set(req: RouteRequestParsed<typeof r.setTenantBudgets>, meta: RequestMeta): Promise<TenantBudgetsView> {
    this.visible(req.id, meta);
    const result = await this.commands.handle(
      tenantDecider,
      tenantStream(req.id),
      { type: 'SetTenantBudgets', data: { tenantId: req.id, budgets: req.budgets, setBy: identityOf(meta).actor }, metadata: { now: now() } },
      commandContext(meta),
    );
    return view(req.id, result.state);
  }

  async record(req: RouteRequestParsed<typeof r.recordTenantBudgetCrossing>, meta: RequestMeta): Promise<RouteResponse<typeof r.recordTenantBudgetCrossing>> {
    const result = await this.commands.handle(
      tenantDecider,
      tenantStream(req.tenant_id),
      { type: 'RecordTenantBudgetCrossing', data: { budget: req.budget, periodStart: req.period_start, spent: req.spent }, metadata: { now: now() } },
      commandContext(meta),
    );
    const state = result.state;
    const crossing = state.status === 'active' ? state.crossings[String(req.budget)] : undefined;
    const applied: string[] = [];
    if (!crossing || crossing.action === 'warn') return { tenant_id: req.tenant_id, recorded: result.events.length > 0, clusters: applied };
    const { rows } = await this.pool.query<{ id: string }>(`SELECT id FROM clusters WHERE tenant_id = $1 AND status NOT IN ('decommissioning', 'decommissioned') ORDER BY id`, [req.tenant_id]);
    const action = crossing.action as 'throttle' | 'scale_down';
    const data = { budget: req.budget, period: crossing.period, periodStart: crossing.periodStart, amount: crossing.amount, spent: crossing.spent, currency: crossing.currency, action };
    for (const { id } of rows) {
      try {
        const reply = await this.clusters.command(id, { type: 'ApplyTenantBudget', data, metadata: { now: now() } }, meta);
        if (reply.events.length > 0) applied.push(id);
      } catch (err) {
        // One cluster that cannot take it (being decommissioned meanwhile) does not stop the others.
        if (!(err instanceof FlotillaError)) throw err;
        this.logger.warn({ err, clusterId: id, tenantId: req.tenant_id }, 'tenant budget not applied to a cluster');
      }
    }
    return { tenant_id: req.tenant_id, recorded: result.events.length > 0, clusters: applied };
  }
}

@Controller()
export class TenantBudgetsController {
  constructor(private readonly budgets: TenantBudgetsService) {}

  @MessagePattern(r.getTenantBudgets.subject)
  get(@Payload() req: RouteRequestParsed<typeof r.getTenantBudgets>, @Ctx() ctx: NatsRequestContext) {
    return this.budgets.get(req.id, ctx.meta);
  }

  @MessagePattern(r.setTenantBudgets.subject)
  set(@Payload() req: RouteRequestParsed<typeof r.setTenantBudgets>, @Ctx() ctx: NatsRequestContext) {
    return this.budgets.set(req, ctx.meta);
  }

  @MessagePattern(r.recordTenantBudgetCrossing.subject)
  record(@Payload() req: RouteRequestParsed<typeof r.recordTenantBudgetCrossing>, @Ctx() ctx: NatsRequestContext) {
    return this.budgets.record(req, ctx.meta);
  }
}
