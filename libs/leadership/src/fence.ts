import type pg from 'pg';
import { ConcurrencyError } from '@flotilla/domain';

/** A write by a leader whose term has been superseded. */
export class FencedOutError extends ConcurrencyError {
  constructor(role: string, term: number, current: number) {
    super(`the leader of '${role}' with term ${term} was superseded by term ${current}; its write is refused`, {
      reason: 'fenced_out',
      role,
      term,
      current_term: current,
    });
  }
}

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Fencing for singleton loops. Before (or inside the same transaction as) a write, a leader
 * calls `admit(role, term)`: the highest term ever admitted for the role is kept in PostgreSQL,
 * and a term lower than it is refused. A leader that was paused past its lease, and resumes
 * after a successor wrote, therefore cannot write late, whatever the clocks say.
 */
export class Fence {
  constructor(
    private readonly db: Queryable,
    private readonly table = 'flotilla_fences',
  ) {}

  async ensureSchema(): Promise<void> {
    // CREATE … IF NOT EXISTS races with a concurrent identical CREATE (two services starting on a
    // fresh database): serialise them on an advisory lock, in one statement (one transaction).
    await this.db.query(
      `DO $$ BEGIN
         PERFORM pg_advisory_xact_lock(hashtextextended('flotilla-fence-schema:${this.table}', 0));
         CREATE TABLE IF NOT EXISTS ${this.table} (role text PRIMARY KEY, term bigint NOT NULL, admitted_at timestamptz NOT NULL DEFAULT now());
         CREATE SEQUENCE IF NOT EXISTS flotilla_lease_epochs;
       END $$`,
    );
  }

  /**
   * A new lease epoch (see termOf in campaign.ts): from a sequence, so epochs only grow, whatever
   * happens to NATS.
   */
  readonly newEpoch = async (): Promise<number> => {
    const { rows } = await this.db.query<{ epoch: string }>(`SELECT nextval('flotilla_lease_epochs')::text AS epoch`);
    return Number(rows[0]!.epoch);
  };

  /** Admits the term (raising the role's high-water mark) or throws FencedOutError. */
  async admit(role: string, term: number, tx: Queryable = this.db): Promise<void> {
    const { rows } = await tx.query<{ term: string }>(
      `INSERT INTO ${this.table} (role, term) VALUES ($1, $2)
       ON CONFLICT (role) DO UPDATE SET term = EXCLUDED.term, admitted_at = now()
         WHERE ${this.table}.term <= EXCLUDED.term
       RETURNING term`,
      [role, term],
    );
    if (rows.length === 0) {
      const current = await tx.query<{ term: string }>(`SELECT term FROM ${this.table} WHERE role = $1`, [role]);
      throw new FencedOutError(role, term, Number(current.rows[0]?.term ?? 0));
    }
  }
}
