import { Inject, Injectable } from '@nestjs/common';
import type { AgentView, ClusterView, EventView } from '@flotilla/contracts';
import { NotFoundError } from '@flotilla/domain';
import {
  clustersProjection,
  codecFor,
  desiredAgentsOf,
  ClusterAgentEntity,
  ClusterEntity,
  ClusterEventEntity,
  type ClusterAgentRow,
  type ClusterEventRow,
  type ClusterRow,
  type ReadModelOrm,
  withTenant,
} from '@flotilla/projections';
import { READ_MODELS } from '../infrastructure/tokens.js';
import { HealthScores } from './health-scores.js';
import {
  agentViewFromRow,
  clusterViewFromRow,
  eventViewFromRow,
  type AgentCounts,
} from './cluster.views.js';

const SEVERITY_RANK: Readonly<Record<string, number>> = { debug: 0, info: 1, warning: 2, error: 3 };

export interface ListClustersFilter {
  readonly tenantId?: string | undefined;
  readonly status?: string | undefined;
  readonly type?: string | undefined;
  readonly blueprintId?: string | undefined;
  readonly limit: number;
  readonly offset: number;
}

/** Every read of clusters, agents and events comes from the read models. */
@Injectable()
export class ClusterQueries {
  constructor(
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    private readonly health: HealthScores,
  ) {}

  private get em() {
    return this.orm.em.fork();
  }

