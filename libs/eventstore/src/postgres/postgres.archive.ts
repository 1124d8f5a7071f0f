import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type pg from 'pg';
import { categoryOf } from '../categories.js';
import type { EventMetadata } from '../event-store.port.js';
import { INDEX_BITS } from './position.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const INDEX_SHIFT = INDEX_BITS.toString();

/** An event row as the store reads it (int8 columns as text). */
export interface EventRow {
  position: string;
  stream_id: string;
  revision: string;
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
  occurred_ms: string;
}

/** Runs a named (prepared) statement on the store's pool. */
export type Query = <R extends pg.QueryResultRow>(operation: string, statement: { name: string; text: string }, values: unknown[]) => Promise<R[]>;

/**
 * Events kept decompressed, in whole chunks, least recently used out first: a catch-up reads a
 * chunk in several pages, and reads of the past come back to the same chunks.
 */
const CACHED_EVENTS = 50_000;

/**
 * A chunk as it is read back: its JSON text, decompressed once, parsed by each read into rows of
 * its own (a caller may change the events it gets without touching what the next one reads).
 */
interface Chunk {
  readonly text: string;
  readonly events: number;
}

/** Chunk ids fetched per query while a read walks the archive. */
const CHUNK_IDS_PER_QUERY = 32;

/**
 * Reads of the archive: immutable chunks of the oldest events, each a gzip of its rows as JSON
 * tuples in position order. The store asks it for what lies at or below the boundary its own
 * snapshot saw, so a read that races an archiving pass never misses or repeats an event: the
 * pass deletes rows and inserts their chunk in one transaction.
 */
export class ArchiveReader {
  private readonly cache = new Map<string, { chunk: Promise<Chunk>; events: number }>();
  private cachedEvents = 0;
  private readonly sql: ReturnType<typeof archiveStatements>;

  constructor(
    schema: string,
    private readonly query: Query,
  ) {
    this.sql = archiveStatements(schema);
  }

  /** Archived events with `after < position <= through`, in order, of the categories when given; at most `limit`. */
  async range(after: bigint, through: bigint, limit: number | null, categories: readonly string[] | undefined): Promise<EventRow[]> {
    const cats = categories?.length ? new Set(categories) : undefined;
    const out: EventRow[] = [];
    // The chunk holding `after + 1` first (the chunks are a contiguous prefix, found by their
    // primary key), then the next ones a few ids at a time: a page reads the chunks it needs.
    let from = after;
    let first = true;
    for (;;) {
      const ids = await this.query<{ first_position: string }>(
        'readAll',
        first ? (cats ? this.sql.chunksFromCategories : this.sql.chunksFrom) : cats ? this.sql.chunksAfterCategories : this.sql.chunksAfter,
        [from.toString(), through.toString(), CHUNK_IDS_PER_QUERY, ...(cats ? [[...cats]] : [])],
      );
      for (const { first_position } of ids) {
        for (const row of await this.rows(first_position)) {
          const position = BigInt(row.position);
          if (position <= after) continue;
          if (position > through) return out;
          if (cats && !cats.has(categoryOf(row.stream_id))) continue;
          out.push(row);
          if (limit !== null && out.length >= limit) return out;
        }
      }
      if (ids.length < CHUNK_IDS_PER_QUERY) return out;
      from = BigInt(ids[ids.length - 1]!.first_position);
      first = false;
    }
  }

