import client from 'prom-client';
import { SpanKind, trace, type Link } from '@opentelemetry/api';
import pg from 'pg';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { contextFromHeaders, withSpan, type Logger } from '@flotilla/telemetry';
import type { ReadModelOrm } from './orm.js';
import type { Projection } from './projection.js';
import { RowCodec } from './row-codec.js';

export type BatchOutcome = 'applied' | 'paused';

const codecs = new WeakMap<Projection, RowCodec>();
function codecFor(orm: ReadModelOrm, projection: Projection): RowCodec {
  let codec = codecs.get(projection);
  if (!codec) codecs.set(projection, (codec = new RowCodec(orm, projection)));
  return codec;
}

interface CheckpointState {
  position: bigint;
  rebuilding: boolean;
  /** A rebuild that made no progress for this long crashed; the live loop takes over from its checkpoint. */
  stale: boolean;
}

export const STALE_REBUILD_MS = 30_000;

/** Below this many rows a COPY's extra round trips cost more than the INSERT it replaces. */
const COPY_THRESHOLD = 64;

async function lockCheckpoint(db: pg.ClientBase, name: string): Promise<CheckpointState> {
  await db.query(`INSERT INTO projection_checkpoints (name, position, rebuilding, updated_at) VALUES ($1, 0, false, now()) ON CONFLICT (name) DO NOTHING`, [name]);
  // FOR UPDATE: two projector replicas (or a rebuild and a live loop) serialise here, and each
  // re-reads the checkpoint the other may just have moved, so no event is applied twice.
  const { rows } = await db.query<{ position: string; rebuilding: boolean; stale: boolean }>(
    `SELECT position, rebuilding, updated_at < now() - make_interval(secs => $1) AS stale FROM projection_checkpoints WHERE name = $2 FOR UPDATE`,
    [STALE_REBUILD_MS / 1000, name],
  );
  const row = rows[0]!;
  return { position: BigInt(row.position), rebuilding: row.rebuilding, stale: row.stale };
}

const pools = new WeakMap<ReadModelOrm, pg.Pool>();
/**
 * The projector's connections to the read-model database, straight through the pg driver. They
 * live as long as the ORM: closing the ORM ends them first.
 */
function poolFor(orm: ReadModelOrm): pg.Pool {
  let pool = pools.get(orm);
  if (!pool) {
    const created = new pg.Pool({ connectionString: String(orm.config.get('clientUrl')), max: 4, idleTimeoutMillis: 2000, allowExitOnIdle: true });
    created.on('error', () => undefined);
    pools.set(orm, created);
    const close = orm.close.bind(orm);
    orm.close = async (...args: Parameters<typeof close>) => {
      pools.delete(orm);
      await created.end().catch(() => undefined);
      return close(...args);
    };
    pool = created;
  }
  return pool;
}

