import { setTimeout as delay } from 'node:timers/promises';
import { SpanKind } from '@opentelemetry/api';
import { ConcurrencyError, NotFoundError, PLATFORM_TENANT, type Decider } from '@flotilla/domain';
import type { AppendFence, EventMetadata, EventStore, ExpectedRevision, StoredEvent } from '@flotilla/eventstore';
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
  /** Extra metadata to store on every event (source address...). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /**
   * A singleton leader's lease: checked in the append's own transaction, so a deposed leader's
   * write is refused (FencedOutError). Its term is also recorded on the events (`fencingTerm`).
   */
  readonly fence?: AppendFence;
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

/** What a command would do (a dry run): nothing of it is stored. */
export interface CommandPreview<State> {
  readonly streamId: string;
  /** The state the events would lead to. */
  readonly state: State;
  /** The events the command would append, each with the tenant it would be recorded as. */
  readonly events: readonly { readonly type: string; readonly data: Record<string, unknown>; readonly tenantId: string }[];
  /** The stream's revision the decision was made on (-1 when the stream does not exist). */
  readonly revision: bigint;
}

interface Cached<State> {
  state: State;
  revision: bigint;
  keys: Map<string, StoredEvent[]>;
  /** How the stream folds, so events other replicas store can be folded into the cached state. */
  evolve: (state: State, event: StoredEvent) => State;
}

/** Streams whose latest revision the log has shown (capped; only a guard against caching a stale read). */
const SEEN_LIMIT = 100_000;

export interface CommandHandlerOptions {
  readonly maxAttempts?: number;
  /** Streams whose folded state is kept in memory (re-validated on every command). */
  readonly cacheSize?: number;
}

export const IDEMPOTENCY_KEY = 'idempotencyKey';

/**
 * How a service that writes wires its command handler into its persistence: made from the event
 * store with the configured cache size, its cache following the stream categories it writes.
 */
export function followingCommandHandler(follow: readonly string[]) {
  return {
    token: CommandHandler,
    create: (store: EventStore, config: { readonly COMMAND_CACHE_SIZE: number }) => new CommandHandler(store, { cacheSize: config.COMMAND_CACHE_SIZE }),
    follow,
  };
}

/**
 * The one command handler: fold the stream, decide, append with the expected revision, and on a
 * concurrency conflict start over from a fresh read, a bounded number of times before the
 * conflict reaches the caller (as a 409).
 *
 * States are cached, and `follow` keeps the cache current from the log (every replica's appends
 * are folded in as they are stored), so a command on a cached stream reads nothing before it
 * appends. A cached state is still only a belief: the expected revision refuses an append made on
 * a stale one (the handler then reads and decides again), and a decision that appends nothing or
 * refuses the command is made again on a fresh read before it is answered, so a stale cache can
 * cost a retry but never decide an outcome.
 */
export class CommandHandler {
  private readonly cache = new Map<string, Cached<unknown>>();
  /** Per stream, the end of the queue of this process's commands on it (see inTurn). */
  private readonly turns = new Map<string, Promise<void>>();
  /** The last revision the log has shown per stream, to refuse caching a read older than it. */
  private readonly seen = new Map<string, bigint>();
  private readonly maxAttempts: number;
  private readonly cacheSize: number;

  constructor(
    private readonly store: EventStore,
    options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 6;
    this.cacheSize = options.cacheSize ?? 2000;
  }

