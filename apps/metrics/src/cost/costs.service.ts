import { Inject, Injectable } from '@nestjs/common';
import type { ClusterCost, VersionMetrics } from '@flotilla/contracts';
import { agentHourPrice, agentSecondsCost, periodOf, roundCost, type AgentRole, type BudgetPeriod, type ResolvedPricing, type RuntimeKind, type TenantBudget } from '@flotilla/domain';
import { withTenant, type ClusterRow, type ReadModelOrm } from '@flotilla/projections';
import { READ_MODELS } from '../tokens.js';

type Row = Record<string, unknown>;
const n = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
const nullableNumber = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v) * 10) / 10);
const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());


/**
 * Cost and per-version metrics, read from the read models: agent-hours from `cluster_agents`
 * (each agent's first start to its stop, clipped to the period, priced by the cluster's blueprint
 * by role, else runtime, else the default), tokens and their cost from `task_attempts` (priced by
 * the node agent at the model's price when the attempt ran). Every query runs as the caller's
 * tenant under row-level security.
 */
@Injectable()
export class Costs {
  constructor(@Inject(READ_MODELS) private readonly orm: ReadModelOrm) {}

  async clusterCost(cluster: ClusterRow, tenant: string | undefined, period: BudgetPeriod, at: Date, now = new Date()): Promise<ClusterCost> {
    const { from, to } = periodOf(period, at);
    const pricing = (cluster.pricing ?? undefined) as ResolvedPricing | undefined;
    const until = to < now ? to : now;
    const [agentRows, versions] = await withTenant(this.orm, tenant, async (em) => [
      await em.execute<Row[]>(`${AGENT_SECONDS} WHERE cluster_id = ? ${AGENT_PERIOD}`, [until, until, from, cluster.id, until, from]),
      await this.versionRows(em, cluster.id, from, to),
    ]);
    const agents = agentLines(agentRows, pricing);
    const byVersion = versions.map(versionOf);
    const agentCost = roundCost(agents.reduce((s, a) => s + a.cost, 0));
    const tokenCost = roundCost(byVersion.reduce((s, v) => s + v.token_cost, 0));
    return {
      cluster_id: cluster.id,
      tenant_id: cluster.tenantId,
      currency: pricing?.currency ?? 'USD',
      period,
      from: from.toISOString(),
      to: to.toISOString(),
      agent_hours: roundCost(agents.reduce((s, a) => s + a.hours, 0)),
      agent_cost: agentCost,
      input_tokens: byVersion.reduce((s, v) => s + v.input_tokens, 0),
      output_tokens: byVersion.reduce((s, v) => s + v.output_tokens, 0),
      token_cost: tokenCost,
      total_cost: roundCost(agentCost + tokenCost),
      agents,
      by_version: byVersion,
    };
  }

  /**
   * What the tenant's clusters cost in the period (every cluster it had, decommissioned ones too):
   * three queries in one transaction whatever the number of clusters (the clusters, their
   * agent-seconds by role and runtime, their token cost).
   */
  async tenantCost(tenantId: string, tenant: string | undefined, period: BudgetPeriod, at: Date, now = new Date()) {
    const { from, to } = periodOf(period, at);
    const until = to < now ? to : now;
    const [clusters, agentRows, tokenRows] = await withTenant(this.orm, tenant, async (em) => {
      const list = await em.execute<Row[]>(`SELECT id, pricing FROM clusters WHERE tenant_id = ? AND created_at < ? ORDER BY id`, [tenantId, to]);
      if (list.length === 0) return [list, [], []] as const;
      return [
        list,
        await em.execute<Row[]>(`${AGENT_SECONDS} WHERE cluster_id IN (SELECT id FROM clusters WHERE tenant_id = ? AND created_at < ?) ${AGENT_PERIOD}`, [until, until, from, tenantId, to, until, from]),
        await em.execute<Row[]>(`${TOKEN_COST} WHERE tenant_id = ? AND finished_at >= ? AND finished_at < ? GROUP BY 1`, [tenantId, from, to]),
      ] as const;
    });
    const costs = priceClusters(
      clusters.map((c) => ({ id: String(c['id']), pricing: (c['pricing'] ?? undefined) as ResolvedPricing | undefined })),
      agentRows,
      tokenRows,
    ).map(({ cluster_id, currency, agent_cost, token_cost, total_cost }) => ({ cluster_id, currency, agent_cost, token_cost, total_cost }));
    const totals = new Map<string, { currency: string; agent_cost: number; token_cost: number; total_cost: number }>();
    for (const c of costs) {
      const t = totals.get(c.currency) ?? { currency: c.currency, agent_cost: 0, token_cost: 0, total_cost: 0 };
      totals.set(c.currency, { currency: c.currency, agent_cost: roundCost(t.agent_cost + c.agent_cost), token_cost: roundCost(t.token_cost + c.token_cost), total_cost: roundCost(t.total_cost + c.total_cost) });
    }
    return { tenant_id: tenantId, period, from: from.toISOString(), to: to.toISOString(), totals: [...totals.values()], clusters: costs };
  }

