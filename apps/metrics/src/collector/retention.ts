import type { ReadModelOrm } from '@flotilla/projections';

/**
 * Downsampling of cluster_metrics: raw rows older than `rawMs` become one row per cluster and
 * minute (averages; worst case for failures, p95/p99 and health), and rollups older than
 * `rollupMs` are deleted. One transaction, so a crash never loses or double-counts a minute.
 */
export async function applyRetention(
  orm: ReadModelOrm,
  now: Date,
  rawMs: number,
  rollupMs: number,
): Promise<{ rolledUp: number; deleted: number }> {
  // On a whole minute: a minute is rolled up only once all of it is past the cutoff, so one
  // straddling it is never rolled up twice (part now, the rest in a later run).
  const rawCutoff = new Date(Math.floor((now.getTime() - rawMs) / 60_000) * 60_000);
  const rollupCutoff = new Date(now.getTime() - rollupMs);
  return orm.em.fork().transactional(async (em) => {
    const rolled = await em.execute<{ n: string }[]>(
      `WITH rolled AS (
         INSERT INTO cluster_metrics (cluster_id, tenant_id, at, resolution, queue_depth, queue_high, queue_normal, queue_low, agents_active, agents_idle,
           agents_busy, agents_failed, workers, tasks_per_minute, latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, cpu_percent, memory_percent, health_score, samples)
         SELECT cluster_id, max(tenant_id), date_trunc('minute', at), '1m',
           round(avg(queue_depth)), round(avg(queue_high)), round(avg(queue_normal)), round(avg(queue_low)), round(avg(agents_active)), round(avg(agents_idle)),
           round(avg(agents_busy)), max(agents_failed), round(avg(workers)), avg(tasks_per_minute), avg(latency_p50_ms), max(latency_p95_ms), max(latency_p99_ms),
           avg(error_rate), avg(cpu_percent), avg(memory_percent), min(health_score), sum(samples)
         FROM cluster_metrics WHERE resolution = 'raw' AND at < ?
         GROUP BY cluster_id, date_trunc('minute', at)
         RETURNING 1)
       SELECT count(*) AS n FROM rolled`,
      [rawCutoff],
    );
    const deletedRaw = await em.execute<{ n: string }[]>(
      `WITH d AS (DELETE FROM cluster_metrics WHERE resolution = 'raw' AND at < ? RETURNING 1) SELECT count(*) AS n FROM d`,
      [rawCutoff],
    );
    const deletedOld = await em.execute<{ n: string }[]>(
      `WITH d AS (DELETE FROM cluster_metrics WHERE resolution = '1m' AND at < ? RETURNING 1) SELECT count(*) AS n FROM d`,
      [rollupCutoff],
    );
    return {
      rolledUp: Number(rolled[0]?.n ?? 0),
      deleted: Number(deletedRaw[0]?.n ?? 0) + Number(deletedOld[0]?.n ?? 0),
    };
  });
}
