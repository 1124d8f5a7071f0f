import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { TimeoutError } from '@flotilla/domain';

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Read-your-writes: resolves once every named projection's checkpoint has reached `position`
 * (the position a command reply carries), so a read that follows sees the write. Polls the
 * checkpoint table, which costs one indexed query per tick and works on any replica.
 */
export async function waitForProjections(db: Queryable, projections: readonly string[], position: bigint, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ name: string; position: string }>(
      'SELECT name, position FROM projection_checkpoints WHERE name = ANY($1)',
      [projections as string[]],
    );
    const reached = new Map(rows.map((r) => [r.name, BigInt(r.position)]));
    if (projections.every((p) => (reached.get(p) ?? 0n) >= position)) return;
    if (Date.now() > deadline) {
      throw new TimeoutError(`read models did not reach position ${position} within ${timeoutMs} ms`, {
        position: position.toString(),
        projections,
      });
    }
    await delay(intervalMs);
  }
}

/**
 * Read-your-writes after a command that is already stored: true once every named projection has
 * reached `position`, false when they have not within `timeoutMs`, or when the checkpoints
 * cannot be read at all. Never throws: the command succeeded whatever the read models do, and a
 * reply that said otherwise would make a client without an idempotency key send it again.
 */
export async function readModelsReached(db: Queryable, projections: readonly string[], position: bigint, timeoutMs = 5000, intervalMs = 10): Promise<boolean> {
  try {
    await waitForProjections(db, projections, position, timeoutMs, intervalMs);
    return true;
  } catch {
    return false;
  }
}
