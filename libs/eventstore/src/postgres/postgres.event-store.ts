import { FencedOutError, UnavailableError, ValidationError, type ValidationIssue } from '@flotilla/domain';
import pg from 'pg';
import { prepareAppend, type PreparedAppend } from '../append-validation.js';
import type {
  AppendOptions,
  AppendResult,
  ArchiveOptions,
  ArchiveResult,
  EventMetadata,
  EventStore,
  EventSubscription,
  ExpectedRevision,
  HeadOptions,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEvent,
  SubscribeToAllOptions,
  Upcasters,
} from '../event-store.port.js';
import { assertExpectedRevision, assertFence, concurrencyError } from '../expected-revision.js';
import { categoryOf, isCategory } from '../categories.js';
import { assertCategories, assertLimit, assertNonNegative } from '../read-validation.js';
import { upcastAll } from '../upcasting.js';
import { PgNotifier } from './postgres.notifier.js';
import { ArchiveReader, archiveOneChunk, archiveStatements, archivedLastOf, archivedThrough, type EventRow } from './postgres.archive.js';
import {
  AppendOutcome,
  ExpectedCode,
  assertSchemaName,
  notificationChannel,
  schemaSql,
} from './postgres.schema.js';
import { PostgresSubscription, type Page, type SubscriptionSource } from './postgres.subscription.js';
import { isRetryable, isUniqueViolation, toStoreError } from './postgres.errors.js';
import { INDEX_BITS, MAX_EVENTS_PER_APPEND } from './position.js';

export interface PostgresEventStoreOptions {
  /** postgres:// URL of the database holding the store. */
  url: string;
  /** Connections in the pool (appends and reads); subscriptions add one LISTEN connection. Default 10. */
  poolSize?: number;
  /** PostgreSQL schema holding the tables, so tests and benchmarks can isolate stores. Default `eventstore`. */
  schema?: string;
  upcasters?: Upcasters;
  /** Fallback re-read interval of caught-up subscriptions when no notification arrives. Default 500 ms. */
  pollIntervalMs?: number;
  /** How long an operation waits for a free (or new) connection before failing as unavailable. Default 10 s. */
  connectionTimeoutMs?: number;
  /** Errors of idle connections and of the LISTEN connection (the pool and subscriptions recover on their own). */
  onBackgroundError?: (err: Error) => void;
  /**
   * The connection pool to use, made by `eventStorePool` (which sets the type parsers the store
   * relies on); by default the store makes its own. Either way the store closes it. Tests pass a
   * wrapped one to inject faults (see testing/hold-commits-open.ts).
   */
  pool?: pg.Pool;
}

/** The connection settings of an event store's pool and of its LISTEN connection. */
function connectionOf(options: Pick<PostgresEventStoreOptions, 'url' | 'connectionTimeoutMs'>): pg.ClientConfig {
  return {
    connectionString: options.url,
    types: ownTypes,
    application_name: eventStoreApplicationName(),
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
  };
}

/** A pool as the event store needs it (its own type parsers, application name and timeouts). */
export function eventStorePool(options: Pick<PostgresEventStoreOptions, 'url' | 'connectionTimeoutMs' | 'poolSize'>): pg.Pool {
  return new pg.Pool({ ...connectionOf(options), max: options.poolSize ?? 10 });
}

export const DEFAULT_SCHEMA = 'eventstore';
const DEFAULT_POLL_INTERVAL_MS = 500;
const MAX_APPEND_ATTEMPTS = 5;
/** int8 upper bound: the default `fromRevision` of a backwards read. */
const MAX_INT8 = 9223372036854775807n;

/** The connections' name in pg_stat_activity: the process's PGAPPNAME (a service sets its own), else flotilla-eventstore. */
const eventStoreApplicationName = (): string => process.env['PGAPPNAME'] ?? 'flotilla-eventstore';

/**
 * Column parsers of this store's own pool, independent of the process-wide `pg.types` (which
 * other libraries, e.g. Emmett's dumbo, replace): int8 stays text and becomes bigint here.
 */
