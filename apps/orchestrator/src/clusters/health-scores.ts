import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type pg from 'pg';
import { metricsSubjects } from '@flotilla/contracts';
import { decodeJson, Messaging } from '@flotilla/messaging';
import { PG_POOL } from '@flotilla/platform';

/** How long a cluster that has no recorded score yet is remembered as such before asking again. */
const MISS_TTL_MS = 5000;
const LIMIT = 50_000;

/**
 * Each cluster's latest health score, as the metrics service publishes it with every snapshot
 * (`metrics.snapshots.<cluster>`), kept in memory: cluster views and command replies carry it
 * without a query. A cluster not seen since this replica started is read from `cluster_metrics`
 * once.
 */
@Injectable()
export class HealthScores implements OnModuleInit, OnModuleDestroy {
  private readonly scores = new Map<string, { score: number | null; at: number; fromSnapshot: boolean }>();
  private sub: Subscription | undefined;

  constructor(
    private readonly messaging: Messaging,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {}

  onModuleInit(): void {
    this.sub = this.messaging.nc.subscribe(this.messaging.ns.subject(metricsSubjects.snapshots), {
      callback: (err, msg) => {
        if (err) return;
        const snapshot = decodeJson<{ cluster_id?: unknown; health?: { score?: unknown } }>(msg.data);
        if (typeof snapshot?.cluster_id !== 'string') return;
        const score = typeof snapshot.health?.score === 'number' ? snapshot.health.score : null;
        this.remember(snapshot.cluster_id, score, true);
      },
    });
  }

  onModuleDestroy(): void {
    this.sub?.unsubscribe();
  }

  async scoresFor(ids: readonly string[]): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    const missing: string[] = [];
    const now = Date.now();
    for (const id of ids) {
      const known = this.scores.get(id);
      if (known && (known.fromSnapshot || now - known.at < MISS_TTL_MS)) out.set(id, known.score);
      else missing.push(id);
    }
    if (missing.length) {
      const { rows } = await this.pool.query<{ cluster_id: string; health_score: number | null }>(
        `SELECT DISTINCT ON (cluster_id) cluster_id, health_score
           FROM cluster_metrics WHERE cluster_id = ANY($1::text[]) AND health_score IS NOT NULL
          ORDER BY cluster_id, at DESC`,
        [missing],
      );
      const found = new Map(rows.map((r) => [r.cluster_id, r.health_score === null ? null : Number(r.health_score)]));
      for (const id of missing) {
        const score = found.get(id) ?? null;
        // A snapshot that arrived meanwhile is newer than this read.
        if (!this.scores.get(id)?.fromSnapshot) this.remember(id, score, false);
        out.set(id, this.scores.get(id)?.score ?? score);
      }
    }
    return out;
  }

  private remember(id: string, score: number | null, fromSnapshot: boolean): void {
    this.scores.delete(id);
    this.scores.set(id, { score, at: Date.now(), fromSnapshot });
    if (this.scores.size > LIMIT) this.scores.delete(this.scores.keys().next().value as string);
  }
}
