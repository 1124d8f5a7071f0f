import { Inject, Injectable } from '@nestjs/common';
import { parseMoment, type AgentView, type AsOf, type ClusterDiff, type ClusterView, type EventView } from '@flotilla/contracts';
import { NotFoundError, ValidationError } from '@flotilla/domain';
import type { StoredEvent } from '@flotilla/eventstore';
import type { RequestMeta } from '@flotilla/messaging';
import {
  clusterAgentsProjection,
  clustersProjection,
  codecFor,
  desiredAgentsOf,
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
  sortAgents,
  type AgentCounts,
} from './cluster.views.js';
import { diffFold } from './cluster-diff.js';
import { isListed } from './cluster-fold.js';
import { asOfFold, ClusterHistory } from './cluster-history.js';

/** The most events a diff folds: a longer range is refused (narrow it), not answered slowly. */
export const DIFF_MAX_EVENTS = 20_000;
/** The end of the log, whatever it holds (PostgreSQL's largest bigint). */
const LAST_POSITION = 9_223_372_036_854_775_807n;

const asOfRows = (...positions: (string | bigint | undefined)[]): AsOf => ({
  position: positions.reduce<bigint>((max, p) => (p !== undefined && BigInt(p) > max ? BigInt(p) : max), 0n).toString(),
  occurred_at: null,
});

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
    private readonly history: ClusterHistory,
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
        `SELECT c.*, a.running, a.running_workers, a.agents_position FROM clusters c,
           LATERAL (SELECT count(*) FILTER (WHERE state = 'idle') AS running,
                           count(*) FILTER (WHERE state = 'idle' AND role = 'worker') AS running_workers,
                           max(position) AS agents_position
                      FROM cluster_agents WHERE cluster_id = c.id) a
          WHERE c.id = ?`,
        [id],
      ),
    );
    const row = raw ? (codecFor(this.orm, clustersProjection).fromRaw(raw) as unknown as ClusterRow) : undefined;
    // Another tenant's cluster is reported exactly like a missing one.
    if (!row || (tenantId && row.tenantId !== tenantId)) throw NotFoundError.of('cluster', id);
    const health = await this.healthFor([id]);
    const view = clusterViewFromRow(row, { running: Number(raw!['running']), runningWorkers: Number(raw!['running_workers']) }, health.get(id) ?? null);
    // The position the live view reflects: `?at=` that position reads the same cluster back.
    return { ...view, as_of: asOfRows(row.position, (raw!['agents_position'] as string | null) ?? undefined) };
  }

  /** One cluster as it was at `at` (a time or a log position), folded from the log. */
  async getAt(id: string, at: string, meta: RequestMeta): Promise<ClusterView> {
    const moment = parseMoment(at);
    const fold = await this.history.visibleAt(id, moment, meta);
    const agents = [...fold.agents.values()];
    const counts = {
      running: agents.filter((a) => a.state === 'idle').length,
      runningWorkers: agents.filter((a) => a.state === 'idle' && a.role === 'worker').length,
    };
    const health = await this.history.healthAt(id, 'time' in moment ? moment.time : fold.occurredAt);
    return { ...clusterViewFromRow(fold.cluster!, counts, health), as_of: asOfFold(fold) };
  }

  /** A cluster's agents as they were at `at`, filtered as a live read filters them. */
  async agentsAt(
    id: string,
    at: string,
    opts: { meta: RequestMeta; state?: string | undefined; includeStopped: boolean },
  ): Promise<{ agents: AgentView[]; total: number; as_of: AsOf }> {
    const fold = await this.history.visibleAt(id, parseMoment(at), opts.meta);
    const wantStopped = opts.includeStopped || opts.state === 'stopped';
    const rows = sortAgents((await this.history.agentsOf(fold, wantStopped)).filter((r) => isListed(r, opts)));
    return { agents: rows.map(agentViewFromRow), total: rows.length, as_of: asOfFold(fold) };
  }

  /** The decider's state at `at`, for the hierarchy. */
  async stateAt(id: string, at: string, meta: RequestMeta) {
    const fold = await this.history.visibleAt(id, parseMoment(at), meta);
    return { state: fold.state, as_of: asOfFold(fold) };
  }

  /** What changed between two moments of one cluster (`to` defaults to now). */
  async diff(id: string, from: string, to: string | undefined, meta: RequestMeta): Promise<ClusterDiff> {
    const fromMoment = parseMoment(from);
    const toMoment = to === undefined ? { position: LAST_POSITION } : parseMoment(to);
    // The cluster must be visible at the end (checked first: nothing else is read for a caller
    // who may not see it); at the start it may not exist yet.
    const end = await this.history.visibleAt(id, toMoment, meta);
    const fold = await this.history.at(id, fromMoment);
    if (fold.position > end.position) {
      throw new ValidationError('from is after to', [{ path: 'from', message: `'${from}' is later than '${to ?? 'now'}'` }]);
    }
    const events: StoredEvent[] = [];
    for await (const e of this.history.eventsAfter(id, fold.revision, { position: end.position })) {
      if (events.length >= DIFF_MAX_EVENTS) {
        throw new ValidationError(`the range holds more than ${DIFF_MAX_EVENTS} events`, [{ path: 'from', message: `more than ${DIFF_MAX_EVENTS} events between from and to: narrow the range` }]);
      }
      events.push(e);
    }
    const fromAsOf = asOfFold(fold);
    const { changes, agents } = diffFold(fold, events);
    return {
      cluster_id: id,
      from: fromAsOf,
      to: asOfFold(end),
      changes,
      agents,
      events: events.map((e) => ({
        position: e.position.toString(),
        revision: e.revision.toString(),
        type: e.type,
        occurred_at: e.occurredAt.toISOString(),
        actor: String(e.metadata.actor ?? ''),
      })),
    };
  }

  async agents(
    id: string,
    opts: { tenantId?: string | undefined; state?: string | undefined; includeStopped: boolean },
  ): Promise<{ agents: AgentView[]; total: number; as_of: AsOf }> {
    const cluster = await this.row(id, opts.tenantId);
    const filter = opts.state ? `AND a.state = ?` : opts.includeStopped ? '' : `AND a.state <> 'stopped'`;
    // One statement, so one snapshot: the listed agents and the last agent event of the cluster
    // (listed or not) that the list reflects.
    const raw = await withTenant(this.orm, opts.tenantId, (em) =>
      em.execute<Record<string, unknown>[]>(
        `SELECT a.*, m.last_position FROM (SELECT max(position) AS last_position FROM cluster_agents WHERE cluster_id = ?) m
           LEFT JOIN cluster_agents a ON a.cluster_id = ? ${filter}`,
        opts.state ? [id, id, opts.state] : [id, id],
      ),
    );
    const codec = codecFor(this.orm, clusterAgentsProjection);
    const rows = sortAgents(raw.filter((r) => r['id'] != null).map((r) => codec.fromRaw(r) as unknown as ClusterAgentRow));
    // Read after the cluster's row: the list shows every agent event up to the larger position.
    const last = raw[0]?.['last_position'];
    return { agents: rows.map(agentViewFromRow), total: rows.length, as_of: asOfRows(cluster.position, last == null ? undefined : String(last)) };
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