const identity = (value: string): string => value;
const parseBool = (value: string): boolean => value === 't';
const parseJson = JSON.parse as (value: string) => unknown;
const ownTypes = {
  getTypeParser(oid: number): (value: string) => unknown {
    switch (oid) {
      case 16: // bool
        return parseBool;
      case 21: // int2
      case 23: // int4
        return Number;
      case 114: // json
      case 3802: // jsonb
        return parseJson;
      default: // int8 and text-like: text
        return identity;
    }
  },
};

interface PageRow extends Partial<EventRow> {
  head: string | null;
  horizon: string;
  /** How far the archive reached in the page's snapshot (null: nothing archived). */
  archived: string | null;
}

interface StreamRow extends Partial<EventRow> {
  /** The stream's last archived revision in the read's snapshot (null: none). */
  archived: string | null;
}

/** Events per archive chunk unless asked otherwise. */
const DEFAULT_CHUNK_EVENTS = 1000;
const MAX_CHUNK_EVENTS = 50_000;

/** Reads of the log after a position that subscriptions asked for in the same turn of the event loop. */
interface PendingRead {
  readonly waiters: { after: bigint; limit: number; categories: readonly string[] | undefined; resolve: (page: Page) => void; reject: (err: unknown) => void }[];
}

/** The most one shared read fetches. */
const MAX_SHARED_PAGE = 1000;

interface AppendRow {
  outcome: number;
  stream_revision: string;
  first_position: string | null;
  occurred_ms: string | null;
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    type: row.type,
    streamId: row.stream_id,
    revision: BigInt(row.revision),
    position: BigInt(row.position),
    occurredAt: new Date(Number(row.occurred_ms)),
    data: row.data,
    metadata: row.metadata,
  };
}

function encodeExpected(expected: ExpectedRevision): string {
  switch (expected) {
    case 'any':
      return ExpectedCode.any.toString();
    case 'no_stream':
      return ExpectedCode.noStream.toString();
    case 'exists':
      return ExpectedCode.exists.toString();
    default:
      return expected.toString();
  }
}

/**
 * The PostgreSQL adapter. One append is one call of the `append_events` function (one statement,
 * so one round trip and one transaction): per-stream lock, expected-revision check against the
 * `streams` row, one multi-row INSERT, commit; then a NOTIFY announces it. Readers of the global
 * log only see transactions below their snapshot's xmin (see position.ts).
 */
export class PostgresEventStore implements EventStore {
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly inflight: Set<Promise<unknown>>;
  private readonly notifier: PgNotifier;
  private readonly upcasters: Upcasters | undefined;
  private readonly pollIntervalMs: number;
  private readonly subscriptions = new Set<PostgresSubscription>();
  private readonly sql: ReturnType<typeof statements>;
  private readonly archived: ArchiveReader;
  private closed = false;
  private announcing: Promise<void> | null = null;
  private announceAgain = false;
  private readonly announceCategories = new Set<string>();
  private announceUnlabelled = false;
  private pendingRead: PendingRead | undefined;
  private readonly onBackgroundError: (err: Error) => void;

  constructor(options: PostgresEventStoreOptions) {
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    assertSchemaName(this.schema);
    this.upcasters = options.upcasters;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.sql = statements(this.schema);
    this.archived = new ArchiveReader(this.schema, (operation, statement, values) => this.query(operation, statement, values));
    const onError = options.onBackgroundError ?? (() => undefined);
    this.onBackgroundError = onError;
    const connection = connectionOf(options);
    this.pool = options.pool ?? eventStorePool(options);
    this.inflight = new Set();
    // An idle connection dying (server restart) must not crash the process; the pool replaces it.
    this.pool.on('error', onError);
    this.notifier = new PgNotifier(
      { ...connection, application_name: `${eventStoreApplicationName()}-listen` },
      notificationChannel(this.schema),
      onError,
    );
  }

