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

/** The advisory-lock class of projection checkpoints (two-key advisory locks: apart from the event store's one-key stream locks). */
const CHECKPOINT_LOCK_CLASS = 0x464c5431;

/**
 * The statements that lock the projections' checkpoints for the rest of the transaction: one
 * transaction-scoped advisory lock per projection, in name order (so two lockers never deadlock),
 * as plain statements with no parameter, so they can ride in the same round trip as BEGIN.
 * Advisory locks, not FOR UPDATE: a row lock gives the transaction an id at once, and an id in
 * flight holds back every event-store reader (they read below the oldest one, see the event
 * store's position rule) for the whole batch; with an advisory lock the batch gets its id only
 * at its first write, a moment before it commits.
 */
export function checkpointLocks(names: readonly string[]): string {
  return [...new Set(names)]
    .sort()
    .map((name) => {
      if (!/^[A-Za-z0-9_.:-]+$/.test(name)) throw new Error(`projection name '${name}' is not a plain identifier`);
      return `SELECT pg_advisory_xact_lock(${CHECKPOINT_LOCK_CLASS}, hashtext('${name}'))`;
    })
    .join('; ');
}

/**
 * Locks the projections' checkpoints for the rest of the transaction (see checkpointLocks; skipped
 * when the caller took the locks already, with its BEGIN) and reads them. Everything that moves a
 * projection's checkpoint or rows takes these locks first: two projector replicas, or a rebuild
 * and a live loop, serialise here, and each reads the checkpoints after the other committed, so no
 * event is applied twice.
 */
export async function lockCheckpoints(db: Queryable, names: readonly string[], opts: { locked?: boolean } = {}): Promise<Map<string, CheckpointState>> {
  if (!opts.locked) await db.query(checkpointLocks(names));
  const { rows } = await db.query<{ name: string; position: string; rebuilding: boolean; stale: boolean }>(
    prepared(
      `SELECT name, position, rebuilding, updated_at < now() - make_interval(secs => $2) AS stale
         FROM projection_checkpoints WHERE name = ANY($1::text[]) ORDER BY name`,
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
