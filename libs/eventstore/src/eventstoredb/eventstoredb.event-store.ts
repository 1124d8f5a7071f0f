import {
  BACKWARDS,
  CancelledError,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  FORWARDS,
  MaxAppendSizeExceededError,
  NotLeaderError,
  START,
  StreamNotFoundError,
  UnavailableError as EsdbUnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamRecordedEvent,
  type AllStreamSubscription,
  type ReadPosition,
  type RecordedEvent,
} from '@eventstore/db-client';
import {
  FlotillaError,
  InternalError,
  RuleViolationError,
  UnavailableError,
  ValidationError,
  type ValidationIssue,
} from '@flotilla/domain';
import { prepareAppend, type PreparedAppend } from '../append-validation.js';
import type {
  AppendOptions,
  AppendResult,
  ArchiveResult,
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
import { categoryOf, pagesOf } from '../categories.js';
import { assertCategories, assertLimit, assertNonNegative } from '../read-validation.js';
import { upcast, upcastAll } from '../upcasting.js';
import {
  fromEsdbCurrentRevision,
  isSystemEvent,
  positionOf,
  readPositionAfter,
  toEsdbExpectedRevision,
  toStoredEvent,
} from './eventstoredb.mapping.js';

export interface EventStoreDbEventStoreOptions {
  /** esdb:// (or kurrentdb://) connection string, e.g. `esdb://127.0.0.1:2113?tls=false`. */
  url: string;
  upcasters?: Upcasters;
}

/** Same ceiling as the PostgreSQL adapter so both refuse the same appends (the server also caps bytes). */
const MAX_EVENTS_PER_APPEND = 1 << 20;
/** Page size of `$all` reads that must skip system events to fill a limit. */
const ALL_PAGE_SIZE = 1000;
/** How far back an idempotent retry looks for the ids of its earlier, successful append. */
const RETRY_LOOKBACK = 1000;

function toEsdbError(err: unknown, operation: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const grpcCode = (err as { code?: unknown } | null)?.code;
  if (
    err instanceof EsdbUnavailableError ||
    err instanceof DeadlineExceededError ||
    err instanceof CancelledError ||
    err instanceof NotLeaderError ||
    grpcCode === 14
  ) {
    return new UnavailableError(`EventStoreDB unavailable during ${operation}: ${message}`, {
      dependency: 'eventstoredb',
      operation,
    });
  }
  if (err instanceof MaxAppendSizeExceededError) {
    return new ValidationError(`append too large for EventStoreDB: ${message}`, [
      { path: 'events', message: 'exceeds the server maximum append size' },
    ]);
  }
  return new InternalError(`EventStoreDB ${operation} failed: ${message}`, {
    dependency: 'eventstoredb',
    operation,
  });
}

/**
 * The EventStoreDB / KurrentDB adapter: a typed wrapper over `@eventstore/db-client`. Positions
 * are commit positions in `$all`; system (`$`) streams and events are hidden from every read.
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly client: EventStoreDBClient;
  private readonly upcasters: Upcasters | undefined;
  private readonly subscriptions = new Set<EventSubscription>();

  constructor(options: EventStoreDbEventStoreOptions) {
    this.client = EventStoreDBClient.connectionString(options.url);
    this.upcasters = options.upcasters;
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    opts: AppendOptions,
  ): Promise<AppendResult> {
    assertExpectedRevision(opts?.expectedRevision);
    assertFence(opts.fence);
    if (opts.fence) {
      throw new ValidationError('EventStoreDB cannot check a fence inside an append: wrap the store with withFenceGuard', [
        { path: 'fence', message: 'not supported by this adapter on its own' },
      ]);
    }
    const prepared = prepareAppend(streamId, events, MAX_EVENTS_PER_APPEND);
    if (
      prepared.callerChoseIds &&
      (opts.expectedRevision === 'any' || opts.expectedRevision === 'exists')
    ) {
      // The server's own de-duplication is best effort without an exact expected revision.
      const original = await this.findStoredBatch(prepared);
      if (original) return original;
    }
    let nextExpectedRevision: bigint;
    try {
      const result = await this.client.appendToStream(
        streamId,
        prepared.events.map((e) =>
          jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata }),
        ),
        { expectedRevision: toEsdbExpectedRevision(opts.expectedRevision) },
      );
      nextExpectedRevision = result.nextExpectedRevision;
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const original = prepared.callerChoseIds ? await this.findStoredBatch(prepared) : undefined;
        if (original) return original;
        throw concurrencyError(
          streamId,
          opts.expectedRevision,
          fromEsdbCurrentRevision(err.actualVersion),
        );
      }
      throw toEsdbError(err, 'append');
    }
    // The server answers with the last event's position only; read the batch back for each
    // event's position and timestamp (this also covers the server's own idempotent replies).
    const count = BigInt(prepared.events.length);
    const stored = await this.readRaw(streamId, {
      fromRevision: nextExpectedRevision - count + 1n,
      direction: 'forwards',
      limit: prepared.events.length,
    });
    return this.resultFrom(prepared, stored, opts.expectedRevision);
  }

  async readStream(streamId: string, opts: ReadStreamOptions = {}): Promise<StoredEvent[]> {
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
    if (opts.limit === 0 || streamId.startsWith('$')) return [];
    return upcastAll(this.upcasters, await this.readRaw(streamId, opts));
  }

  async readAll(opts: ReadAllOptions = {}): Promise<StoredEvent[]> {
    const issues: ValidationIssue[] = [];
    assertNonNegative(opts.after, 'after', issues);
    assertLimit(opts.limit, issues);
    assertCategories(opts.categories, issues);
    const inCategory = categoryTest(opts.categories);
    if (issues.length > 0) throw ValidationError.of(issues, 'readAll options');
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    const out: StoredEvent[] = [];
    let after = opts.after ?? 0n;
    let from: ReadPosition = readPositionAfter(after);
    while (out.length < limit) {
      let seen = 0;
      try {
        for await (const resolved of this.client.readAll({
          fromPosition: from,
          direction: FORWARDS,
          maxCount: ALL_PAGE_SIZE,
        })) {
          seen++;
          const recorded: AllStreamRecordedEvent | undefined = resolved.event;
          if (!recorded) continue;
          from = recorded.position;
          const position = recorded.position.commit;
          if (position <= after) continue;
          after = position;
          if (isSystemEvent(recorded.streamId, recorded.type) || !inCategory(recorded.streamId)) continue;
          out.push(upcast(this.upcasters, toStoredEvent(recorded, position)));
          if (out.length >= limit) break;
        }
      } catch (err) {
        throw toEsdbError(err, 'readAll');
      }
      if (seen < ALL_PAGE_SIZE) break;
    }
    return out;
  }

  subscribeToAll(opts: SubscribeToAllOptions = {}): EventSubscription {
    const issues: ValidationIssue[] = [];
    assertNonNegative(opts.after, 'after', issues);
    assertCategories(opts.categories, issues);
    if (issues.length > 0) throw ValidationError.of(issues, 'subscribeToAll options');
    const subscription = new EventStoreDbSubscription(this.client, this.upcasters, opts, (s) =>
      this.subscriptions.delete(s),
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * Refused: EventStoreDB has retention of its own ($maxAge/$maxCount stream metadata and
   * scavenging), which deletes rather than archives, so time travel and rebuilds could no longer
   * read what it removed. Flotilla's archive is the PostgreSQL adapter's.
   */
  archive(): Promise<ArchiveResult> {
    return Promise.reject(
      new RuleViolationError(
        'archive_unsupported',
        "the EventStoreDB adapter does not archive: EventStoreDB's own retention deletes events; archiving is the PostgreSQL adapter's",
      ),
    );
  }

  /** EventStoreDB shows every committed event to readers at once: committed or not, the same head. */
  async headPosition(opts: HeadOptions = {}): Promise<bigint> {
    const issues: ValidationIssue[] = [];
    assertCategories(opts.categories, issues);
    if (issues.length > 0) throw ValidationError.of(issues, 'headPosition options');
    const inCategory = categoryTest(opts.categories);
    let from: ReadPosition = END;
    for (;;) {
      let seen = 0;
      try {
        for await (const resolved of this.client.readAll({
          fromPosition: from,
          direction: BACKWARDS,
          maxCount: ALL_PAGE_SIZE,
        })) {
          seen++;
          const recorded: AllStreamRecordedEvent | undefined = resolved.event;
          if (!recorded) continue;
          if (!isSystemEvent(recorded.streamId, recorded.type) && inCategory(recorded.streamId)) return recorded.position.commit;
          from = recorded.position;
        }
      } catch (err) {
        throw toEsdbError(err, 'headPosition');
      }
      if (seen < ALL_PAGE_SIZE) return 0n;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.client.dispose();
  }

  private async readRaw(streamId: string, opts: ReadStreamOptions): Promise<StoredEvent[]> {
    const backwards = opts.direction === 'backwards';
    const out: StoredEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        fromRevision: opts.fromRevision ?? (backwards ? END : START),
        direction: backwards ? BACKWARDS : FORWARDS,
        ...(opts.limit !== undefined ? { maxCount: opts.limit } : {}),
      });
      for await (const resolved of read) {
        const recorded: RecordedEvent | undefined = resolved.event;
        if (recorded) out.push(toStoredEvent(recorded, positionOf(recorded)));
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw toEsdbError(err, 'readStream');
    }
    return out;
  }

  /** For a refused append with caller-chosen ids: the earlier append of the same batch, if it is stored. */
  private async findStoredBatch(prepared: PreparedAppend): Promise<AppendResult | undefined> {
    const recent = await this.readRaw(prepared.streamId, {
      direction: 'backwards',
      limit: RETRY_LOOKBACK,
    });
    const first = recent.findIndex((e) => e.id === prepared.events[0]!.id);
    if (first < 0) return undefined;
    const batch = recent
      .slice(Math.max(0, first - prepared.events.length + 1), first + 1)
      .reverse();
    return this.resultFrom(prepared, batch, 'any');
  }

  private resultFrom(
    prepared: PreparedAppend,
    stored: StoredEvent[],
    expected: ExpectedRevision,
  ): AppendResult {
    const matches =
      stored.length === prepared.events.length &&
      stored.every((e, i) => e.id === prepared.events[i]!.id);
    if (!matches) {
      const issues = prepared.events.map((_e, i) => ({
        path: `events[${i}].id`,
        message: `not stored as expected (found ${stored[i]?.id ?? 'nothing'})`,
      }));
      throw new ValidationError(
        `append to '${prepared.streamId}' (expected ${String(expected)}) reuses event ids of a different append`,
        issues,
        {
          streamId: prepared.streamId,
        },
      );
    }
    const first = stored[0]!;
    const last = stored[stored.length - 1]!;
    return {
      streamId: prepared.streamId,
      nextExpectedRevision: last.revision,
      firstPosition: first.position,
      lastPosition: last.position,
      events: stored,
    };
  }
}

