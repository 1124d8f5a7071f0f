import type pg from 'pg';
import { prepared } from './prepared.js';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export interface CheckpointState {
  readonly position: bigint;
  /** A rebuild owns the projection: live batches leave it alone. */
  readonly rebuilding: boolean;
  /** A rebuild that made no progress for STALE_REBUILD_MS crashed; the live loop takes over from its checkpoint. */
  readonly stale: boolean;
}

export const STALE_REBUILD_MS = 30_000;

/** Makes sure every named projection has a checkpoint row (at 0 when new). */
export async function ensureCheckpoints(db: Queryable, names: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO projection_checkpoints (name, position, rebuilding, updated_at) SELECT n, 0, false, now() FROM unnest($1::text[]) AS n ON CONFLICT (name) DO NOTHING`,
    [names],
  );
}

/**
 * Locks the projections' checkpoints for the rest of the transaction and reads them. FOR UPDATE
 * (in name order, so two lockers never deadlock): two projector replicas, or a rebuild and a live
 * loop, serialise here, and each re-reads the checkpoints the other may just have moved, so no
 * event is applied twice.
 */
export async function lockCheckpoints(db: Queryable, names: readonly string[]): Promise<Map<string, CheckpointState>> {
  const { rows } = await db.query<{ name: string; position: string; rebuilding: boolean; stale: boolean }>(
    prepared(
      `SELECT name, position, rebuilding, updated_at < now() - make_interval(secs => $2) AS stale
         FROM projection_checkpoints WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`,
      [names, STALE_REBUILD_MS / 1000],
    ),
  );
  const out = new Map<string, CheckpointState>();
  for (const r of rows) out.set(r.name, { position: BigInt(r.position), rebuilding: r.rebuilding, stale: r.stale });
  for (const name of names) if (!out.has(name)) throw new Error(`projection ${name} has no checkpoint row (ensureCheckpoints first)`);
  return out;
}

/** Moves checkpoints forward (never back), in one statement. */
export async function saveCheckpoints(db: Queryable, positions: ReadonlyMap<string, bigint>, opts: { endRebuild?: boolean } = {}): Promise<void> {
  if (positions.size === 0) return;
  await db.query(
    prepared(
      `UPDATE projection_checkpoints c SET position = GREATEST(c.position, v.position), updated_at = now()${opts.endRebuild ? ', rebuilding = false' : ''}
         FROM unnest($1::text[], $2::bigint[]) AS v(name, position) WHERE c.name = v.name`,
      [[...positions.keys()], [...positions.values()].map(String)],
    ),
  );
}

export async function readCheckpoints(db: Queryable, names: readonly string[]): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ name: string; position: string }>(`SELECT name, position FROM projection_checkpoints WHERE name = ANY($1::text[])`, [names]);
  return new Map(rows.map((r) => [r.name, BigInt(r.position)]));
}

export async function readCheckpoint(db: Queryable, name: string): Promise<bigint> {
  return (await readCheckpoints(db, [name])).get(name) ?? 0n;
}
