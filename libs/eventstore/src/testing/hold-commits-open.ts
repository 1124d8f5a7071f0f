import type pg from 'pg';

/**
 * Wraps an event store's pool so that chosen appends commit late: an append (the store's prepared
 * `…_append` statement) to a stream for which `delayMs(streamId)` is positive runs in an explicit
 * transaction that sleeps that long before COMMIT. It holds its transaction id (and every
 * reader's xmin) back while later transactions commit: out-of-order commits on demand. Every other
 * query goes to the pool unchanged. Test code only; pass the result as the store's `pool`.
 */
export function holdCommitsOpen(pool: pg.Pool, delayMs: (streamId: string) => number): pg.Pool {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const held = async (config: pg.QueryConfig, ms: number): Promise<unknown> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await client.query(config);
      await client.query('SELECT pg_sleep($1::float8 / 1000)', [ms]);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    const config = args[0] as Partial<pg.QueryConfig> | string;
    const streamId = typeof config === 'object' && config.name?.endsWith('_append') ? config.values?.[0] : undefined;
    const ms = typeof streamId === 'string' ? delayMs(streamId) : 0;
    return ms > 0 ? held(config as pg.QueryConfig, ms) : query(...args);
  };
  return pool;
}