/** Wraps the client's catch-up subscription (a Node stream: gRPC flow control gives back-pressure). */
class EventStoreDbSubscription implements EventSubscription {
  private position: bigint;
  private subscription: AllStreamSubscription | undefined;
  private iterator: AsyncGenerator<StoredEvent, void, undefined> | undefined;
  private closed = false;
  private readonly onAbort = (): void => void this.close();
  private readonly inCategory: (streamId: string) => boolean;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly upcasters: Upcasters | undefined,
    private readonly opts: SubscribeToAllOptions,
    private readonly forget: (s: EventSubscription) => void,
  ) {
    this.position = opts.after ?? 0n;
    this.inCategory = categoryTest(opts.categories);
    if (opts.signal?.aborted) this.closed = true;
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get checkpoint(): bigint {
    return this.position;
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    this.iterator ??= this.run();
    return this.iterator;
  }

  pages(): AsyncIterable<readonly StoredEvent[]> {
    return pagesOf(this, this.opts.batchSize ?? 500);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.forget(this);
    await this.subscription?.unsubscribe().catch(() => undefined);
    await this.iterator?.return(undefined).catch(() => undefined);
  }

  private async *run(): AsyncGenerator<StoredEvent, void, undefined> {
    if (this.closed) return;
    const subscription = this.client.subscribeToAll({
      fromPosition: readPositionAfter(this.position),
      filter: excludeSystemEvents(),
    });
    this.subscription = subscription;
    try {
      for await (const resolved of subscription) {
        if (this.closed) return;
        const recorded = resolved.event;
        if (!recorded) continue;
        const position = recorded.position.commit;
        // The start position is inclusive on some servers: never deliver the checkpoint twice.
        if (position <= this.position) continue;
        this.position = position;
        if (isSystemEvent(recorded.streamId, recorded.type)) continue;
        if (!this.inCategory(recorded.streamId)) continue;
        const event = upcast(this.upcasters, toStoredEvent(recorded, position));
        if (!this.opts.filter || this.opts.filter(event)) yield event;
      }
    } catch (err) {
      if (!this.closed) throw toEsdbError(err, 'subscribeToAll');
    } finally {
      this.forget(this);
      await subscription.unsubscribe().catch(() => undefined);
    }
  }
}

/** Whether a stream is in one of the categories (every stream, without categories). */
function categoryTest(categories: readonly string[] | undefined): (streamId: string) => boolean {
  if (!categories?.length) return () => true;
  const set = new Set(categories);
  return (streamId) => set.has(categoryOf(streamId));
}
