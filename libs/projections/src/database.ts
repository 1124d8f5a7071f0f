import type pg from 'pg';

/**
 * Runs `fn` in a transaction on a connection of its own from `pool`: COMMIT when it resolves,
 * ROLLBACK when it throws. `first`: parameterless statements sent with the BEGIN, in one round trip.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>, first?: string): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(first ? `BEGIN; ${first}` : 'BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