  /**
   * A stream's archived events with `from <= revision <= to`, in revision order (backwards:
   * from `to` down), at most `limit`. Only the chunks holding revisions of that range are read,
   * nearest first, so a page of a long stream decompresses a chunk or two.
   */
  async stream(streamId: string, from: bigint, to: bigint, limit: number, backwards = false): Promise<EventRow[]> {
    const chunks = await this.query<{ first_position: string }>('readStream', backwards ? this.sql.chunksOfStreamBackwards : this.sql.chunksOfStream, [
      streamId,
      from.toString(),
      to.toString(),
    ]);
    const out: EventRow[] = [];
    for (const { first_position } of chunks) {
      const rows = await this.rows(first_position);
      for (let i = backwards ? rows.length - 1 : 0; backwards ? i >= 0 : i < rows.length; backwards ? i-- : i++) {
        const row = rows[i]!;
        if (row.stream_id !== streamId) continue;
        const revision = BigInt(row.revision);
        if (revision < from || revision > to) continue;
        out.push(row);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /** A chunk's rows, parsed for this read alone. */
  private async rows(firstPosition: string): Promise<EventRow[]> {
    return decodeChunk((await this.chunk(firstPosition)).text);
  }

  private chunk(firstPosition: string): Promise<Chunk> {
    const cached = this.cache.get(firstPosition);
    if (cached) {
      // Most recently used last.
      this.cache.delete(firstPosition);
      this.cache.set(firstPosition, cached);
      return cached.chunk;
    }
    const entry = { chunk: this.load(firstPosition), events: 0 };
    this.cache.set(firstPosition, entry);
    entry.chunk.then(
      (c) => {
        if (this.cache.get(firstPosition) !== entry) return;
        entry.events = c.events;
        this.cachedEvents += c.events;
        for (const [key, old] of this.cache) {
          if (this.cachedEvents <= CACHED_EVENTS || key === firstPosition) break;
          this.cache.delete(key);
          this.cachedEvents -= old.events;
        }
      },
      () => {
        if (this.cache.get(firstPosition) === entry) this.cache.delete(firstPosition);
      },
    );
    return entry.chunk;
  }

  private async load(firstPosition: string): Promise<Chunk> {
    // base64 text: independent of the server's bytea_output and of the pool's type parsers.
    const rows = await this.query<{ body: string; events: number }>('readAll', this.sql.chunkBody, [firstPosition]);
    if (!rows[0]) throw new Error(`archive chunk ${firstPosition} is missing`);
    return { text: (await gunzipAsync(Buffer.from(rows[0].body, 'base64'))).toString('utf8'), events: Number(rows[0].events) };
  }
}

type Tuple = [string, string, string, string, string, Record<string, unknown>, EventMetadata, string];

function decodeChunk(text: string): EventRow[] {
  return (JSON.parse(text) as Tuple[]).map(([position, stream_id, revision, id, type, data, metadata, occurred_ms]) => ({
    position,
    stream_id,
    revision,
    id,
    type,
    data,
    metadata,
    occurred_ms,
  }));
}

/** A row about to be archived: data and metadata as the JSON text PostgreSQL stored. */
interface CandidateRow {
  position: string;
  stream_id: string;
  revision: string;
  id: string;
  type: string;
  data: string;
  metadata: string;
  occurred_ms: string;
  old: boolean;
}

export interface ChunkWritten {
  readonly events: number;
  readonly lastPosition: bigint;
  readonly compressedBytes: number;
  readonly rawBytes: number;
}

/**
 * Moves one chunk (the oldest visible events, up to `chunkEvents`, as long as they occurred before
 * `before`) into the archive, inside the caller's transaction: the chunk is inserted, the streams
 * learn how far they are archived, and the rows are deleted, so every reader sees either the rows
 * or the chunk. Only finished transactions' events are taken (the visibility rule): an event an
 * open transaction may still commit lies above them. Null when nothing is old enough.
 */
export async function archiveOneChunk(client: pg.PoolClient, schema: string, before: Date, chunkEvents: number): Promise<ChunkWritten | null> {
  const sql = archiveStatements(schema);
  const { rows } = await client.query<CandidateRow>({ ...sql.candidates, values: [before.toISOString(), chunkEvents] });
  const end = rows.findIndex((r) => !r.old);
  const take = end < 0 ? rows : rows.slice(0, end);
  if (take.length === 0) return null;
  const tuples = take.map(
    (r) => `[${JSON.stringify(r.position)},${JSON.stringify(r.stream_id)},${JSON.stringify(r.revision)},${JSON.stringify(r.id)},${JSON.stringify(r.type)},${r.data},${r.metadata},${JSON.stringify(r.occurred_ms)}]`,
  );
  const raw = Buffer.from(`[${tuples.join(',')}]`, 'utf8');
  const body = await gzipAsync(raw, { level: 6 });
  const streams = new Map<string, { first: bigint; last: bigint }>();
  const categories = new Map<string, string>();
  let firstMs = Number(take[0]!.occurred_ms);
  let lastMs = firstMs;
  for (const r of take) {
    const revision = BigInt(r.revision);
    const range = streams.get(r.stream_id);
    if (!range) streams.set(r.stream_id, { first: revision, last: revision });
    else if (range.last < revision) range.last = revision;
    categories.set(categoryOf(r.stream_id), r.position);
    const ms = Number(r.occurred_ms);
    if (ms < firstMs) firstMs = ms;
    if (ms > lastMs) lastMs = ms;
  }
  const first = take[0]!.position;
  const last = take[take.length - 1]!.position;
  await client.query({
    ...sql.insertChunk,
    values: [
      first,
      last,
      take.length,
      firstMs,
      lastMs,
      [...streams.keys()],
      [...streams.values()].map((r) => r.first.toString()),
      [...streams.values()].map((r) => r.last.toString()),
      [...categories.keys()],
      [...categories.values()],
      raw.length,
      body,
    ],
  });
  await client.query({ ...sql.markStreams, values: [[...streams.keys()], [...streams.values()].map((r) => r.last.toString())] });
  const deleted = await client.query({ ...sql.deleteRange, values: [first, last] });
  if (deleted.rowCount !== take.length) {
    throw new Error(`archiving ${first}..${last} deleted ${deleted.rowCount} rows, expected ${take.length}`);
  }
  return { events: take.length, lastPosition: BigInt(last), compressedBytes: body.length, rawBytes: raw.length };
}

/** The archive's statements, prepared per connection under names scoped to the schema. */
export function archiveStatements(schema: string) {
  const s = `"${schema}"`;
  /** The first chunk holding a position above `after` (its primary key; 0 when none precedes it). */
  const holding = (after: string) =>
    `COALESCE((SELECT CASE WHEN last_position > ${after} THEN first_position ELSE first_position + 1 END FROM ${s}.archive_chunks
                WHERE first_position <= ${after} + 1 ORDER BY first_position DESC LIMIT 1), 0)`;
  // Short names: PostgreSQL cuts statement names at 63 bytes, and a schema name may take 41.
  const named = (name: string, text: string) => ({ name: `flotilla_es_${schema}_a_${name}`, text });
  return {
    /** The first `$2` visible events, each saying whether it occurred before `$1`. */
    candidates: named(
      'cand',
      `SELECT position, stream_id, revision, id, type, data::text AS data, metadata::text AS metadata,
              floor(extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_ms, occurred_at < $1::timestamptz AS old
         FROM ${s}.events
        WHERE position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${INDEX_SHIFT})
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY position LIMIT $2`,
    ),
    insertChunk: named(
      'ins',
      `INSERT INTO ${s}.archive_chunks (first_position, last_position, event_count, first_at, last_at, stream_ids, stream_first, stream_last, categories, category_last, raw_bytes, body)
       VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000), to_timestamp($5::double precision / 1000), $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11, $12)`,
    ),
    markStreams: named(
      'mark',
      `UPDATE ${s}.streams st SET archived_revision = v.revision
         FROM unnest($1::text[], $2::bigint[]) AS v(stream_id, revision)
        WHERE st.stream_id = v.stream_id AND (st.archived_revision IS NULL OR st.archived_revision < v.revision)`,
    ),
    deleteRange: named('del', `DELETE FROM ${s}.events WHERE position >= $1 AND position <= $2`),
    /** Up to `$3` chunk ids from the first one holding a position above `$1`, to `$2` (of the categories `$4`). */
    chunksFrom: named(
      'from',
      `SELECT first_position FROM ${s}.archive_chunks
        WHERE first_position >= ${holding('$1::bigint')} AND first_position <= $2::bigint
        ORDER BY first_position LIMIT $3`,
    ),
    chunksFromCategories: named(
      'fromc',
      `SELECT first_position FROM ${s}.archive_chunks
        WHERE first_position >= ${holding('$1::bigint')} AND first_position <= $2::bigint
          AND categories && $4::text[]
        ORDER BY first_position LIMIT $3`,
    ),
    /** Up to `$3` chunk ids after the chunk `$1`, to `$2` (of the categories `$4`). */
    chunksAfter: named('after', `SELECT first_position FROM ${s}.archive_chunks WHERE first_position > $1::bigint AND first_position <= $2::bigint ORDER BY first_position LIMIT $3`),
    chunksAfterCategories: named(
      'afterc',
      `SELECT first_position FROM ${s}.archive_chunks WHERE first_position > $1::bigint AND first_position <= $2::bigint AND categories && $4::text[] ORDER BY first_position LIMIT $3`,
    ),
    /** The chunks holding revisions `$2..$3` of stream `$1` (the GIN index finds the stream's chunks; the ranges pick among them). */
    chunksOfStream: named(
      'strm',
      `SELECT first_position FROM ${s}.archive_chunks
        WHERE stream_ids @> ARRAY[$1::text] AND stream_last[array_position(stream_ids, $1::text)] >= $2 AND stream_first[array_position(stream_ids, $1::text)] <= $3
        ORDER BY first_position`,
    ),
    chunksOfStreamBackwards: named(
      'strmb',
      `SELECT first_position FROM ${s}.archive_chunks
        WHERE stream_ids @> ARRAY[$1::text] AND stream_last[array_position(stream_ids, $1::text)] >= $2 AND stream_first[array_position(stream_ids, $1::text)] <= $3
        ORDER BY first_position DESC`,
    ),
    chunkBody: named('body', `SELECT encode(body, 'base64') AS body, event_count AS events FROM ${s}.archive_chunks WHERE first_position = $1`),
    /** How far the archive reaches: every event at or below it is archived (the chunks are a prefix). */
    through: named('thru', `SELECT COALESCE((SELECT last_position FROM ${s}.archive_chunks ORDER BY first_position DESC LIMIT 1), 0)::text AS through`),
  };
}

/** The archive's reach as a SQL expression, for statements that read it in their own snapshot. */
export const archivedThrough = (s: string): string => `(SELECT last_position FROM ${s}.archive_chunks ORDER BY first_position DESC LIMIT 1)`;

/** The last archived position of the category `param`, as a SQL expression. */
export const archivedLastOf = (s: string, param: string): string =>
  `(SELECT category_last[array_position(categories, ${param})] FROM ${s}.archive_chunks WHERE ${param} = ANY(categories) ORDER BY first_position DESC LIMIT 1)`;
