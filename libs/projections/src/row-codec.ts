import type pg from 'pg';
import type { ReadModelOrm } from './orm.js';
import type { Projection } from './projection.js';

interface Column {
  readonly prop: string;
  readonly column: string;
  readonly json: boolean;
}

/**
 * Moves a projection's rows between plain objects (what `evolve` works on) and SQL, from the
 * entity's MikroORM metadata (MikroORM defines the read models, their migrations and every query
 * the services make). The projector writes with one multi-row INSERT … ON CONFLICT per chunk on
 * the pg driver instead of the unit of work: rebuilds replay millions of events, and per-entity
 * change tracking would cost more than the database work itself.
 */
export class RowCodec {
  private readonly columns: Column[];
  private readonly table: string;
  private readonly pkColumn: string;
  /** `= ANY($1::<type>[])` keeps the primary-key index usable. */
  private readonly pkArrayType: string;
  private readonly byColumn: Map<string, Column>;

  constructor(orm: ReadModelOrm, projection: Projection) {
    const meta = orm.getMetadata().get(projection.entity.meta.className as never);
    this.table = meta.tableName;
    this.columns = Object.values(meta.properties)
      .filter((p) => p.persist !== false && p.fieldNames?.length === 1)
      .map((p) => ({ prop: p.name, column: p.fieldNames[0]!, json: p.customType?.constructor?.name === 'JsonType' || p.columnTypes?.[0] === 'jsonb' }));
    this.byColumn = new Map(this.columns.map((c) => [c.column, c]));
    const pk = this.columns.find((c) => c.prop === projection.primaryKey);
    if (!pk) throw new Error(`projection ${projection.name}: no column for primary key ${projection.primaryKey}`);
    this.pkColumn = pk.column;
    this.pkArrayType = meta.properties[projection.primaryKey]?.columnTypes?.[0] === 'bigint' ? 'bigint[]' : 'text[]';
  }

  async load(db: pg.ClientBase, keys: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < keys.length; i += 5000) {
      const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM ${this.table} WHERE ${this.pkColumn} = ANY($1::${this.pkArrayType})`, [keys.slice(i, i + 5000)]);
      for (const raw of rows) {
        const row: Record<string, unknown> = {};
        for (const [column, value] of Object.entries(raw)) {
          const c = this.byColumn.get(column);
          if (c) row[c.prop] = value;
        }
        out.set(String(raw[this.pkColumn]), row);
      }
    }
    return out;
  }

  async upsert(db: pg.ClientBase, rows: readonly Record<string, unknown>[]): Promise<void> {
    const cols = this.columns.map((c) => c.column).join(', ');
    const updates = this.columns
      .filter((c) => c.column !== this.pkColumn)
      .map((c) => `${c.column} = EXCLUDED.${c.column}`)
      .join(', ');
    const width = this.columns.length;
    // PostgreSQL takes at most 65,535 parameters per statement.
    const chunk = Math.max(1, Math.floor(60_000 / width));
    for (let i = 0; i < rows.length; i += chunk) {
      const part = rows.slice(i, i + chunk);
      const params: unknown[] = [];
      for (const row of part) {
        for (const c of this.columns) {
          const v = row[c.prop];
          params.push(v === undefined ? null : c.json && v !== null ? JSON.stringify(v) : v);
        }
      }
      const values = part.map((_, r) => `(${this.columns.map((_c, k) => `$${r * width + k + 1}`).join(', ')})`).join(', ');
      await db.query(`INSERT INTO ${this.table} (${cols}) VALUES ${values} ON CONFLICT (${this.pkColumn}) DO UPDATE SET ${updates}`, params);
    }
  }

  async delete(db: pg.ClientBase, keys: readonly string[]): Promise<void> {
    if (keys.length) await db.query(`DELETE FROM ${this.table} WHERE ${this.pkColumn} = ANY($1::${this.pkArrayType})`, [keys]);
  }
}
