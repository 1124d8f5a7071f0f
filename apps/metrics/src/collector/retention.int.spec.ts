import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createReadModelOrm, migrateReadModels, type ReadModelOrm } from '@flotilla/projections';
import { createTestDatabase, type TestDatabase } from '@flotilla/testing';
import { applyRetention } from './retention.js';

describe('cluster_metrics retention (real PostgreSQL)', () => {
  let db: TestDatabase;
  let orm: ReadModelOrm;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('retention');
    orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    pool = new pg.Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    await orm.close();
    await pool.end();
    await db.drop();
  });

  const insert = (at: Date, resolution: string, queue: number, failed = 0) =>
    pool.query(
      `INSERT INTO cluster_metrics (cluster_id, tenant_id, at, resolution, queue_depth, queue_high, queue_normal, queue_low, agents_active, agents_idle, agents_busy,
         agents_failed, workers, tasks_per_minute, error_rate, health_score, samples) VALUES ('c1', 't', $1, $2, $3, 0, $3, 0, 3, 1, 2, $4, 3, 10, 0, 0.9, 1)`,
      [at, resolution, queue, failed],
    );

  it('keeps raw rows for a day, then one row per minute, and drops old rollups', async () => {
    const now = new Date('2026-11-25T12:00:00Z');
    const day = 24 * 3_600_000;
    const old = new Date(now.getTime() - day - 10 * 60_000); // 11:50 the day before
    for (let i = 0; i < 6; i++)
      await insert(new Date(old.getTime() + i * 10_000), 'raw', i * 2, i === 3 ? 1 : 0); // one minute, 6 samples
    await insert(new Date(now.getTime() - 60_000), 'raw', 7); // recent: stays raw
    await insert(new Date(now.getTime() - 40 * day), '1m', 1); // beyond rollup retention
    const result = await applyRetention(orm, now, day, 30 * day);
    expect(result).toEqual({ rolledUp: 1, deleted: 7 });
    const rows = (
      await pool.query(
        `SELECT resolution, queue_depth, agents_failed, samples FROM cluster_metrics ORDER BY at`,
      )
    ).rows;
    expect(rows).toEqual([
      { resolution: '1m', queue_depth: 5, agents_failed: 1, samples: 6 },
      { resolution: 'raw', queue_depth: 7, agents_failed: 0, samples: 1 },
    ]);
  });

  it('rolls a minute up only once all of it is past the cutoff, so it is never split in two', async () => {
    await pool.query('DELETE FROM cluster_metrics');
    const day = 24 * 3_600_000;
    const now = new Date('2026-11-26T11:59:30Z'); // cutoff 11:59:30 the day before
    await insert(new Date('2026-11-25T11:59:10Z'), 'raw', 2); // before the cutoff, in a minute that is not over at it
    await insert(new Date('2026-11-25T11:59:40Z'), 'raw', 4); // after it
    expect(await applyRetention(orm, now, day, 30 * day)).toEqual({ rolledUp: 0, deleted: 0 });
    expect(await applyRetention(orm, new Date(now.getTime() + 60_000), day, 30 * day)).toEqual({ rolledUp: 1, deleted: 2 });
    const rows = (await pool.query(`SELECT resolution, queue_depth, samples FROM cluster_metrics`)).rows;
    expect(rows).toEqual([{ resolution: '1m', queue_depth: 3, samples: 2 }]);
  });
});