  /**
   * The agent and token cost of each of some clusters in the period (the budget watch's read), in
   * two queries whatever their number, each cluster priced by its own blueprint as `clusterCost`
   * prices one.
   */
  async costsOf(clusters: readonly { id: string; pricing: ResolvedPricing | undefined }[], tenant: string | undefined, period: BudgetPeriod, at: Date, now = new Date()) {
    if (clusters.length === 0) return [];
    const { from, to } = periodOf(period, at);
    const until = to < now ? to : now;
    // The ids as one JSON parameter: one statement text whatever their number.
    const ids = JSON.stringify(clusters.map((c) => c.id));
    const [agentRows, tokenRows] = await withTenant(this.orm, tenant, async (em) => [
      await em.execute<Row[]>(`${AGENT_SECONDS} WHERE cluster_id IN (SELECT jsonb_array_elements_text(?::jsonb)) ${AGENT_PERIOD}`, [until, until, from, ids, until, from]),
      await em.execute<Row[]>(`${TOKEN_COST} WHERE cluster_id IN (SELECT jsonb_array_elements_text(?::jsonb)) AND finished_at >= ? AND finished_at < ? GROUP BY 1`, [ids, from, to]),
    ]);
    return priceClusters(clusters, agentRows, tokenRows).map((c) => ({ ...c, from: from.toISOString() }));
  }

  /** Every tenant's budgets (the budget watch reads them as the platform). */
  async tenantBudgets(): Promise<{ tenantId: string; budgets: TenantBudget[] }[]> {
    const rows = await withTenant(this.orm, undefined, (em) => em.execute<Row[]>(`SELECT tenant_id, budgets FROM tenant_budgets ORDER BY tenant_id`));
    return rows.map((r) => ({ tenantId: String(r['tenant_id']), budgets: (r['budgets'] ?? []) as TenantBudget[] })).filter((t) => t.budgets.length > 0);
  }

  async versions(clusterId: string, tenant: string | undefined, since: Date): Promise<VersionMetrics[]> {
    const rows = await withTenant(this.orm, tenant, (em) => this.versionRows(em, clusterId, since, new Date(Date.now() + 86_400_000)));
    return rows.map(versionOf);
  }

  private versionRows(em: Parameters<Parameters<typeof withTenant>[2]>[0], clusterId: string, from: Date, to: Date): Promise<Row[]> {
    return em.execute<Row[]>(
      `SELECT blueprint_version, count(*) AS attempts,
              count(*) FILTER (WHERE outcome = 'completed') AS completed,
              count(*) FILTER (WHERE outcome = 'failed') AS failed,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
              coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
              coalesce(sum(cost), 0) AS cost, min(finished_at) AS first_at, max(finished_at) AS last_at
         FROM task_attempts
        WHERE cluster_id = ? AND finished_at >= ? AND finished_at < ?
        GROUP BY blueprint_version ORDER BY min(finished_at)`,
      [clusterId, from, to],
    );
  }

