import type pg from 'pg';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { ensureCheckpoints, lockCheckpoints } from './checkpoints.js';
import { inTransaction } from './database.js';
import type { ReadModelOrm } from './orm.js';
import { applyBatch, codecFor } from './processor.js';
import type { Projection } from './projection.js';

export interface RebuildResult {
  readonly projection: string;
  readonly events: number;
  readonly applied: number;
  readonly rows: number;
  readonly ms: number;
}

export interface RebuildOptions {
  readonly batchSize?: number;
  readonly onProgress?: (position: bigint, head: bigint, events: number) => void;
}

/**
 * Drops a read model and replays it from position 0 up to the log's head at the end, in big
 * batches. Live processors leave it alone while it runs (its checkpoint row says so) and carry
 * on from where it finished.
 */
export async function rebuildProjection(
  resources: { pool: pg.Pool; orm: ReadModelOrm; store: EventStore },
  projection: Projection,
  opts: RebuildOptions = {},
): Promise<RebuildResult> {
  const { pool, orm, store } = resources;
  const started = performance.now();
  const table = codecFor(orm, projection).table;
  await ensureCheckpoints(pool, [projection.name]);
  await inTransaction(pool, async (db) => {
    await lockCheckpoints(db, [projection.name]);
    await db.query(`DELETE FROM ${table}`);
    await db.query(`UPDATE projection_checkpoints SET position = 0, rebuilding = true, updated_at = now() WHERE name = $1`, [projection.name]);
  });
  let after = 0n;
  let events = 0;
  let applied = 0;
  let head = await store.headPosition();
  const limit = opts.batchSize ?? 10000;
  try {
    // The next page is read while the current one is written: the store and the read models
    // work side by side instead of taking turns.
    let next: Promise<StoredEvent[]> = store.readAll({ after, limit });
    for (;;) {
      const page = await next;
      if (page.length === 0) {
        head = await store.headPosition();
        if (head <= after) break;
        next = store.readAll({ after, limit });
        continue;
      }
      next = store.readAll({ after: page[page.length - 1]!.position, limit });
      // A failed prefetch surfaces when it is awaited, not as an unhandled rejection meanwhile.
      next.catch(() => undefined);
      await inTransaction(pool, async (db) => {
        // A rebuild's batches need not wait for the WAL flush: rows and checkpoint still commit
        // atomically, so a crash loses at most the last few batches whole and the rebuild replays them.
        await db.query('SET LOCAL synchronous_commit = off');
        await applyBatch(db, orm, [projection], page, { asRebuild: true });
      });
      events += page.length;
      applied += page.filter((e) => projection.handles.has(e.type)).length;
      after = page[page.length - 1]!.position;
      if (after > head) head = after;
      opts.onProgress?.(after, head, events);
    }
  } finally {
    await pool.query(`UPDATE projection_checkpoints SET rebuilding = false, updated_at = now() WHERE name = $1`, [projection.name]);
  }
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
  return { projection: projection.name, events, applied, rows: Number(rows[0]!.n), ms: performance.now() - started };
}
