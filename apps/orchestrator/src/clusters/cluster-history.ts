import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { spansAllTenants, type AsOf, type Moment } from '@flotilla/contracts';
import { clusterStream, NotFoundError } from '@flotilla/domain';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import type { RequestMeta } from '@flotilla/messaging';
import { PG_POOL } from '@flotilla/platform';
import { clusterAgentsProjection, ClusterAgentEntity, readCheckpoint, withTenant, type ClusterAgentRow, type ReadModelOrm } from '@flotilla/projections';
import { identityOf } from '../infrastructure/request-context.js';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
import { ClusterFold, SNAPSHOT_VERSION, type SnapshotState } from './cluster-fold.js';

const isAfter = (e: StoredEvent, m: Moment) => ('position' in m ? e.position > m.position : e.occurredAt.getTime() > m.time.getTime());

export interface HistoryOptions {
  /** Start from the nearest stored snapshot, and store the ones the fold passes (default true). */
  readonly snapshots?: boolean;
}

/** Every how many events of a stream a snapshot is kept: a read folds at most this many events. */
export const SNAPSHOT_EVERY = 250n;
const PAGE = 500;

/**
 * Any cluster as it was at any moment of the log (`?at=`), folded from its stream with the live
 * views' own decider and projections (ClusterFold), from the nearest snapshot. Snapshots are a
 * cache of the log, kept in `stream_snapshots` under the folds' version: a fold that passes a
 * multiple of SNAPSHOT_EVERY stores one, so the first read of a long history pays once and every
 * later read folds at most SNAPSHOT_EVERY events. Access is checked on the folded state, as for
 * live reads: another tenant's cluster reads as missing.
 */
@Injectable()
export class ClusterHistory {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
  ) {}

  /** The cluster at `moment`, visible to the caller, or NotFoundError (also when it did not exist yet). */
  async visibleAt(clusterId: string, moment: Moment, meta: RequestMeta, opts: HistoryOptions = {}): Promise<ClusterFold> {
    const fold = await this.at(clusterId, moment, opts);
    const identity = identityOf(meta);
    if (fold.state.status === 'none' || (!spansAllTenants(identity) && fold.state.tenantId !== identity.tenantId)) {
      throw NotFoundError.of('cluster', clusterId);
    }
    return fold;
  }

  async at(clusterId: string, moment: Moment, opts: HistoryOptions = {}): Promise<ClusterFold> {
    const useSnapshots = opts.snapshots ?? true;
    const snapshot = useSnapshots ? await this.snapshotBefore(clusterId, moment) : null;
    const fold = snapshot ? ClusterFold.fromSnapshot(clusterId, snapshot) : ClusterFold.empty(clusterId);
    const passed: SnapshotState[] = [];
    await this.foldUntil(fold, moment, (f) => {
      if (useSnapshots && (f.revision + 1n) % SNAPSHOT_EVERY === 0n) passed.push(f.toSnapshot());
    });
    if (passed.length) await this.saveSnapshots(clusterId, fold.state.status === 'none' ? null : fold.state.tenantId, passed);
    return fold;
  }

  /** The stream's events after `fold` up to `moment`, folded in; `each` sees the fold after each. */
  async foldUntil(fold: ClusterFold, moment: Moment, each?: (fold: ClusterFold, event: StoredEvent) => void): Promise<void> {
    for await (const e of this.eventsAfter(fold.clusterId, fold.revision, moment)) {
      fold.apply(e);
      each?.(fold, e);
    }
  }

  /** The events of the cluster's stream after `revision`, up to `moment`, in order. */
  async *eventsAfter(clusterId: string, revision: bigint, moment: Moment): AsyncGenerator<StoredEvent> {
    let from = revision + 1n;
    for (;;) {
      const page = await this.store.readStream(clusterStream(clusterId), { fromRevision: from, limit: PAGE });
      for (const e of page) {
        if (isAfter(e, moment)) return;
        yield e;
      }
      if (page.length < PAGE) return;
      from = page[page.length - 1]!.revision + 1n;
    }
  }

  /**
   * The moment's agents as a live read would list them. A fold that started from a snapshot
   * lacks the agents that had stopped before it (snapshots leave them out); those rows come from
   * the read model, where a stopped agent's row no longer changes: the same rows, by position.
   */
  async agentsOf(fold: ClusterFold, wantStopped: boolean): Promise<ClusterAgentRow[]> {
    const rows = [...fold.agents.values()];
    const base = fold.base;
    if (!wantStopped || base === null) return rows;
    const stopped = (await withTenant(this.orm, undefined, (em) =>
      em.find(ClusterAgentEntity, { clusterId: fold.clusterId, state: 'stopped', position: { $lte: base.toString() } } as never),
    )) as ClusterAgentRow[];
    const known = new Set(fold.agents.keys());
    return [...rows, ...stopped.filter((r) => !known.has(r.id))];
  }

  /** The latest health score the metrics service had recorded by then. */
  async healthAt(clusterId: string, when: Date | null): Promise<number | null> {
    if (!when) return null;
    const { rows } = await this.pool.query<{ health_score: number | null }>(
      `SELECT health_score FROM cluster_metrics WHERE cluster_id = $1 AND at <= $2 AND health_score IS NOT NULL ORDER BY at DESC LIMIT 1`,
      [clusterId, when],
    );
    return rows[0] ? Number(rows[0].health_score) : null;
  }

  private async snapshotBefore(clusterId: string, moment: Moment): Promise<SnapshotState | null> {
    const [column, value] = 'position' in moment ? ['position', moment.position.toString()] : ['occurred_at', moment.time];
    const { rows } = await this.pool.query<{ state: SnapshotState }>(
      `SELECT state FROM stream_snapshots WHERE stream_id = $1 AND version = $2 AND ${column} <= $3 ORDER BY revision DESC LIMIT 1`,
      [clusterStream(clusterId), SNAPSHOT_VERSION, value],
    );
    return rows[0]?.state ?? null;
  }

  /**
   * Stores what the fold passed, but only below the `cluster_agents` checkpoint: a snapshot leaves
   * stopped agents to the read model, so the read model must already hold every agent stopped
   * before it. A snapshot past the checkpoint is made again by a later read.
   */
  private async saveSnapshots(clusterId: string, tenantId: string | null, snapshots: readonly SnapshotState[]): Promise<void> {
    const checkpoint = await readCheckpoint(this.pool, clusterAgentsProjection.name);
    const ready = snapshots.filter((s) => BigInt(s.position) <= checkpoint);
    if (!ready.length) return;
    await this.pool.query(
      `INSERT INTO stream_snapshots (stream_id, version, revision, position, occurred_at, tenant_id, state)
       SELECT $1, $2, s.revision, s.position, s.occurred_at, $3, s.state
         FROM jsonb_to_recordset($4::jsonb) AS s(revision bigint, position bigint, occurred_at timestamptz, state jsonb)
       ON CONFLICT DO NOTHING`,
      [
        clusterStream(clusterId),
        SNAPSHOT_VERSION,
        tenantId,
        JSON.stringify(ready.map((s) => ({ revision: s.revision, position: s.position, occurred_at: s.occurredAt, state: s }))),
      ],
    );
  }
}

export function asOfFold(fold: ClusterFold): AsOf {
  return { position: fold.position.toString(), occurred_at: fold.occurredAt?.toISOString() ?? null };
}
