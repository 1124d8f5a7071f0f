import { context, SpanKind, trace, type Context, type Link } from '@opentelemetry/api';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { contextFromHeaders, withSpan, type Logger } from '@flotilla/telemetry';
import { checkpointLocks, ensureCheckpoints, lockCheckpoints, readCheckpoints, saveCheckpoints } from './checkpoints.js';
import { inTransaction } from './database.js';
import type { ReadModelOrm } from './orm.js';
import type { Projection } from './projection.js';
import { RowCodec } from './row-codec.js';

/** Below this many rows a COPY's extra round trips cost more than the INSERT it replaces. */
const COPY_THRESHOLD = 64;

const codecs = new WeakMap<Projection, RowCodec>();
export function codecFor(orm: ReadModelOrm, projection: Projection): RowCodec {
  let codec = codecs.get(projection);
  if (!codec) codecs.set(projection, (codec = new RowCodec(orm, projection)));
  return codec;
}

export interface BatchOutcome {
  /** Projections a rebuild owns: the batch left them alone. */
  readonly paused: readonly string[];
  /** Each projection that took events of the batch: how many, and its new checkpoint. */
  readonly applied: ReadonlyMap<string, { events: number; position: bigint }>;
}

/** Whether any of the projections handles any of the events (a batch nobody handles needs no transaction). */
export function handlesAny(projections: readonly Projection[], events: readonly StoredEvent[]): boolean {
  return events.some((e) => projections.some((p) => p.handles.has(e.type)));
}

/**
 * Applies a batch of events to several projections in one transaction (`db` is in it): rows and
 * checkpoints commit together, so a crash leaves either both or neither. Each projection skips
 * the events at or below its own checkpoint (at-least-once delivery in, exactly-once effect
 * out); a projection a rebuild owns is left alone unless this is the rebuild.
 */
export async function applyBatch(
  db: pg.ClientBase,
  orm: ReadModelOrm,
  projections: readonly Projection[],
  events: readonly StoredEvent[],
  opts: { asRebuild?: boolean; locked?: boolean } = {},
): Promise<BatchOutcome> {
  const paused: string[] = [];
  const applied = new Map<string, { events: number; position: bigint }>();
  if (events.length === 0) return { paused, applied };
  const checkpoints = await lockCheckpoints(
    db,
    projections.map((p) => p.name),
    { locked: opts.locked === true },
  );
  const last = events[events.length - 1]!.position;
  const moved = new Map<string, bigint>();
  const resumed = new Map<string, bigint>();
  for (const projection of projections) {
    const cp = checkpoints.get(projection.name)!;
    if (cp.rebuilding && !opts.asRebuild) {
      if (!cp.stale) {
        paused.push(projection.name);
        continue;
      }
      // The rows reflect exactly the events up to the checkpoint, so carrying on from it is safe.
      resumed.set(projection.name, cp.position);
    }
    if (last <= cp.position) continue;
    const count = await applyToProjection(db, orm, projection, events, cp.position);
    moved.set(projection.name, last);
    applied.set(projection.name, { events: count, position: last });
  }
  if (resumed.size) await saveCheckpoints(db, resumed, { endRebuild: true });
  await saveCheckpoints(db, moved);
  return { paused, applied };
}

/** Writes one projection's rows for the events past `after`; returns how many events it handled. */
async function applyToProjection(db: pg.ClientBase, orm: ReadModelOrm, projection: Projection, events: readonly StoredEvent[], after: bigint): Promise<number> {
  const relevant: { key: string; event: StoredEvent }[] = [];
  for (const event of events) {
    if (event.position <= after || !projection.handles.has(event.type)) continue;
    const key = projection.keyOf(event);
    if (key !== null) relevant.push({ key, event });
  }
  if (relevant.length === 0) return 0;
  // One span per projection that had work in the batch, in the trace of the first command whose
  // events it applies (the others' are links, and so is the batch's span), so a command's trace
  // names the read model it reached even when another command's event opened the batch.
  const { parent, links } = traceOf(relevant.map((r) => r.event));
  const batch = trace.getSpanContext(context.active());
  return withSpan(
    `project ${projection.name}`,
    { attributes: { 'flotilla.projection': projection.name, 'flotilla.events': relevant.length }, links: batch && parent ? [...links, { context: batch }] : links },
    () => writeProjection(db, orm, projection, relevant),
    parent ?? context.active(),
  );
}

/** The trace context of the first traced event (the parent) and links to the others' (at most 32). */
function traceOf(events: readonly StoredEvent[]): { parent: Context | undefined; links: Link[] } {
  const traced = [...new Set(events.map((e) => e.metadata.traceparent).filter((t): t is string => typeof t === 'string'))];
  const parent = traced[0] ? contextFromHeaders({ traceparent: traced[0] }) : undefined;
  const links: Link[] = traced
    .slice(1, 32)
    .map((t) => trace.getSpanContext(contextFromHeaders({ traceparent: t })))
    .filter((c): c is NonNullable<typeof c> => c !== undefined)
    .map((c) => ({ context: c }));
  return { parent, links };
}

async function writeProjection(db: pg.ClientBase, orm: ReadModelOrm, projection: Projection, relevant: readonly { key: string; event: StoredEvent }[]): Promise<number> {
  const codec = codecFor(orm, projection);
  const keys = [...new Set(relevant.map((r) => r.key))];
  const rows: Map<string, Record<string, unknown> | null> = projection.appendOnly ? new Map() : await codec.load(db, keys);
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
  // An append-only projection's rows are keyed by events past the checkpoint, which (rows and
  // checkpoint commit together) no committed batch has written: nothing to conflict with.
  if (projection.appendOnly && upserts.length >= COPY_THRESHOLD) await codec.insertFresh(db, upserts);
  else await codec.upsert(db, upserts);
  await codec.delete(db, deletes);
  return relevant.length;
}