  /** Creates the schema, tables and append function if missing. Idempotent; safe from concurrent processes. */
  async ensureSchema(): Promise<void> {
    const client = await this.connect('ensureSchema');
    try {
      await client.query('BEGIN');
      // CREATE ... IF NOT EXISTS is not safe against a concurrent identical CREATE: serialise.
      await client.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('flotilla-eventstore-schema:${this.schema}', 0))`,
      );
      await client.query(schemaSql(this.schema));
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw toStoreError(err, 'ensureSchema');
    } finally {
      client.release();
    }
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    opts: AppendOptions,
  ): Promise<AppendResult> {
    this.assertOpen();
    assertExpectedRevision(opts?.expectedRevision);
    assertFence(opts.fence);
    const prepared = prepareAppend(streamId, events, MAX_EVENTS_PER_APPEND);
    const params = [
      streamId,
      encodeExpected(opts.expectedRevision),
      prepared.events.map((e) => e.id),
      prepared.events.map((e) => e.type),
      prepared.events.map((e) => e.dataJson),
      prepared.events.map((e) => e.metadataJson),
      opts.fence?.role ?? null,
      opts.fence ? String(opts.fence.term) : null,
    ];
    for (let attempt = 1; ; attempt++) {
      let row: AppendRow;
      try {
        row = await this.runAppend(params);
      } catch (err) {
        if (isUniqueViolation(err, 'events_id_key'))
          return this.resolveDuplicate(prepared, opts.expectedRevision, undefined);
        if (isRetryable(err) && attempt < MAX_APPEND_ATTEMPTS) continue;
        throw toStoreError(err, 'append');
      }
      if (row.outcome === AppendOutcome.fencedOut) {
        throw new FencedOutError(opts.fence!.role, opts.fence!.term, Number(row.stream_revision));
      }
      if (row.outcome === AppendOutcome.wrongExpectedRevision) {
        const actual = BigInt(row.stream_revision);
        const current = actual < 0n ? null : actual;
        if (prepared.callerChoseIds)
          return this.resolveDuplicate(prepared, opts.expectedRevision, current);
        throw concurrencyError(streamId, opts.expectedRevision, current);
      }
      this.announce(categoryOf(streamId));
      return this.appended(prepared, row);
    }
  }

  async readStream(streamId: string, opts: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    const issues: ValidationIssue[] = [];
    if (typeof streamId !== 'string' || streamId === '')
      issues.push({ path: 'streamId', message: 'must be a non-empty string' });
    assertNonNegative(opts.fromRevision, 'fromRevision', issues);
    assertLimit(opts.limit, issues);
    if (
      opts.direction !== undefined &&
      opts.direction !== 'forwards' &&
      opts.direction !== 'backwards'
    ) {
      issues.push({ path: 'direction', message: 'must be forwards or backwards' });
    }
    if (issues.length > 0) throw ValidationError.of(issues, 'readStream options');
    if (opts.limit === 0) return [];
    const backwards = opts.direction === 'backwards';
    const from = opts.fromRevision ?? (backwards ? MAX_INT8 : 0n);
    // Stream reads need no visibility horizon: the per-stream lock already orders a stream's
    // writers, and a command handler must see its own append at once.
    const rows = await this.query<StreamRow>(
      'readStream',
      backwards ? this.sql.readStreamBackwards : this.sql.readStreamForwards,
      [streamId, from.toString(), opts.limit ?? null],
    );
    let events = rows.filter((r): r is StreamRow & EventRow => r.position !== null && r.position !== undefined) as EventRow[];
    // The stream's archived prefix (revisions 0..archived), where the read reaches into it.
    const archived = rows[0]?.archived == null ? -1n : BigInt(rows[0].archived);
    const limit = opts.limit ?? Infinity;
    if (archived >= 0n && !backwards && from <= archived) {
      events = [...(await this.archived.stream(streamId, from, archived, limit)), ...events].slice(0, limit);
    } else if (archived >= 0n && backwards && events.length < limit) {
      const old = await this.archived.stream(streamId, 0n, from < archived ? from : archived, limit - events.length, true);
      events = [...events, ...old];
    }
    return upcastAll(this.upcasters, events.map(toStoredEvent));
  }

  async readAll(opts: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    const issues: ValidationIssue[] = [];
    assertNonNegative(opts.after, 'after', issues);
    assertLimit(opts.limit, issues);
    assertCategories(opts.categories, issues);
    if (issues.length > 0) throw ValidationError.of(issues, 'readAll options');
    if (opts.limit === 0) return [];
    return (await this.readPage(opts.after ?? 0n, opts.limit ?? null, opts.categories)).events;
  }

  subscribeToAll(opts: SubscribeToAllOptions = {}): EventSubscription {
    this.assertOpen();
    const issues: ValidationIssue[] = [];
    assertNonNegative(opts.after, 'after', issues);
    if (opts.batchSize !== undefined && (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)) {
      issues.push({ path: 'batchSize', message: 'must be an integer >= 1' });
    }
    assertCategories(opts.categories, issues);
    if (issues.length > 0) throw ValidationError.of(issues, 'subscribeToAll options');
    const source: SubscriptionSource = {
      notifier: this.notifier,
      pollIntervalMs: this.pollIntervalMs,
      readPage: (after, limit, categories) => this.sharedPage(after, limit, categories),
      forget: (subscription) => this.subscriptions.delete(subscription),
    };
    const subscription = new PostgresSubscription(source, opts);
    this.subscriptions.add(subscription);
    return subscription;
  }

  async headPosition(opts: HeadOptions = {}): Promise<bigint> {
    this.assertOpen();
    const issues: ValidationIssue[] = [];
    assertCategories(opts.categories, issues);
    if (issues.length > 0) throw ValidationError.of(issues, 'headPosition options');
    const categories = opts.categories ? [...new Set(opts.categories)].sort() : [];
    const rows = await this.query<{ head: string | null }>('headPosition', this.sql.head(categories.length, opts.committed === true), categories);
    return BigInt(rows[0]?.head ?? 0);
  }

  /**
   * Moves the oldest events into compressed chunks, one transaction per chunk (see
   * postgres.archive.ts). One archiver at a time per store (an advisory lock); reads and appends
   * go on meanwhile.
   */
  async archive(opts: ArchiveOptions): Promise<ArchiveResult> {
    this.assertOpen();
    const issues: ValidationIssue[] = [];
    if (!(opts?.before instanceof Date) || Number.isNaN(opts.before.getTime())) issues.push({ path: 'before', message: 'must be a valid Date' });
    const chunkEvents = opts?.chunkEvents ?? DEFAULT_CHUNK_EVENTS;
    if (!Number.isInteger(chunkEvents) || chunkEvents < 1 || chunkEvents > MAX_CHUNK_EVENTS)
      issues.push({ path: 'chunkEvents', message: `must be an integer from 1 to ${MAX_CHUNK_EVENTS}` });
    if (opts?.maxChunks !== undefined && (!Number.isInteger(opts.maxChunks) || opts.maxChunks < 1))
      issues.push({ path: 'maxChunks', message: 'must be an integer >= 1' });
    if (issues.length > 0) throw ValidationError.of(issues, 'archive options');
    const total = { chunks: 0, events: 0, compressedBytes: 0, rawBytes: 0 };
    while (opts.maxChunks === undefined || total.chunks < opts.maxChunks) {
      const client = await this.connect('archive');
      let written;
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('flotilla-eventstore-archive:${this.schema}', 0))`);
        written = await archiveOneChunk(client, this.schema, opts.before, chunkEvents);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw toStoreError(err, 'archive');
      } finally {
        client.release();
      }
      if (!written) break;
      total.chunks++;
      total.events += written.events;
      total.compressedBytes += written.compressedBytes;
      total.rawBytes += written.rawBytes;
    }
    const [reach] = await this.query<{ through: string }>('archive', archiveStatements(this.schema).through, []);
    return { ...total, archivedThrough: BigInt(reach?.through ?? 0) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.announcing;
    await Promise.allSettled([...this.inflight]);
    await this.notifier.close();
    await this.pool.end();
  }

  /**
   * Tells LISTENing subscriptions (in every process) that an append committed. Sent after the
   * commit rather than inside the appending transaction, where NOTIFY would serialise commits
   * (see the append function). Coalesced: while one NOTIFY is in flight, later appends only mark
   * another as due, which is sent when the first completes, so it always follows their commits.
   * If this process dies between a commit and its NOTIFY, subscribers still see the event at
   * their next fallback poll.
   */
  private announce(category: string): void {
    if (isCategory(category)) this.announceCategories.add(category);
    else this.announceUnlabelled = true;
    if (this.announcing) {
      this.announceAgain = true;
      return;
    }
    // The payload names the categories appended to since the last NOTIFY (empty: any), so
    // subscriptions limited to other categories sleep on.
    const payload = this.announceUnlabelled ? '' : [...this.announceCategories].join(',');
    this.announceCategories.clear();
    this.announceUnlabelled = false;
    this.announcing = this.pool
      .query({ ...this.sql.notify, values: [payload] })
      .then(
        () => undefined,
        (err: unknown) => this.onBackgroundError(err as Error),
      )
      .finally(() => {
        this.announcing = null;
        if (this.announceAgain && !this.closed) {
          this.announceAgain = false;
          this.announce('');
        }
      });
  }

  /**
   * One page of the log, with what the snapshot knew (its horizon and the committed head), in one
   * statement (one snapshot).
   */
  private async readPage(after: bigint, limit: number | null, categories: readonly string[] | undefined): Promise<Page> {
    const cats = categories ? [...new Set(categories)].sort() : [];
    const rows = await this.query<PageRow>('readAll', this.sql.page(cats.length), [after.toString(), limit, ...cats]);
    const first = rows[0]!;
    let found = first.position === null || first.position === undefined ? [] : (rows as EventRow[]);
    // Below the archive's reach (as this read's snapshot saw it) the events are in its chunks; the
    // rows above it follow them.
    const archived = BigInt(first.archived ?? 0);
    if (after < archived) {
      found = [...(await this.archived.range(after, archived, limit, categories)), ...found];
      if (limit !== null) found = found.slice(0, limit);
    }
    const events = upcastAll(this.upcasters, found.map(toStoredEvent));
    return { events, full: limit !== null && events.length >= limit, horizon: BigInt(first.horizon), head: BigInt(first.head ?? 0) };
  }

  /**
   * A page for a subscription. The store's subscriptions wake together on a notification and each
   * asks for the events past its own checkpoint; the requests of one turn of the event loop become
   * one read from the lowest checkpoint, and each gets its share (of its own categories): a
   * service whose projector, relay, reconciler and command cache all follow the log reads (and
   * parses) each new event once. A subscription whose share of a full page is empty (it is ahead
   * of the page's end, or its categories are quiet) reads on its own.
   */
  private sharedPage(after: bigint, limit: number, categories: readonly string[] | undefined): Promise<Page> {
    return new Promise<Page>((resolve, reject) => {
      if (!this.pendingRead) {
        const batch: PendingRead = { waiters: [] };
        this.pendingRead = batch;
        setImmediate(() => {
          this.pendingRead = undefined;
          void this.readShared(batch);
        });
      }
      this.pendingRead.waiters.push({ after, limit, categories, resolve, reject });
    });
  }

  /**
   * One read for the subscriptions that asked in the same turn: limited to their categories when
   * they all follow the same ones, else the whole log (each then takes the events of its own
   * categories from it).
   */
  private async readShared(batch: PendingRead): Promise<void> {
    const { waiters } = batch;
    if (waiters.length === 1) {
      const w = waiters[0]!;
      await this.readPage(w.after, w.limit, w.categories).then(w.resolve, w.reject);
      return;
    }
    const keyOf = (c: readonly string[] | undefined) => (c ? c.join(',') : '*');
    const shared = waiters.every((w) => keyOf(w.categories) === keyOf(waiters[0]!.categories)) ? waiters[0]!.categories : undefined;
    let from = waiters[0]!.after;
    let limit = 0;
    for (const w of waiters) {
      if (w.after < from) from = w.after;
      if (w.limit > limit) limit = w.limit;
    }
    limit = Math.min(Math.max(limit, 1), MAX_SHARED_PAGE);
    let page: Page;
    try {
      page = await this.readPage(from, limit, shared);
    } catch (err) {
      for (const w of waiters) w.reject(err);
      return;
    }
    for (const w of waiters) {
      const inCategory = w.categories && !shared ? new Set(w.categories) : undefined;
      const share: StoredEvent[] = [];
      for (const e of page.events) {
        if (e.position <= w.after || (inCategory && !inCategory.has(categoryOf(e.streamId)))) continue;
        if (share.length === w.limit) break;
        share.push(e);
      }
      if (share.length === 0 && page.full) {
        // The shared page ended before anything of this subscription's: what lies past it is unknown.
        this.readPage(w.after, w.limit, w.categories).then(w.resolve, w.reject);
        continue;
      }
      // More may follow when the share is as long as asked, or the shared page was itself full.
      w.resolve({ events: share, full: share.length >= w.limit || page.full, horizon: page.horizon, head: page.head });
    }
  }

  private async runAppend(params: unknown[]): Promise<AppendRow> {
    const result = await this.pool.query<AppendRow>({ name: this.sql.appendName, text: this.sql.append, values: params });
    return result.rows[0]!;
  }

  private appended(prepared: PreparedAppend, row: AppendRow): AppendResult {
    const count = prepared.events.length;
    const lastRevision = BigInt(row.stream_revision);
    const firstRevision = lastRevision - BigInt(count) + 1n;
    const firstPosition = BigInt(row.first_position!);
    const occurredAt = new Date(Number(row.occurred_ms));
    const events = prepared.events.map((e, i): StoredEvent => ({
      id: e.id,
      type: e.type,
      streamId: prepared.streamId,
      revision: firstRevision + BigInt(i),
      position: firstPosition + BigInt(i),
      occurredAt: new Date(occurredAt),
      data: JSON.parse(e.dataJson) as Record<string, unknown>,
      metadata: JSON.parse(e.metadataJson) as EventMetadata,
    }));
    return {
      streamId: prepared.streamId,
      nextExpectedRevision: lastRevision,
      firstPosition,
      lastPosition: firstPosition + BigInt(count - 1),
      events,
    };
  }

  /**
   * The append was refused (wrong expectation) or hit a stored id. If every id of the batch is
   * already stored, in order, in this stream, it is a retry of an append that succeeded: answer
   * with that append's result. Otherwise it is a real conflict (or a misuse of ids).
   */
  private async resolveDuplicate(
    prepared: PreparedAppend,
    expected: ExpectedRevision,
    /** The stream's revision when the expectation failed; undefined when an id collided instead. */
    current: bigint | null | undefined,
  ): Promise<AppendResult> {
    const ids = prepared.events.map((e) => e.id);
    const rows = await this.query<EventRow>('append', this.sql.eventsByIds, [ids]);
    if (rows.length === 0) {
      throw concurrencyError(
        prepared.streamId,
        expected,
        current === undefined ? await this.currentRevision(prepared.streamId) : current,
      );
    }
    const byId = new Map(rows.map((r) => [r.id, toStoredEvent(r)]));
    const stored = ids.map((id) => byId.get(id));
    const first = stored[0];
    const replay =
      first !== undefined &&
      stored.every(
        (e, i) =>
          e !== undefined &&
          e.streamId === prepared.streamId &&
          e.revision === first.revision + BigInt(i) &&
          e.position === first.position + BigInt(i),
      );
    if (replay) {
      const events = stored as StoredEvent[];
      const last = events[events.length - 1]!;
      return {
        streamId: prepared.streamId,
        nextExpectedRevision: last.revision,
        firstPosition: first.position,
        lastPosition: last.position,
        events,
      };
    }
    const issues: ValidationIssue[] = [];
    stored.forEach((e, i) => {
      if (e)
        issues.push({
          path: `events[${i}].id`,
          message: `already stored in stream '${e.streamId}' at revision ${e.revision}`,
        });
    });
    throw new ValidationError(
      `append to '${prepared.streamId}' reuses event ids of a different append`,
      issues,
      { streamId: prepared.streamId },
    );
  }

  private async currentRevision(streamId: string): Promise<bigint | null> {
    const rows = await this.query<{ revision: string }>('append', this.sql.streamRevision, [
      streamId,
    ]);
    return rows[0] ? BigInt(rows[0].revision) : null;
  }

  private async query<R extends pg.QueryResultRow>(
    operation: string,
    statement: { name: string; text: string },
    values: unknown[],
  ): Promise<R[]> {
    const running = this.pool.query<R>({ name: statement.name, text: statement.text, values });
    this.track(running);
    try {
      return (await running).rows;
    } catch (err) {
      throw toStoreError(err, operation);
    }
  }

  /**
   * Queries in flight, which close() lets finish before ending the pool: a pool ended while one
   * of its connections is still being opened keeps that connection alive after end().
   */
  private track(work: Promise<unknown>): void {
    this.inflight.add(work);
    void work.then(
      () => this.inflight.delete(work),
      () => this.inflight.delete(work),
    );
  }

  private async connect(operation: string): Promise<pg.PoolClient> {
    this.assertOpen();
    try {
      return await this.pool.connect();
    } catch (err) {
      throw toStoreError(err, operation);
    }
  }

  private assertOpen(): void {
    if (this.closed)
      throw new UnavailableError('event store is closed', { dependency: 'postgresql' });
  }
}