  async list(filter: ListClustersFilter): Promise<{ clusters: ClusterView[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (filter.tenantId) where['tenantId'] = filter.tenantId;
    if (filter.status) where['status'] = filter.status;
    if (filter.type) where['type'] = filter.type;
    if (filter.blueprintId) where['blueprintId'] = filter.blueprintId;
    // The tenant filter, and behind it row-level security for the same tenant.
    const [rows, total] = await withTenant(this.orm, filter.tenantId, (em) =>
      em.findAndCount(ClusterEntity, where as never, {
        orderBy: { createdAt: 'desc', id: 'asc' },
        limit: filter.limit,
        offset: filter.offset,
      }),
    );
    const ids = (rows as ClusterRow[]).map((r) => r.id);
    const [counts, health] = await Promise.all([this.countsFor(ids), this.healthFor(ids)]);
    return {
      clusters: (rows as ClusterRow[]).map((r) =>
        clusterViewFromRow(
          r,
          counts.get(r.id) ?? { running: 0, runningWorkers: 0 },
          health.get(r.id) ?? null,
        ),
      ),
      total,
    };
  }

  async row(id: string, tenantId?: string): Promise<ClusterRow> {
    const row = (await withTenant(this.orm, tenantId, (em) => em.findOne(ClusterEntity, { id } as never))) as ClusterRow | null;
    // Another tenant's cluster is reported exactly like a missing one.
    if (!row || (tenantId && row.tenantId !== tenantId)) throw NotFoundError.of('cluster', id);
    return row;
  }

  /** One cluster with its running agents, in one statement (the health score comes from memory). */
  async get(id: string, tenantId?: string): Promise<ClusterView> {
    const [raw] = await withTenant(this.orm, tenantId, (em) =>
      em.execute<Record<string, unknown>[]>(
        `SELECT c.*, a.running, a.running_workers FROM clusters c,
           LATERAL (SELECT count(*) FILTER (WHERE state = 'idle') AS running,
                           count(*) FILTER (WHERE state = 'idle' AND role = 'worker') AS running_workers
                      FROM cluster_agents WHERE cluster_id = c.id) a
          WHERE c.id = ?`,
        [id],
      ),
    );
    const row = raw ? (codecFor(this.orm, clustersProjection).fromRaw(raw) as unknown as ClusterRow) : undefined;
    // Another tenant's cluster is reported exactly like a missing one.
    if (!row || (tenantId && row.tenantId !== tenantId)) throw NotFoundError.of('cluster', id);
    const health = await this.healthFor([id]);
    return clusterViewFromRow(row, { running: Number(raw!['running']), runningWorkers: Number(raw!['running_workers']) }, health.get(id) ?? null);
  }

  async agents(
    id: string,
    opts: { tenantId?: string | undefined; state?: string | undefined; includeStopped: boolean },
  ): Promise<{ agents: AgentView[]; total: number }> {
    await this.row(id, opts.tenantId);
    const where: Record<string, unknown> = { clusterId: id };
    if (opts.state) where['state'] = opts.state;
    else if (!opts.includeStopped) where['state'] = { $ne: 'stopped' };
    const rows = (await withTenant(this.orm, opts.tenantId, (em) =>
      em.find(ClusterAgentEntity, where as never, {
        orderBy: { role: 'asc', name: 'asc', ordinal: 'asc', createdAt: 'asc' },
      }),
    )) as ClusterAgentRow[];
    const rank: Record<string, number> = { supervisor: 0, lead: 1, specialist: 2, worker: 3 };
    rows.sort(
      (a, b) =>
        (rank[a.role] ?? 9) - (rank[b.role] ?? 9) ||
        a.name.localeCompare(b.name) ||
        a.ordinal - b.ordinal,
    );
    return { agents: rows.map(agentViewFromRow), total: rows.length };
  }

  async events(
    id: string,
    opts: {
      tenantId?: string | undefined;
      severity?: string | undefined;
      type?: string | undefined;
      since?: string | undefined;
      after?: string | undefined;
      limit: number;
      offset: number;
    },
  ): Promise<{ events: EventView[]; total: number }> {
    await this.row(id, opts.tenantId);
    const where: Record<string, unknown> = { clusterId: id };
    // `severity=warning` means warning and worse: what an operator asks for when scanning a log.
    if (opts.severity)
      where['severity'] = {
        $in: Object.keys(SEVERITY_RANK).filter(
          (s) => SEVERITY_RANK[s]! >= SEVERITY_RANK[opts.severity!]!,
        ),
      };
    if (opts.type) where['type'] = opts.type;
    if (opts.since) where['occurredAt'] = { $gte: new Date(opts.since) };
    if (opts.after) where['position'] = { $gt: opts.after };
    const [rows, total] = await withTenant(this.orm, opts.tenantId, (em) =>
      em.findAndCount(ClusterEventEntity, where as never, {
        orderBy: { position: 'asc' },
        limit: opts.limit,
        offset: opts.offset,
      }),
    );
    return { events: (rows as ClusterEventRow[]).map(eventViewFromRow), total };
  }

  /** A tenant's clusters (not decommissioned) and the agents they want now. */
  async tenantUsage(tenantId: string): Promise<{ clusters: number; agents: number }> {
    const rows = (await this.em.find(ClusterEntity, { tenantId, status: { $ne: 'decommissioned' } } as never)) as ClusterRow[];
    return { clusters: rows.length, agents: rows.reduce((n, r) => n + desiredAgentsOf(r), 0) };
  }

  async countsFor(ids: readonly string[]): Promise<Map<string, AgentCounts>> {
    if (ids.length === 0) return new Map();
    const rows = await this.em.execute<
      { cluster_id: string; running: string; running_workers: string }[]
    >(
      `SELECT cluster_id,
              count(*) FILTER (WHERE state = 'idle') AS running,
              count(*) FILTER (WHERE state = 'idle' AND role = 'worker') AS running_workers
         FROM cluster_agents WHERE cluster_id IN (?) GROUP BY cluster_id`,
      [ids],
    );
    return new Map(
      rows.map((r) => [
        r.cluster_id,
        { running: Number(r.running), runningWorkers: Number(r.running_workers) },
      ]),
    );
  }

  /** The latest health score the metrics service recorded for each cluster. */
  healthFor(ids: readonly string[]): Promise<Map<string, number | null>> {
    return this.health.scoresFor(ids);
  }

}