  /** The stream's state: the cached one when there is one (kept current by `follow`), else read. */
  async load<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string, opts: { fresh?: boolean } = {}): Promise<{ state: State; revision: bigint }> {
    const cached = opts.fresh ? undefined : (this.cache.get(streamId) as Cached<State> | undefined);
    if (cached) return { state: cached.state, revision: cached.revision };
    const { state, revision } = await this.fold(decider, streamId);
    return { state, revision };
  }

  /**
   * Folds every event the log stores for a cached stream into its cached state, whichever replica
   * wrote it, until the signal aborts: commands and loads on busy streams then start from the
   * cache without reading. `categories` limits it to the streams this service writes.
   */
  async follow(signal: AbortSignal, categories?: readonly string[], onError?: (err: unknown) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        const sub = this.store.subscribeToAll({ after: await this.store.headPosition(), signal, ...(categories ? { categories } : {}) });
        for await (const page of sub.pages()) for (const event of page) this.applyStored(event);
      } catch (err) {
        if (signal.aborted) return;
        // Events stored while the subscription was down were not folded in: start cold.
        this.cache.clear();
        onError?.(err);
        await delay(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** One stored event, as the log delivers it (in order; repeats and own appends are ignored). */
  applyStored(event: StoredEvent): void {
    const seen = this.seen.get(event.streamId);
    if (seen === undefined || event.revision > seen) {
      this.seen.delete(event.streamId);
      this.seen.set(event.streamId, event.revision);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
    }
    const cached = this.cache.get(event.streamId);
    if (!cached || event.revision <= cached.revision) return;
    if (event.revision !== cached.revision + 1n) {
      // A gap (the cache missed an event): forget the stream; the next use reads it.
      this.cache.delete(event.streamId);
      return;
    }
    const key = event.metadata[IDEMPOTENCY_KEY];
    this.cache.set(event.streamId, {
      state: cached.evolve(cached.state, event),
      revision: event.revision,
      keys: typeof key === 'string' ? withKey(cached.keys, key, [...(cached.keys.get(key) ?? []), event]) : cached.keys,
      evolve: cached.evolve,
    });
  }

  async handle<State, C, E extends DomainEvent>(
    decider: Decider<State, C, E>,
    streamId: string,
    command: C,
    ctx: CommandContext,
  ): Promise<CommandResult<State>> {
    return withSpan(`command ${(command as { type?: string }).type ?? 'unknown'}`, { kind: SpanKind.INTERNAL, attributes: { 'flotilla.stream': streamId } }, () =>
      this.inTurn(streamId, () => this.decideAndAppend(decider, streamId, command, ctx)),
    );
  }

  /**
   * Decides a command on the stream's current state with every rule `handle` applies (the
   * caller's tenant scope, the decider's own refusals, the same typed errors) and answers the
   * events it would append and the state they would lead to, appending nothing: a dry run. The
   * state is read up to the log's end first, so the answer is what `handle` would decide now.
   */
  async preview<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string, command: C, ctx: CommandContext): Promise<CommandPreview<State>> {
    const current = await this.fold(decider, streamId);
    const owner = decider.tenantOf(current.state);
    if (ctx.tenantScope !== undefined && owner !== null && owner !== ctx.tenantScope) throw notFound(streamId);
    let state = current.state;
    const events = decider.decide(command, current.state).map((e) => {
      state = decider.evolve(state, e);
      return { type: e.type, data: e.data as Record<string, unknown>, tenantId: decider.tenantOf(state, e) ?? PLATFORM_TENANT };
    });
    return { streamId, state, events, revision: current.revision };
  }

  /**
   * Runs one stream's commands one after another in this process (other streams' in parallel):
   * two commands on one stream would otherwise both decide on the same revision, and all but one
   * lose the append and start over. Only other replicas' writes can still conflict.
   */
  private async inTurn<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const before = this.turns.get(streamId);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before ? before.then(() => mine) : mine;
    this.turns.set(streamId, tail);
    try {
      if (before) await before;
      return await work();
    } finally {
      release();
      if (this.turns.get(streamId) === tail) this.turns.delete(streamId);
    }
  }

  private async decideAndAppend<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string, command: C, ctx: CommandContext): Promise<CommandResult<State>> {
    for (let attempt = 1; ; attempt++) {
      // The first attempt trusts the cache; a retry (after a conflict) reads the stream.
      const cached = attempt === 1 ? (this.cache.get(streamId) as Cached<State> | undefined) : undefined;
      let current = cached ?? (await this.fold(decider, streamId));
      let verified = cached === undefined;
      let decided: readonly E[] | undefined;
      for (;;) {
        // A one-tenant caller may not touch another tenant's aggregate: reported as missing.
        const owner = decider.tenantOf(current.state);
        if (ctx.tenantScope !== undefined && owner !== null && owner !== ctx.tenantScope) {
          if (verified) throw notFound(streamId);
          current = await this.fold(decider, streamId);
          verified = true;
          continue;
        }
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
        try {
          decided = decider.decide(command, current.state);
        } catch (err) {
          // A refusal is only answered once a fresh read agrees with it.
          if (verified) throw err;
        }
        // Nothing to append (or a refusal) on a cached state: decide again on a fresh read, so a
        // stale cache never answers "no change" for a stream another replica has moved on.
        if (verified || (decided !== undefined && decided.length > 0)) break;
        current = await this.fold(decider, streamId);
        verified = true;
        decided = undefined;
      }
      if (decided === undefined) throw new Error('unreachable: a verified decision either threw or returned');
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
        ...(ctx.fence ? { fencingTerm: ctx.fence.term } : {}),
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
          this.store.append(streamId, toAppend, { expectedRevision: expected, ...(ctx.fence ? { fence: ctx.fence } : {}) }),
        );
        this.remember(streamId, { state, revision: result.nextExpectedRevision, keys: withKey(current.keys, ctx.idempotencyKey, result.events), evolve: evolverOf(decider) });
        return { streamId, state, events: result.events, revision: result.nextExpectedRevision, position: result.lastPosition, duplicate: false };
      } catch (err) {
        // A conflict leaves the cached state true, only behind: the retry reads just the events
        // past it (on a long stream, not the whole stream again). Any other failure may have an
        // unknown outcome: forget the stream.
        if (!(err instanceof ConcurrencyError)) this.cache.delete(streamId);
        if (err instanceof ConcurrencyError && attempt < this.maxAttempts) {
          // Jittered backoff: writers that collided should not collide again in lockstep.
          await delay(Math.random() * 10 * attempt);
          continue;
        }
        throw err;
      }
    }
  }

  /** Reads the stream past the cached revision (from the start without one) and folds it. */
  private async fold<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string): Promise<Cached<State>> {
    const cached = this.cache.get(streamId) as Cached<State> | undefined;
    const evolve = evolverOf(decider);
    let state = cached?.state ?? decider.initialState();
    let revision = cached?.revision ?? -1n;
    const keys = new Map(cached?.keys ?? []);
    const events = await this.store.readStream(streamId, revision >= 0n ? { fromRevision: revision + 1n } : {});
    for (const e of events) {
      state = evolve(state, e);
      revision = e.revision;
      const key = e.metadata[IDEMPOTENCY_KEY];
      if (typeof key === 'string') keys.set(key, [...(keys.get(key) ?? []), e]);
    }
    const folded = { state, revision, keys, evolve };
    if (events.length || !cached) this.remember(streamId, folded);
    return folded;
  }

  /** The stream's state right after `revision` (a replayed command's original result). */
  private async stateAt<State, C, E extends DomainEvent>(decider: Decider<State, C, E>, streamId: string, revision: bigint): Promise<State> {
    let state = decider.initialState();
    const events = await this.store.readStream(streamId, { limit: Number(revision) + 1 });
    for (const e of events) state = decider.evolve(state, { type: e.type, data: e.data } as unknown as E);
    return state;
  }

  private remember<State>(streamId: string, entry: Cached<State>): void {
    // The log already showed a later revision than this read: caching it would trust a stale state.
    const seen = this.seen.get(streamId);
    if (seen !== undefined && seen > entry.revision) {
      this.cache.delete(streamId);
      return;
    }
    this.cache.delete(streamId);
    this.cache.set(streamId, entry as Cached<unknown>);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }
}

function evolverOf<State, C, E extends DomainEvent>(decider: Decider<State, C, E>): (state: State, event: StoredEvent) => State {
  return (state, event) => decider.evolve(state, { type: event.type, data: event.data } as unknown as E);
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