/** A stream's category in SQL: the expression of the `events_category_position` index. */
export const CATEGORY = `split_part(stream_id, '-', 1)`;

/** Every statement, prepared once per connection under a name scoped to the schema. */
function statements(schema: string) {
  const s = `"${schema}"`;
  const shift = INDEX_BITS.toString();
  const columns = `position, stream_id, revision, id, type, data, metadata, floor(extract(epoch FROM occurred_at) * 1000)::bigint AS occurred_ms`;
  // THE VISIBILITY RULE. Only transactions below this snapshot's xmin are read: all of them have
  // finished, and any transaction that may still commit has an id >= xmin, so its positions are
  // >= xmin << INDEX_BITS, above everything returned here. The `position <` bound is the same rule
  // expressed on the primary key (an index range instead of a filter); the `transaction_id <` term
  // states it literally. An in-flight writer holds xmin back and readers wait for it: intended.
  const visible = `position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${shift})
      AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())`;
  const named = (name: string, text: string) => ({ name: `flotilla_es_${schema}_${name}`, text });
  // Reads of one category go through the (category, position) index, stated as row comparisons
  // on it. A plain `category = $n AND position > $m ORDER BY position` lets a generic plan walk the
  // primary key filtering by category (cheap to start, a scan of the whole log whenever the
  // category is quiet, because its generic estimate is 1/number-of-categories); the row bounds
  // are index conditions only the category index can serve, and the ordering is its own.
  const inCategory = (category: string, after: string, before: string) =>
    `(${CATEGORY}, position) > (${category}, ${after}) AND (${CATEGORY}, position) < (${category}, ${before})`;
  const horizon = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${shift})`;
  const lastOf = (category: string, committed: boolean) =>
    `(SELECT position FROM ${s}.events WHERE ${inCategory(category, '-1::bigint', committed ? '9223372036854775807::bigint' : horizon)}${committed ? '' : ` AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())`} ORDER BY ${CATEGORY} DESC, position DESC LIMIT 1)`;
  return {
    appendName: `flotilla_es_${schema}_append`,
    append: `SELECT outcome, stream_revision, first_position, occurred_ms FROM ${s}.append_events($1, $2, $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text, $8::bigint)`,
    /**
     * A page after `$1` (at most `$2` events; NULL: no limit), limited to the categories in `$3…`
     * when `categories` > 0, with the snapshot's horizon and the committed head of what it reads:
     * one statement, so one snapshot. An empty page is one row of NULL event columns. With several
     * categories each one's index is read in order and the results merged.
     */
    page: (categories: number) => {
      const params = Array.from({ length: categories }, (_, i) => `$${i + 3}`);
      const head = categories === 0 ? `(SELECT max(position) FROM ${s}.events)` : `GREATEST(${params.map((p) => lastOf(p, true)).join(', ')})`;
      const one = (category: string | null) =>
        category === null
          ? `SELECT ${columns} FROM ${s}.events WHERE position > $1 AND ${visible} ORDER BY position LIMIT $2`
          : `SELECT ${columns} FROM ${s}.events WHERE ${inCategory(category, '$1', horizon)} AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY ${CATEGORY}, position LIMIT $2`;
      const events =
        categories === 0
          ? one(null)
          : categories === 1
            ? one('$3')
            : `SELECT * FROM (${params.map((p) => `(${one(p)})`).join(' UNION ALL ')}) merged ORDER BY position LIMIT $2`;
      return named(
        `page_${categories}`,
        `SELECT h.head, h.horizon, h.archived, e.* FROM (SELECT ${head}::text AS head, ${horizon}::text AS horizon, ${archivedThrough(s)}::text AS archived) h
           LEFT JOIN LATERAL (${events}) e ON true`,
      );
    },
    /**
     * The last event a reader can see (or, `committed`, the last committed one: rows of
     * transactions still open are not in this snapshot anyway, so it is what a reader will see
     * once the older writers finish), of the categories in `$1…` when `categories` > 0.
     */
    head: (categories: number, committed: boolean) => {
      // The archive holds the oldest events; the head is the live log's, or the archive's when
      // everything (of the categories) is archived.
      const head =
        categories === 0
          ? `GREATEST((SELECT max(position) FROM ${s}.events${committed ? '' : ` WHERE ${visible}`}), ${archivedThrough(s)})`
          : `GREATEST(${Array.from({ length: categories }, (_, i) => `${lastOf(`$${i + 1}`, committed)}, ${archivedLastOf(s, `$${i + 1}`)}`).join(', ')})`;
      return named(`head_${categories}_${committed ? 'c' : 'v'}`, `SELECT ${head} AS head`);
    },
    // A stream read returns its live rows and, in the same snapshot, how far the stream is
    // archived (one row of NULL event columns when no live row matches).
    readStreamForwards: named(
      'read_stream_fwd',
      `SELECT a.archived, e.* FROM (SELECT (SELECT archived_revision FROM ${s}.streams WHERE stream_id = $1)::text AS archived) a
         LEFT JOIN LATERAL (SELECT ${columns} FROM ${s}.events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision LIMIT $3) e ON true`,
    ),
    readStreamBackwards: named(
      'read_stream_bwd',
      `SELECT a.archived, e.* FROM (SELECT (SELECT archived_revision FROM ${s}.streams WHERE stream_id = $1)::text AS archived) a
         LEFT JOIN LATERAL (SELECT ${columns} FROM ${s}.events WHERE stream_id = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3) e ON true`,
    ),
    notify: named('notify', `SELECT pg_notify('${notificationChannel(schema)}', $1)`),
    eventsByIds: named(
      'events_by_ids',
      `SELECT ${columns} FROM ${s}.events WHERE id = ANY($1::uuid[])`,
    ),
    streamRevision: named(
      'stream_revision',
      `SELECT revision FROM ${s}.streams WHERE stream_id = $1`,
    ),
  };
}