async function transaction<T>(orm: ReadModelOrm, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await poolFor(orm).connect();
  try {
    await client.query('BEGIN');
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

/**
 * Applies a batch of events to one projection in one transaction: rows and checkpoint commit
 * together, so a crash leaves either both or neither. Events at or below the checkpoint are
 * skipped (at-least-once delivery in, exactly-once effect out). While a rebuild owns the
 * projection, live batches are refused ('paused').
 */
export async function applyBatch(
  orm: ReadModelOrm,
  projection: Projection,
  events: readonly StoredEvent[],
  opts: { asRebuild?: boolean; beforeCommit?: () => Promise<void> } = {},
): Promise<BatchOutcome> {
  if (events.length === 0) return 'applied';
  if (opts.asRebuild) return applyInTransaction(orm, projection, events, opts);
  // The projection joins the trace of the command whose events it applies (the first traced
  // event is the parent; the others are links), so one trace shows HTTP → NATS → append → read model.
  const traced = events.map((e) => e.metadata.traceparent).filter((t): t is string => typeof t === 'string');
  const parent = traced[0] ? contextFromHeaders({ traceparent: traced[0] }) : undefined;
  const links: Link[] = traced
    .slice(1, 32)
    .map((t) => trace.getSpanContext(contextFromHeaders({ traceparent: t })))
    .filter((c): c is NonNullable<typeof c> => c !== undefined)
    .map((context) => ({ context }));
  return withSpan(
    `project ${projection.name}`,
    { kind: SpanKind.CONSUMER, attributes: { 'flotilla.projection': projection.name, 'flotilla.events': events.length }, links },
    () => applyInTransaction(orm, projection, events, opts),
    parent,
  );
}

async function applyInTransaction(
  orm: ReadModelOrm,
  projection: Projection,
  events: readonly StoredEvent[],
  opts: { asRebuild?: boolean; beforeCommit?: () => Promise<void> },
): Promise<BatchOutcome> {
  return transaction(orm, async (em) => {
    // A rebuild's batches need not wait for the WAL flush: rows and checkpoint still commit
    // atomically, so a crash loses at most the last few batches whole and the rebuild replays them.
    if (opts.asRebuild) await em.query('SET LOCAL synchronous_commit = off');
    const cp = await lockCheckpoint(em, projection.name);
    if (cp.rebuilding && !opts.asRebuild) {
      if (!cp.stale) return 'paused';
      // The rows reflect exactly the events up to the checkpoint, so carrying on from it is safe.
      await em.query(`UPDATE projection_checkpoints SET rebuilding = false WHERE name = $1`, [projection.name]);
    }
    const fresh = events.filter((e) => e.position > cp.position);
    if (fresh.length === 0) return 'applied';

    const relevant: { key: string; event: StoredEvent }[] = [];
    for (const event of fresh) {
      if (!projection.handles.has(event.type)) continue;
      const key = projection.keyOf(event);
      if (key !== null) relevant.push({ key, event });
    }
    if (relevant.length) {
      const codec = codecFor(orm, projection);
      const keys = [...new Set(relevant.map((r) => r.key))];
      const rows: Map<string, Record<string, unknown> | null> = projection.appendOnly ? new Map() : await codec.load(em, keys);
      const touched = new Set<string>();
      for (const { key, event } of relevant) {
        const row = (rows.get(key) ?? null) as { position: string } | null;
        if (row && BigInt(row.position) >= event.position) continue;
        rows.set(key, projection.evolve(row, event) as Record<string, unknown> | null);
        touched.add(key);
      }
      const upserts: Record<string, unknown>[] = [];
      const deletes: string[] = [];
      for (const k of touched) {
        const r = rows.get(k);
        if (r) upserts.push(r);
        else deletes.push(k);
      }
      // An append-only projection's rows are keyed by events past the checkpoint, which (rows
      // and checkpoint commit together) no committed batch has written: nothing to conflict with.
      if (projection.appendOnly && upserts.length >= COPY_THRESHOLD) await codec.insertFresh(em, upserts);
      else await codec.upsert(em, upserts);
      await codec.delete(em, deletes);
    }
    const last = fresh[fresh.length - 1]!.position;
    await em.query(`UPDATE projection_checkpoints SET position = $1, updated_at = now() WHERE name = $2`, [last.toString(), projection.name]);
    // Test hook: a process killed here has written rows and checkpoint but not committed them.
    await opts.beforeCommit?.();
    return 'applied';
  });
}

export async function readCheckpoint(orm: ReadModelOrm, name: string): Promise<bigint> {
  const { rows } = await poolFor(orm).query<{ position: string }>(`SELECT position FROM projection_checkpoints WHERE name = $1`, [name]);
  return rows[0] ? BigInt(rows[0].position) : 0n;
}

/**
 * Groups a subscription's events into batches: a batch closes when it is full or when no
 * further event arrives within `lingerMs` (the live tail), so catch-up runs in big
 * transactions and live events are applied within milliseconds.
 */
export async function* batches<T>(source: AsyncIterable<T>, maxSize: number, lingerMs = 5): AsyncGenerator<T[]> {
  const it = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    for (;;) {
      const first = await (pending ?? it.next());
      pending = undefined;
      if (first.done) return;
      const batch = [first.value];
      while (batch.length < maxSize) {
        pending = it.next();
        const next = await Promise.race([pending, new Promise<'idle'>((r) => setTimeout(() => r('idle'), lingerMs))]);
        if (next === 'idle') break;
        pending = undefined;
        if (next.done) {
          yield batch;
          return;
        }
        batch.push(next.value);
      }
      yield batch;
    }
  } finally {
    await it.return?.();
  }
}

export interface ProjectorOptions {
  readonly batchSize?: number;
  readonly beforeCommit?: () => Promise<void>;
  readonly logger?: Logger;
  /** Called after each applied batch with the projection's new checkpoint and its last event. */
  readonly onApplied?: (projection: string, position: bigint, events: number, lastOccurredAt: Date) => void;
}

/**
 * Keeps a set of projections up to date, each with its own subscription from its own checkpoint
 * (so rebuilding one never holds the others back). Runs until the signal aborts.
 */
export class Projector {
  constructor(
    private readonly orm: ReadModelOrm,
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectorOptions = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.projections.map((p) => this.runOne(p, signal)));
  }

  private async runOne(projection: Projection, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const after = await readCheckpoint(this.orm, projection.name);
        const sub = this.store.subscribeToAll({ after, batchSize: this.options.batchSize ?? 500, signal });
        let paused = false;
        for await (const batch of batches(sub, this.options.batchSize ?? 500)) {
          const outcome = await applyBatch(this.orm, projection, batch, this.options.beforeCommit ? { beforeCommit: this.options.beforeCommit } : {});
          if (outcome === 'paused') {
            paused = true;
            break;
          }
          const last = batch[batch.length - 1]!;
          this.options.onApplied?.(projection.name, last.position, batch.length, last.occurredAt);
        }
        await sub.close();
        // A rebuild owns the projection: wait, then resume from whatever checkpoint it leaves.
        if (paused) await sleep(500, signal);
      } catch (err) {
        if (signal.aborted) return;
        this.options.logger?.error({ err, projection: projection.name }, 'projection failed; retrying');
        await sleep(1000, signal);
      }
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

export interface RebuildResult {
  readonly projection: string;
  readonly events: number;
  readonly applied: number;
  readonly rows: number;
  readonly ms: number;
}

/**
 * Drops a read model and replays it from position 0 up to the log's head at the end, in big
 * batches. Live loops pause on this projection while it runs (the checkpoint row says so) and
 * carry on from where it finished.
 */
export async function rebuildProjection(
  orm: ReadModelOrm,
  store: EventStore,
  projection: Projection,
  opts: { batchSize?: number; onProgress?: (position: bigint, head: bigint, events: number) => void } = {},
): Promise<RebuildResult> {
  const started = performance.now();
  await transaction(orm, async (db) => {
    await lockCheckpoint(db, projection.name);
    await db.query(`DELETE FROM ${orm.getMetadata().get(projection.entity.meta.className as never).tableName}`);
    await db.query(`UPDATE projection_checkpoints SET position = 0, rebuilding = true, updated_at = now() WHERE name = $1`, [projection.name]);
  });
  let after = 0n;
  let events = 0;
  let applied = 0;
  let head = await store.headPosition();
  const limit = opts.batchSize ?? 10000;
  try {
    // The next page is read while the current one is written: the store and the read models
    // work side by side instead of taking turns.
    let next: Promise<StoredEvent[]> = store.readAll({ after, limit });
    for (;;) {
      const page = await next;
      if (page.length === 0) {
        head = await store.headPosition();
        if (head <= after) break;
        next = store.readAll({ after, limit });
        continue;
      }
      next = store.readAll({ after: page[page.length - 1]!.position, limit });
      // A failed prefetch surfaces when it is awaited, not as an unhandled rejection meanwhile.
      next.catch(() => undefined);
      await applyBatch(orm, projection, page, { asRebuild: true });
      events += page.length;
      applied += page.filter((e) => projection.handles.has(e.type)).length;
      after = page[page.length - 1]!.position;
      if (after > head) head = after;
      opts.onProgress?.(after, head, events);
    }
  } finally {
    await poolFor(orm).query(`UPDATE projection_checkpoints SET rebuilding = false, updated_at = now() WHERE name = $1`, [projection.name]);
  }
  const rows = await orm.em.fork().count(projection.entity, {});
  return { projection: projection.name, events, applied, rows, ms: performance.now() - started };
}

/**
 * Projector hooks that feed the service's Prometheus registry: events applied per projection and
 * the projection lag (seconds from an event occurring to its batch being committed).
 */
export function projectorMetrics(registry: client.Registry): Pick<ProjectorOptions, 'onApplied'> {
  const applied = new client.Counter({
    name: 'flotilla_projection_events_total',
    help: 'Events applied to the read models, by projection.',
    labelNames: ['projection'],
    registers: [registry],
  });
  const lag = new client.Gauge({
    name: 'flotilla_projection_lag_seconds',
    help: 'Seconds between the last applied event occurring and its projection committing it.',
    labelNames: ['projection'],
    registers: [registry],
  });
  return {
    onApplied: (projection, _position, events, lastOccurredAt) => {
      applied.inc({ projection }, events);
      lag.set({ projection }, Math.max(0, (Date.now() - lastOccurredAt.getTime()) / 1000));
    },
  };
}
