import { ValidationError } from './errors.js';
import type { JsonValue } from './json.js';
import { isIsoTimestamp } from './time.js';

/**
 * Metadata every command carries. `now` is the only clock a decider ever reads: the caller
 * stamps it, so replaying a command yields the same events.
 */
export interface CommandMetadata {
  /** ISO-8601 time at which the command is decided. */
  readonly now: string;
  readonly tenantId?: string;
  readonly actor?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly [key: string]: JsonValue | undefined;
}

/** An imperative request (`ScaleCluster`). */
export interface Command<Type extends string = string, Data extends object = object> {
  readonly type: Type;
  readonly data: Readonly<Data>;
  readonly metadata: CommandMetadata;
}

/** A fact in the past tense (`ClusterScaled`); `data` is plain JSON. */
export interface Event<Type extends string = string, Data extends object = object> {
  readonly type: Type;
  readonly data: Readonly<Data>;
  readonly metadata?: Readonly<Record<string, JsonValue>>;
}

/**
 * The owner of what belongs to the whole fleet rather than to one tenant (nodes' lifecycle, the
 * registry's settings), and the tenant of identities that span every tenant.
 */
export const PLATFORM_TENANT = '*';

/**
 * A pure aggregate: `decide` turns a command into events (or throws a typed FlotillaError when
 * the state forbids it), `evolve` folds one event into the state. Neither does I/O, reads a clock
 * or draws random numbers.
 */
export interface Decider<State, C, E> {
  decide(command: C, state: State): readonly E[];
  evolve(state: State, event: E): State;
  initialState(): State;
  /**
   * Whose an event is: the tenant that owns the aggregate, read from its state (the state right
   * after `event`), never from whoever asked for the change. Without an event, the owner of the
   * state as it stands (null while the aggregate does not exist). The command handler stamps
   * every event's `tenantId` with it and refuses a one-tenant caller another tenant's aggregate.
   */
  tenantOf(state: State, event?: E): string | null;
}

/** Rebuilds a state from its events, starting from `initialState()` unless a state is given. */
export function fold<State, C, E>(decider: Decider<State, C, E>, events: readonly E[], from?: State): State {
  let state = from ?? decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}

/** Decides a command against a folded state and returns both the events and the new state. */
export function decideAndEvolve<State, C, E>(
  decider: Decider<State, C, E>,
  command: C,
  state: State,
): { events: readonly E[]; state: State } {
  const events = decider.decide(command, state);
  return { events, state: fold(decider, events, state) };
}

/** The command's `metadata.now`, checked to be an ISO-8601 timestamp. */
export function commandNow(command: { readonly metadata?: { readonly now?: unknown } }): string {
  const now = command.metadata?.now;
  if (!isIsoTimestamp(now)) {
    throw ValidationError.of([{ path: 'metadata.now', message: 'expected an ISO-8601 timestamp (the caller stamps the time)' }], 'command');
  }
  return now;
}
