/**
 * The event store port: the one interface the application layer, the relay and the
 * projections use. Two adapters implement it (PostgreSQL, the default, and EventStoreDB);
 * both pass the same contract suite (src/testing/event-store.contract.ts).
 *
 * Revisions and positions are bigint here; callers serialise them as decimal strings in JSON.
 */

/**
 * What the caller believes about the stream before appending:
 * - `'any'`: no check;
 * - `'no_stream'`: the stream must not exist yet;
 * - `'exists'`: the stream must have at least one event;
 * - a bigint: the stream's current revision (its last event's revision; the first event is 0n).
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'exists' | bigint;

/** Carried by every event; the event log doubles as the audit trail. */
export interface EventMetadata {
  tenantId: string;
  actor: string;
  correlationId: string;
  causationId: string | null;
  traceparent: string | null;
  /** Version of the event's `data` shape; upcasters bring old versions to the current one. */
  schemaVersion: number;
  [key: string]: unknown;
}

export interface NewEvent {
  /** UUIDv7, generated when absent. Reusing the ids of a stored batch makes the append a no-op. */
  id?: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

export interface StoredEvent {
  id: string;
  type: string;
  streamId: string;
  /** Position in its stream, 0n for the first event. */
  revision: bigint;
  /** Position in the global log: strictly increasing in the order every reader sees events. */
  position: bigint;
  occurredAt: Date;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

export interface AppendResult {
  streamId: string;
  /** The stream's revision after the append: pass it as `expectedRevision` next time. */
  nextExpectedRevision: bigint;
  firstPosition: bigint;
  lastPosition: bigint;
  events: StoredEvent[];
}

/** A singleton leader's write: refused (FencedOutError) once a newer term of the role has written. */
export interface AppendFence {
  readonly role: string;
  readonly term: number;
}

export interface AppendOptions {
  expectedRevision: ExpectedRevision;
  /**
   * Checked in the append's own transaction (PostgreSQL): the role's highest admitted term is
   * raised to `term`, or the append is refused when a newer term has written. No window between
   * the check and the write for a paused, deposed leader to slip through.
   */
  fence?: AppendFence;
}

export type ReadDirection = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive; defaults to the first event (forwards) or the last one (backwards). */
  fromRevision?: bigint;
  direction?: ReadDirection;
  limit?: number;
}

export interface HeadOptions {
  readonly committed?: boolean;
  /** Only events of streams in these categories (see `categoryOf`). */
  readonly categories?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive checkpoint: only events with `position > after`. Defaults to the start of the log. */
  after?: bigint;
  /** No limit when absent: page with `after` + `limit` (or subscribe) for large logs. */
  limit?: number;
  /** Only events of streams in these categories (see `categoryOf`). */
  categories?: readonly string[];
}

export interface SubscribeToAllOptions {
  /** Exclusive checkpoint to resume from (the position of the last event handled). */
  after?: bigint;
  /** How many events one read fetches (catch-up pages and live re-reads). */
  batchSize?: number;
  /** Events for which this returns false are skipped (the checkpoint still moves past them). */
  filter?: (event: StoredEvent) => boolean;
  /**
   * Only events of streams in these categories (`cluster` for `cluster-…`, see `categoryOf`); the
   * checkpoint moves past the others. The store skips them where it can (PostgreSQL reads only
   * the categories' index and wakes only on appends to them), so a consumer of a small corner of
   * the log does not pay for the rest of it.
   */
  categories?: readonly string[];
  /** Aborting ends the iteration, like `close()`. */
  signal?: AbortSignal;
}

/**
 * A catch-up-then-live subscription to the global log. Pull-based: the next page is read only
 * when the consumer asks for more (its `for await` pace is the back-pressure). It never ends
 * on its own; `close()` (or the abort signal, or breaking out of the loop) ends it.
 */
export interface EventSubscription extends AsyncIterable<StoredEvent> {
  /** Position of the last event delivered (or skipped by the filter); the resume checkpoint. */
  readonly checkpoint: bigint;
  /**
   * The same events a page at a time, each page as soon as it is read (at most `batchSize`
   * events, never empty): a consumer that writes per batch gets big batches while catching up
   * and the live tail at once, with no waiting for more. Use either this or the event iterator.
   * Events may be shared with other subscriptions of the same store: treat them as read-only.
   */
  pages(): AsyncIterable<readonly StoredEvent[]>;
  close(): Promise<void>;
}

/** Rewrites an old event shape into the current one; applied on every read path. */
export type Upcaster = (event: StoredEvent) => StoredEvent;

/**
 * Upcasters by event type. Each one looks at `metadata.schemaVersion` and returns the event one
 * or more versions newer; it is re-applied while it keeps changing the type or schemaVersion, so
 * a chain v1 → v2 → v3 can be written as small steps.
 */
export type Upcasters = Readonly<Record<string, Upcaster>>;

export interface ArchiveOptions {
  /**
   * Events that occurred before this moment move to the archive: a prefix of the log, so
   * archiving stops at the first event (in position order) that is not older.
   */
  readonly before: Date;
  /** Events per compressed chunk (default 1,000: a read of the past decompresses one or two). */
  readonly chunkEvents?: number;
  /** At most this many chunks in one call (default: until no older event is left). */
  readonly maxChunks?: number;
}

export interface ArchiveResult {
  /** Chunks written by this call, and the events they hold. */
  readonly chunks: number;
  readonly events: number;
  /** Every event at or below this position is in the archive (0n: none is). */
  readonly archivedThrough: bigint;
  /** Bytes of the chunks written (compressed), and of the rows they replaced (uncompressed JSON). */
  readonly compressedBytes: number;
  readonly rawBytes: number;
}

export interface EventStore {
  append(streamId: string, events: readonly NewEvent[], opts: AppendOptions): Promise<AppendResult>;
  /** `[]` for a stream that does not exist. */
  readStream(streamId: string, opts?: ReadStreamOptions): Promise<StoredEvent[]>;
  readAll(opts?: ReadAllOptions): Promise<StoredEvent[]>;
  subscribeToAll(opts?: SubscribeToAllOptions): EventSubscription;
  /**
   * Position of the last event a reader can see now (0n when the log is empty). With
   * `{ committed: true }`: of the last event committed, which readers may not see yet while an
   * older transaction is still open. Waiting until a subscription has passed it is the barrier
   * for reading every write another process acknowledged.
   */
  headPosition(opts?: HeadOptions): Promise<bigint>;
  /**
   * Moves the oldest events into compressed, immutable chunks, keeping the live log small. Every
   * read still returns them, in the same order with the same positions and revisions: reads,
   * subscriptions and rebuilds are unchanged, and only slower over the archived prefix. Adapters
   * with their own retention refuse (EventStoreDB: RuleViolationError `archive_unsupported`).
   */
  archive(opts: ArchiveOptions): Promise<ArchiveResult>;
  close(): Promise<void>;
}
