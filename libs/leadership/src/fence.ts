import type pg from 'pg';
import { FencedOutError } from '@flotilla/domain';

export { FencedOutError };

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * Fencing for singleton loops: the highest term ever admitted for each role is kept in PostgreSQL
 * (the event store's `fences` table), and a term lower than it is refused. A leader's writes to
 * the log carry their fence into the append (checked in the append's own transaction, see
 * AppendOptions.fence); `admit` raises the mark on its own, which a new leader does at once so a
 * deposed one is refused even before the successor's first write. A leader that was paused past
 * its lease and resumes after a successor wrote therefore cannot write late, whatever the clocks say.
 */
export class Fence {
  constructor(
    private readonly db: Queryable,
    private readonly table = 'eventstore.fences',
  ) {}

  async ensureSchema(): Promise<void> {
    // CREATE … IF NOT EXISTS races with a concurrent identical CREATE (two services starting on a
    // fresh database): serialise them on an advisory lock, in one statement (one transaction). The
    // table lives in the event store's schema, whose own setup creates it too: take its lock.
    const schema = this.table.includes('.') ? this.table.split('.')[0]! : null;
    const lock = schema ? `flotilla-eventstore-schema:${schema}` : `flotilla-fence-schema:${this.table}`;
    await this.db.query(
      `DO $$ BEGIN
         PERFORM pg_advisory_xact_lock(hashtextextended('${lock}', 0));
         ${this.table.includes('.') ? `CREATE SCHEMA IF NOT EXISTS ${this.table.split('.')[0]};` : ''}
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