  async tasks(clusterId: string, tenant: string | undefined, version: string | undefined, since: Date, limit: number) {
    const rows = await withTenant(this.orm, tenant, (em) =>
      em.execute<Row[]>(
        `SELECT task_id, min(task_cluster_id) AS task_cluster_id, count(*) AS attempts,
                (array_agg(outcome ORDER BY attempt DESC))[1] AS outcome,
                array_agg(DISTINCT blueprint_version) AS versions,
                min(started_at) AS first_started_at, max(finished_at) AS last_finished_at, sum(duration_ms) AS duration_ms,
                coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cost), 0) AS cost
           FROM task_attempts
          WHERE cluster_id = ? AND finished_at >= ?
            AND (?::text IS NULL OR task_id IN (SELECT task_id FROM task_attempts WHERE cluster_id = ? AND blueprint_version = ? AND finished_at >= ?))
          GROUP BY task_id ORDER BY max(finished_at) DESC LIMIT ?`,
        [clusterId, since, version ?? null, clusterId, version ?? null, since, limit],
      ),
    );
    return rows.map((r) => ({
      task_id: String(r['task_id']),
      task_cluster_id: String(r['task_cluster_id']),
      attempts: n(r['attempts']),
      outcome: String(r['outcome']) as 'completed' | 'failed',
      blueprint_versions: ((r['versions'] as (string | null)[] | null) ?? []).slice().sort(),
      first_started_at: iso(r['first_started_at'])!,
      last_finished_at: iso(r['last_finished_at'])!,
      duration_ms: n(r['duration_ms']),
      input_tokens: n(r['input_tokens']),
      output_tokens: n(r['output_tokens']),
      cost: roundCost(n(r['cost'])),
    }));
  }
}

/** Agent-seconds in the period by cluster, role and runtime (parameters: until, until, from, the filter's, until, from). */
const AGENT_SECONDS = `SELECT cluster_id, role, runtime->>'kind' AS kind,
       sum(extract(epoch FROM least(coalesce(stopped_at, ?::timestamptz), ?::timestamptz) - greatest(started_at, ?::timestamptz))) AS seconds
  FROM cluster_agents`;
const AGENT_PERIOD = `AND started_at IS NOT NULL AND started_at < ? AND (stopped_at IS NULL OR stopped_at > ?) GROUP BY 1, 2, 3`;
/** Token cost by cluster. */
const TOKEN_COST = `SELECT cluster_id, coalesce(sum(cost), 0) AS cost FROM task_attempts`;

/**
 * A cluster's agent-seconds rows priced: hours and cost per role and runtime (by role, else
 * runtime, else the default), in that order; a line under a rounding unit of an hour is left out.
 */
function agentLines(rows: readonly Row[], pricing: ResolvedPricing | undefined) {
  return rows
    .map((r) => {
      const seconds = Math.max(0, n(r['seconds']));
      const price = agentHourPrice(pricing, String(r['role']) as AgentRole, String(r['kind']) as RuntimeKind);
      return { role: String(r['role']), runtime: String(r['kind']), hours: roundCost(seconds / 3600), price_per_hour: price, cost: agentSecondsCost(seconds, price) };
    })
    .filter((a) => a.hours > 0)
    .sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : a.runtime < b.runtime ? -1 : a.runtime > b.runtime ? 1 : 0));
}

/** Each cluster's agent and token cost from grouped rows, priced by its own blueprint as `clusterCost` prices one. */
function priceClusters(clusters: readonly { id: string; pricing: ResolvedPricing | undefined }[], agentRows: readonly Row[], tokenRows: readonly Row[]) {
  const tokens = new Map(tokenRows.map((r) => [String(r['cluster_id']), n(r['cost'])]));
  return clusters.map(({ id, pricing }) => {
    const agentCost = roundCost(agentLines(agentRows.filter((r) => r['cluster_id'] === id), pricing).reduce((sum, a) => sum + a.cost, 0));
    const tokenCost = roundCost(tokens.get(id) ?? 0);
    return { cluster_id: id, currency: pricing?.currency ?? 'USD', agent_cost: agentCost, token_cost: tokenCost, total_cost: roundCost(agentCost + tokenCost) };
  });
}

function versionOf(r: Row): VersionMetrics {
  const attempts = n(r['attempts']);
  const failed = n(r['failed']);
  return {
    blueprint_version: (r['blueprint_version'] as string | null) ?? null,
    attempts,
    completed: n(r['completed']),
    failed,
    error_rate: attempts ? Math.round((failed / attempts) * 10_000) / 10_000 : 0,
    latency_p50_ms: nullableNumber(r['p50']),
    latency_p95_ms: nullableNumber(r['p95']),
    input_tokens: n(r['input_tokens']),
    output_tokens: n(r['output_tokens']),
    token_cost: roundCost(n(r['cost'])),
    first_at: iso(r['first_at']),
    last_at: iso(r['last_at']),
  };
}
