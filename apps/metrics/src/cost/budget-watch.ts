import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { orchestratorRoutes } from '@flotilla/contracts';
import { RuleViolationError, type BudgetPeriod, type ResolvedBudget, type ResolvedPricing } from '@flotilla/domain';
import { Messaging } from '@flotilla/messaging';
import { CONFIG, LOGGER, METRICS_REGISTRY } from '@flotilla/platform';
import type { ClusterRow } from '@flotilla/projections';
import { promClient, type Gauge, type Logger, type Registry } from '@flotilla/telemetry';
import { FleetMirror } from '../collector/fleet-mirror.js';
import { Costs } from './costs.service.js';

/**
 * Budgets (the `budget-watch` singleton loop, one metrics replica): every BUDGET_CHECK_INTERVAL_MS
 * it computes the spend of each cluster that has budgets over each budget's period (agent-hours
 * and tokens, as `GET /api/clusters/{id}/cost` answers it), exports it, and reports each budget
 * reached to the orchestrator, which records the crossing (BudgetExceeded, with the figures) and
 * acts on it: warn records it, throttle refuses the cluster's tasks with 429, scale_down scales it
 * to its minimum and holds the autoscaler, failover sends its tasks to its backup cluster, each
 * until the period ends. A crossing is reported once per period (the cluster refuses a repeat
 * anyway).
 *
 * Tenant budgets (`PUT /api/tenants/{id}/budgets`) are checked the same way against the tenant's
 * spend in the budget's currency over all its clusters (as `GET /api/cost` answers it). A tenant
 * budget reached is reported at every check while it stays reached, so a cluster the tenant creates
 * later in the period takes the action too (the orchestrator records the crossing once, and each
 * cluster applies it once).
 */
@Injectable()
export class BudgetWatch {
  /** Per cluster and budget, the period whose crossing was reported (one entry each). */
  private readonly reported = new Map<string, string>();
  private readonly spent: Gauge<string>;
  private readonly exceeded: Gauge<string>;
  private readonly tenantSpent: Gauge<string>;
  private readonly tenantExceeded: Gauge<string>;

  constructor(
    private readonly costs: Costs,
    private readonly mirror: FleetMirror,
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.spent = new promClient.Gauge({ name: 'flotilla_cluster_budget_spent_ratio', help: "A budget's spend over its amount in its current period", labelNames: ['cluster', 'budget', 'action'], registers: [registry] });
    this.exceeded = new promClient.Gauge({ name: 'flotilla_cluster_budget_exceeded', help: '1 while a budget is crossed in its current period', labelNames: ['cluster', 'budget', 'action'], registers: [registry] });
    this.tenantSpent = new promClient.Gauge({ name: 'flotilla_tenant_budget_spent_ratio', help: "A tenant budget's spend over its amount in its current period", labelNames: ['tenant', 'budget', 'action'], registers: [registry] });
    this.tenantExceeded = new promClient.Gauge({ name: 'flotilla_tenant_budget_exceeded', help: '1 while a tenant budget is crossed in its current period', labelNames: ['tenant', 'budget', 'action'], registers: [registry] });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.mirror.whenReady();
    while (!signal.aborted) {
      try {
        await this.check(new Date());
      } catch (err) {
        if (!signal.aborted) this.logger.warn({ err }, 'budget check failed');
      }
      await delay(this.config.BUDGET_CHECK_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  async check(now: Date): Promise<void> {
    await this.checkClusters(now);
    await this.checkTenants(now);
  }

  private async checkTenants(now: Date): Promise<void> {
    for (const { tenantId, budgets } of await this.costs.tenantBudgets()) {
      const byPeriod = new Map<BudgetPeriod, Awaited<ReturnType<Costs['tenantCost']>>>();
      for (const period of new Set(budgets.map((b) => b.period))) byPeriod.set(period, await this.costs.tenantCost(tenantId, undefined, period, now));
      for (const [i, budget] of budgets.entries()) {
        const cost = byPeriod.get(budget.period)!;
        const total = cost.totals.find((t) => t.currency === budget.currency)?.total_cost ?? 0;
        const labels = { tenant: tenantId, budget: String(i), action: budget.action };
        this.tenantSpent.set(labels, total / budget.amount);
        this.tenantExceeded.set(labels, total >= budget.amount ? 1 : 0);
        if (total < budget.amount) continue;
        try {
          const r = await this.messaging.request(
            orchestratorRoutes.recordTenantBudgetCrossing,
            { tenant_id: tenantId, budget: i, period_start: cost.from, spent: total },
            { identity: { actor: 'metrics', tenantId, role: 'service' }, timeoutMs: this.config.REQUEST_TIMEOUT_MS * 3 },
          );
          if (r.recorded || r.clusters.length) this.logger.info({ tenantId, budget: i, spent: total, clusters: r.clusters }, 'tenant budget reached: reported');
        } catch (err) {
          if (err instanceof RuleViolationError && err.rule === 'budget_period_over') continue;
          throw err;
        }
      }
    }
  }

  /** Every budgeted cluster's spend, two queries per period in use whatever their number. */
  private async checkClusters(now: Date): Promise<void> {
    const budgeted = this.mirror.clusters().filter((c) => ((c.budgets ?? []) as unknown[]).length > 0);
    if (budgeted.length === 0) return;
    const spend = new Map<string, { total: number; from: string }>();
    const periods = new Set(budgeted.flatMap((c) => (c.budgets as unknown as ResolvedBudget[]).map((b) => b.period)));
    for (const period of periods) {
      const costs = await this.costs.costsOf(budgeted.map((c) => ({ id: c.id, pricing: (c.pricing ?? undefined) as ResolvedPricing | undefined })), undefined, period, now, now);
      for (const c of costs) spend.set(`${c.cluster_id}/${period}`, { total: c.total_cost, from: c.from });
    }
    for (const cluster of budgeted) {
      for (const [i, budget] of (cluster.budgets as unknown as ResolvedBudget[]).entries()) {
        const { total, from } = spend.get(`${cluster.id}/${budget.period}`)!;
        const labels = { cluster: cluster.id, budget: String(i), action: budget.action };
        this.spent.set(labels, total / budget.amount);
        const crossed = total >= budget.amount;
        this.exceeded.set(labels, crossed ? 1 : 0);
        const key = `${cluster.id}/${i}`;
        if (!crossed || this.reported.get(key) === from) continue;
        if (await this.report(cluster, i, from, total)) this.reported.set(key, from);
      }
    }
  }

  private async report(cluster: ClusterRow, budget: number, periodStart: string, spent: number): Promise<boolean> {
    try {
      await this.messaging.request(
        orchestratorRoutes.recordBudgetCrossing,
        { cluster_id: cluster.id, budget, period_start: periodStart, spent },
        { identity: { actor: 'metrics', tenantId: cluster.tenantId, role: 'service' }, timeoutMs: this.config.REQUEST_TIMEOUT_MS * 3 },
      );
      this.logger.info({ clusterId: cluster.id, budget, spent }, 'budget reached: reported');
      return true;
    } catch (err) {
      // The period turned between the spend's reading and the report: the next check reads again.
      if (err instanceof RuleViolationError && err.rule === 'budget_period_over') return false;
      throw err;
    }
  }
}
