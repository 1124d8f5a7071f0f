import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ReadModelOrm } from './orm.js';
import { prepared } from './prepared.js';
import type { Projection } from './projection.js';

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value in COPY's text format: `\N` for NULL, backslash, newline, CR and tab escaped. */
function copyField(value: unknown, json: boolean): string {
  if (value === null || value === undefined) return '\\N';
  const text = json || (typeof value === 'object' && !(value instanceof Date)) ? JSON.stringify(value) : value instanceof Date ? value.toISOString() : String(value);
  return /[\\\n\r\t]/.test(text) ? text.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : text;
}

/** Rows per INSERT statement: big enough to amortise a round trip, small enough to stream. */
const UPSERT_CHUNK = 5000;

interface Column {
  readonly prop: string;
  readonly column: string;
  readonly json: boolean;
}

/**
 * Moves a projection's rows between plain objects (what `evolve` works on) and SQL, from the
 * entity's MikroORM metadata (MikroORM defines the read models, their migrations and every query
 * the services make). The projector writes set-wise on the pg driver instead of through the unit
 * of work — upserts as one JSON document per chunk, append-only rows through COPY — because
 * rebuilds replay millions of events and per-entity change tracking would cost more than the
 * database work itself.
 */
export class RowCodec {
  private readonly columns: Column[];
  readonly table: string;
  private readonly pkColumn: string;
  /** `= ANY($1::<type>[])` keeps the primary-key index usable. */
  private readonly pkArrayType: string;
  private readonly byColumn: Map<string, Column>;
  /** The entity's columns, for a statement whose result type stays what it was prepared with. */
  private readonly columnList: string;
  private types: Promise<string[]> | undefined;

  constructor(orm: ReadModelOrm, projection: Projection) {
    const meta = orm.getMetadata().get(projection.entity.meta.className as never);
    this.table = meta.tableName;
    this.columns = Object.values(meta.properties)
      .filter((p) => p.persist !== false && p.fieldNames?.length === 1)
      .map((p) => ({ prop: p.name, column: p.fieldNames[0]!, json: p.customType?.constructor?.name === 'JsonType' || p.columnTypes?.[0] === 'jsonb' }));
    this.byColumn = new Map(this.columns.map((c) => [c.column, c]));
    this.columnList = this.columns.map((c) => c.column).join(', ');
    const pk = this.columns.find((c) => c.prop === projection.primaryKey);
    if (!pk) throw new Error(`projection ${projection.name}: no column for primary key ${projection.primaryKey}`);
    this.pkColumn = pk.column;
    this.pkArrayType = meta.properties[projection.primaryKey]?.columnTypes?.[0] === 'bigint' ? 'bigint[]' : 'text[]';
  }

  async load(db: pg.ClientBase, keys: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < keys.length; i += 5000) {
      const { rows } = await db.query<Record<string, unknown>>(prepared(`SELECT ${this.columnList} FROM ${this.table} WHERE ${this.pkColumn} = ANY($1::${this.pkArrayType})`, [keys.slice(i, i + 5000)]));
      for (const raw of rows) out.set(String(raw[this.pkColumn]), this.fromRaw(raw));
    }
    return out;
  }

  /** Every row (matching `where`, an SQL condition of this code's own), keyed by primary key. */
  async loadAll(db: pg.ClientBase, where = 'true'): Promise<Map<string, Record<string, unknown>>> {
    const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM ${this.table} WHERE ${where}`);
    return new Map(rows.map((raw) => [String(raw[this.pkColumn]), this.fromRaw(raw)]));
  }

  /** A row as `evolve` sees it: the entity's property names (columns it does not know are left out). */
  fromRaw(raw: Record<string, unknown>): Record<string, unknown> {
    const row: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(raw)) {
      const c = this.byColumn.get(column);
      if (c) row[c.prop] = value;
    }
    return row;
  }

  /**
   * Inserts or replaces rows with one `INSERT … SELECT FROM jsonb_to_recordset($1) … ON CONFLICT`
   * per chunk: the whole chunk travels as one JSON document (one `JSON.stringify`, no per-cell
   * parameters for PostgreSQL to parse and plan), and json columns go in as nested values rather
   * than strings inside strings.
   */
  async upsert(db: pg.ClientBase, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    const types = await this.columnTypes(db);
    const cols = this.columns.map((c) => c.column).join(', ');
    const updates = this.columns
      .filter((c) => c.column !== this.pkColumn)
      .map((c) => `${c.column} = EXCLUDED.${c.column}`)
      .join(', ');
    const conflict = updates ? `DO UPDATE SET ${updates}` : 'DO NOTHING';
    const record = this.columns.map((c, k) => `"${c.prop}" ${types[k]}`).join(', ');
    const picked = this.columns.map((c) => `"${c.prop}"`).join(', ');
    const sql = `INSERT INTO ${this.table} (${cols}) SELECT ${picked} FROM jsonb_to_recordset($1::jsonb) AS r(${record}) ON CONFLICT (${this.pkColumn}) ${conflict}`;
    for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
      await db.query(prepared(sql, [JSON.stringify(rows.slice(i, i + UPSERT_CHUNK))]));
    }
  }

  /**
   * Writes rows whose keys are known not to exist (an append-only projection's events past its
   * checkpoint) with `COPY … FROM STDIN`, PostgreSQL's bulk-load path: no statement to plan and
   * no conflict check, which is what lets a rebuild keep up with reading the log.
   */
  async insertFresh(db: pg.ClientBase, rows: readonly Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return;
    const cols = this.columns.map((c) => c.column).join(', ');
    const columns = this.columns;
    function* lines(): Generator<string> {
      for (let i = 0; i < rows.length; i += 500) {
        let text = '';
        for (const row of rows.slice(i, i + 500)) {
          for (let k = 0; k < columns.length; k += 1) {
            const c = columns[k]!;
            text += (k === 0 ? '' : '\t') + copyField(row[c.prop], c.json);
          }
          text += '\n';
        }
        yield text;
      }
    }
    await pipeline(Readable.from(lines()), db.query(copyStreams.from(`COPY ${this.table} (${cols}) FROM STDIN`)));
  }

  /** The table's column types as the database has them (the migrations, not the entity, are the truth). */
  private columnTypes(db: pg.ClientBase): Promise<string[]> {
    this.types ??= db
      .query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
        [this.table],
      )
      .then(({ rows }) => {
        const byName = new Map(rows.map((r) => [r.name, r.type]));
        return this.columns.map((c) => {
          const type = byName.get(c.column);
          if (!type) throw new Error(`read model ${this.table}: no column ${c.column} in the database (migrations not applied?)`);
          return type;
        });
      })
      .catch((err: unknown) => {
        this.types = undefined;
        throw err;
      });
    return this.types;
  }

  async delete(db: pg.ClientBase, keys: readonly string[]): Promise<void> {
    if (keys.length) await db.query(prepared(`DELETE FROM ${this.table} WHERE ${this.pkColumn} = ANY($1::${this.pkArrayType})`, [keys]));
  }
}
