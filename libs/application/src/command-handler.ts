import { SpanKind } from '@opentelemetry/api';
import { ConcurrencyError, NotFoundError, PLATFORM_TENANT, type Decider } from '@flotilla/domain';
import type { EventMetadata, EventStore, ExpectedRevision, StoredEvent } from '@flotilla/eventstore';
import { currentTraceparent, withSpan } from '@flotilla/telemetry';

/** A domain event as deciders see it. */
export interface DomainEvent {
  readonly type: string;
  readonly data: object;
}

export interface CommandContext {
  /**
   * The one tenant the caller acts in; undefined for a caller spanning every tenant (an admin of
   * '*', a service). It only refuses another tenant's aggregate, as not found: the tenant recorded
   * on events is always the aggregate's own (`Decider.tenantOf`), never the caller's.
   */
  readonly tenantScope?: string | undefined;
  readonly actor: string;
  readonly correlationId: string;
  readonly causationId?: string | null;
  /** A repeat of a command with the same key returns the first result and appends nothing. */
  readonly idempotencyKey?: string | undefined;
  /** Extra metadata to store on every event (source address, fencing term...). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface CommandResult<State> {
  readonly streamId: string;
  readonly state: State;
  /** The events this command appended (or, for a repeat, the ones the first attempt appended). */
  readonly events: readonly StoredEvent[];
  /** The stream's revision after the command (-1 when the stream still does not exist). */
  readonly revision: bigint;
  /** Log position of the last event this command produced: what read-your-writes waits for. */
  readonly position: bigint | null;
  readonly duplicate: boolean;
}

interface Cached<State> {
  state: State;
  revision: bigint;
  keys: Map<string, StoredEvent[]>;
}

export interface CommandHandlerOptions {
  readonly maxAttempts?: number;
  /** Streams whose folded state is kept in memory (re-validated on every command). */
  readonly cacheSize?: number;
}

export const IDEMPOTENCY_KEY = 'idempotencyKey';

/**
 * The one command handler: read the stream (from the cached revision on), fold it, decide,
 * append with the expected revision, and on a concurrency conflict start over from the read, a
 * bounded number of times before the conflict reaches the caller (as a 409). A cached state is
 * only ever a starting point: the read after it and the expected-revision check keep it honest
 * when other replicas write the same stream.
 */
export class CommandHandler {
  private readonly cache = new Map<string, Cached<unknown>>();
  private readonly maxAttempts: number;
  private readonly cacheSize: number;

  constructor(
    private readonly store: EventStore,
    options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 6;
    this.cacheSize = options.cacheSize ?? 2000;
  }

  async load<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string): Promise<{ state: State; revision: bigint }> {
    const { state, revision } = await this.fold(decider, streamId);
    return { state, revision };
  }

  async handle<State, C, E extends DomainEvent>(
    decider: Decider<State, C, E>,
    streamId: string,
    command: C,
    ctx: CommandContext,
  ): Promise<CommandResult<State>> {
    return withSpan(`command ${(command as { type?: string }).type ?? 'unknown'}`, { kind: SpanKind.INTERNAL, attributes: { 'flotilla.stream': streamId } }, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.fold(decider, streamId);
        const owner = decider.tenantOf(current.state);
        if (ctx.tenantScope !== undefined && owner !== null && owner !== ctx.tenantScope) throw notFound(streamId);
        if (ctx.idempotencyKey) {
          const earlier = current.keys.get(ctx.idempotencyKey);
          if (earlier) {
            // The first result, as it was: the state right after those events, not what later
            // commands have made of the stream since.
            const revision = earlier.at(-1)!.revision;
            const state = revision === current.revision ? current.state : await this.stateAt(decider, streamId, revision);
            return { streamId, state, events: earlier, revision, position: earlier.at(-1)?.position ?? null, duplicate: true };
          }
        }
        const decided = decider.decide(command, current.state);
        if (decided.length === 0) {
          return { streamId, state: current.state, events: [], revision: current.revision, position: null, duplicate: false };
        }
        const metadata = {
          actor: ctx.actor,
          correlationId: ctx.correlationId,
          causationId: ctx.causationId ?? null,
          traceparent: currentTraceparent(),
          schemaVersion: 1,
          ...(ctx.idempotencyKey ? { [IDEMPOTENCY_KEY]: ctx.idempotencyKey } : {}),
          ...ctx.extra,
        };
        // Each event is its aggregate's tenant's, from the state it leads to (a cluster's from the
        // cluster, an assignment on a node from the agent's cluster), whoever asked for it.
        let state = current.state;
        const toAppend = decided.map((e) => {
          state = decider.evolve(state, e);
          const own: EventMetadata = { ...metadata, tenantId: decider.tenantOf(state, e) ?? PLATFORM_TENANT };
          return { type: e.type, data: e.data as Record<string, unknown>, metadata: own };
        });
        const expected: ExpectedRevision = current.revision < 0n ? 'no_stream' : current.revision;
        try {
          const result = await withSpan('eventstore append', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'flotilla.stream': streamId, 'flotilla.events': decided.length } }, () =>
            this.store.append(streamId, toAppend, { expectedRevision: expected }),
          );
          this.remember(streamId, { state, revision: result.nextExpectedRevision, keys: withKey(current.keys, ctx.idempotencyKey, result.events) });
          return { streamId, state, events: result.events, revision: result.nextExpectedRevision, position: result.lastPosition, duplicate: false };
        } catch (err) {
          this.cache.delete(streamId);
          if (err instanceof ConcurrencyError && attempt < this.maxAttempts) {
            // Jittered backoff: writers that collided should not collide again in lockstep.
            await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
            continue;
          }
          throw err;
        }
      }
    });
  }

  private async fold<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string): Promise<Cached<State>> {
    const cached = this.cache.get(streamId) as Cached<State> | undefined;
    let state = cached?.state ?? decider.initialState();
    let revision = cached?.revision ?? -1n;
    const keys = new Map(cached?.keys ?? []);
    const events = await this.store.readStream(streamId, revision >= 0n ? { fromRevision: revision + 1n } : {});
    for (const e of events) {
      state = decider.evolve(state, { type: e.type, data: e.data } as unknown as E);
      revision = e.revision;
      const key = e.metadata[IDEMPOTENCY_KEY];
      if (typeof key === 'string') keys.set(key, [...(keys.get(key) ?? []), e]);
    }
    const folded = { state, revision, keys };
    if (events.length) this.remember(streamId, folded);
    return folded;
  }

  /** The stream's state right after `revision` (a replayed command's original result). */
  private async stateAt<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string, revision: bigint): Promise<State> {
    let state = decider.initialState();
    const events = await this.store.readStream(streamId, { limit: Number(revision) + 1 });
    for (const e of events) state = decider.evolve(state, { type: e.type, data: e.data } as unknown as E);
    return state;
  }

  private remember(streamId: string, entry: Cached<unknown>): void {
    this.cache.delete(streamId);
    this.cache.set(streamId, entry);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }
}

/** Another tenant's aggregate is reported exactly like a missing one (`cluster-x` → cluster 'x'). */
function notFound(streamId: string): NotFoundError {
  const dash = streamId.indexOf('-');
  return dash > 0 ? NotFoundError.of(streamId.slice(0, dash), streamId.slice(dash + 1)) : NotFoundError.of('stream', streamId);
}

function withKey(keys: Map<string, StoredEvent[]>, key: string | undefined, events: StoredEvent[]): Map<string, StoredEvent[]> {
  if (!key) return keys;
  const next = new Map(keys);
  next.set(key, events);
  return next;
}