export interface ProcessorOptions {
  readonly batchSize?: number;
  readonly logger?: Logger;
  /** Only these stream categories are read (every projection of the set must handle events of these only). */
  readonly categories?: readonly string[];
  /**
   * How long checkpoints may trail the log while no projection handles what arrives (a batch
   * nobody handles is not written at once; the checkpoints catch up within this). Default 1 s.
   */
  readonly idleCheckpointMs?: number;
  /** Called after each applied batch, per projection that took events, with its checkpoint and the batch's last event. */
  readonly onApplied?: (projection: string, position: bigint, events: number, lastOccurredAt: Date) => void;
}

export interface ProcessorResources {
  /** Connections for the read-model transactions. */
  readonly pool: pg.Pool;
  /** The read models' metadata (tables and columns). */
  readonly orm: ReadModelOrm;
  readonly store: EventStore;
}

/**
 * Keeps a set of projections up to date from one subscription, each batch in one transaction for
 * all of them (a service's read models cost one read of each new event and one commit per batch,
 * not one of each per projection). A projection a rebuild owns is skipped; once the rebuild ends
 * the processor starts again from the lowest checkpoint, and each projection skips what it has.
 * Runs until the signal aborts.
 */
export class ProjectionProcessor {
  private readonly names: string[];
  /** The checkpoint locks every batch takes, sent with its BEGIN. */
  private readonly locks: string;

  constructor(
    private readonly resources: ProcessorResources,
    private readonly projections: readonly Projection[],
    private readonly options: ProcessorOptions = {},
  ) {
    this.names = projections.map((p) => p.name);
    this.locks = checkpointLocks(this.names);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { pool, store } = this.resources;
    while (!signal.aborted) {
      try {
        await ensureCheckpoints(pool, this.names);
        const checkpoints = await readCheckpoints(pool, this.names);
        const after = [...checkpoints.values()].reduce((min, p) => (p < min ? p : min), checkpoints.get(this.names[0]!) ?? 0n);
        const sub = store.subscribeToAll({
          after,
          batchSize: this.options.batchSize ?? 500,
          signal,
          ...(this.options.categories ? { categories: this.options.categories } : {}),
        });
        let paused: string[] = [];
        const trail = new TrailingCheckpoints(pool, this.names, this.options.idleCheckpointMs ?? 1000, this.options.logger);
        try {
          for await (const batch of sub.pages()) {
            const last = batch[batch.length - 1]!;
            if (!handlesAny(this.projections, batch)) {
              // Nothing to write: the checkpoints trail the log for a moment rather than commit a
              // transaction for every event nobody here reads.
              trail.note(last.position);
              continue;
            }
            trail.cancel();
            const outcome = await this.applyTraced(batch);
            for (const [name, a] of outcome.applied) this.options.onApplied?.(name, a.position, a.events, last.occurredAt);
            // A rebuild started or ended: begin again from the checkpoints as they are now.
            if (outcome.paused.length !== paused.length) {
              if (paused.length === 0 && outcome.paused.length > 0) paused = [...outcome.paused];
              else break;
            }
          }
        } finally {
          await sub.close();
          if (!signal.aborted) await trail.flush();
          trail.cancel();
        }
        if (paused.length) await delay(500, undefined, { signal }).catch(() => undefined);
      } catch (err) {
        if (signal.aborted) return;
        this.options.logger?.error({ err, projections: this.names }, 'projection failed; retrying');
        await delay(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /**
   * The projection joins the trace of the commands whose events it applies (the first traced
   * event is the parent; the others are links), so one trace shows HTTP → NATS → append → read model.
   */
  private applyTraced(batch: readonly StoredEvent[]): Promise<BatchOutcome> {
    const { parent, links } = traceOf(batch);
    return withSpan(
      'projection batch',
      { kind: SpanKind.CONSUMER, attributes: { 'flotilla.projections': this.names.join(','), 'flotilla.events': batch.length }, links },
      () => inTransaction(this.resources.pool, (db) => applyBatch(db, this.resources.orm, this.projections, batch, { locked: true }), this.locks),
      parent,
    );
  }
}

/**
 * Checkpoints that trail the log while only events nobody handles arrive: moved forward by one
 * small transaction `delayMs` after the first such event (or at the end), never per event. Safe
 * beside the batches: both lock the checkpoint rows and only ever move them forward.
 */
class TrailingCheckpoints {
  private position: bigint | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly names: readonly string[],
    private readonly delayMs: number,
    private readonly logger: Logger | undefined,
  ) {}

  note(position: bigint): void {
    this.position = position;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.delayMs).unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.position = null;
  }

  async flush(): Promise<void> {
    const at = this.position;
    this.position = null;
    if (at === null) return;
    await inTransaction(this.pool, async (db) => {
      const cps = await lockCheckpoints(db, this.names);
      await saveCheckpoints(db, new Map([...cps].filter(([, c]) => !c.rebuilding && c.position < at).map(([name]) => [name, at] as const)));
    }).catch((err: unknown) => this.logger?.warn({ err }, 'could not move idle checkpoints; they move with the next batch'));
  }
}
