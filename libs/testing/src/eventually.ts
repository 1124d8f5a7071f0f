import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

/** What a probe returns while the condition does not hold yet. */
export type NotYet = undefined | null | false | 0 | '';

export interface EventuallyOptions {
  /** How long to keep probing, from the first call, before giving up. */
  readonly timeoutMs: number;
  /** The pause between two probes (default 20 ms; never past the deadline). */
  readonly intervalMs?: number;
  /**
   * What is waited for, for the timeout's message ("node-1 offline"). A function is called only
   * when the wait fails, so it can describe the state at that moment.
   */
  readonly what: string | (() => string);
}

/** The wait of {@link eventually} ran out; `cause` is the last error a probe threw, if any. */
export class EventuallyTimeoutError extends Error {
  /** How many times the probe ran. */
  readonly probes: number;
  /** What the last probe returned (undefined when it threw). */
  readonly lastValue: unknown;

  constructor(message: string, probes: number, lastValue: unknown, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'EventuallyTimeoutError';
    this.probes = probes;
    this.lastValue = lastValue;
  }
}

/**
 * Calls `probe` until it returns a truthy value and resolves to that value. A probe that returns
 * a falsy value or throws is called again after `intervalMs`, for at most `timeoutMs` (the last
 * probe runs at the deadline). When the time is up it rejects with an {@link EventuallyTimeoutError}
 * that says what it waited for, how long, and the last value or error the probe gave.
 *
 * With `until`, the probe reads a value and `until` decides whether it will do (the value is
 * returned even if falsy); a timeout then shows the last value read, which says more than `false`.
 *
 * A probe may throw to explain itself: `() => { expect(rows).toHaveLength(3); return true; }`
 * fails with the last assertion's message. A condition that must fail the test at once (a task
 * that failed for good) is no job for a thrown error, which is retried: return it, and assert
 * after the wait.
 */
export function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions & { readonly until: (value: T) => boolean },
): Promise<T>;
export function eventually<T>(
  probe: () => T | NotYet | Promise<T | NotYet>,
  options: EventuallyOptions & { readonly until?: undefined },
): Promise<T>;
export async function eventually<T>(
  probe: () => T | Promise<T>,
  options: EventuallyOptions & { readonly until?: (value: T) => boolean },
): Promise<T> {
  const { timeoutMs, intervalMs = 20, until = Boolean } = options;
  const started = performance.now();
  const deadline = started + timeoutMs;
  let probes = 0;
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  let lastError: { error: unknown } | undefined;
  for (;;) {
    probes++;
    try {
      const value = await probe();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      last = lastError = { error };
    }
    // Timers count whole milliseconds and may fire a fraction early: less than 1 ms left is none.
    const left = deadline - performance.now();
    if (left < 1) break;
    await sleep(Math.min(intervalMs, Math.ceil(left)));
  }
  const what = typeof options.what === 'function' ? options.what() : options.what;
  const seen =
    'error' in last
      ? `last error: ${describeError(last.error)}`
      : `last value: ${show(last.value)}${lastError ? `; an earlier probe threw: ${describeError(lastError.error)}` : ''}`;
  throw new EventuallyTimeoutError(
    `timed out after ${timeoutMs} ms (${probes} probes) waiting for ${what}; ${seen}`,
    probes,
    'value' in last ? last.value : undefined,
    lastError ? { cause: lastError.error } : undefined,
  );
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message || error.name : show(error);
}

const SHOWN_CHARS = 4000;

function show(value: unknown): string {
  const shown = inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20 });
  return shown.length > SHOWN_CHARS
    ? `${shown.slice(0, SHOWN_CHARS)}… (${shown.length} characters)`
    : shown;
}
