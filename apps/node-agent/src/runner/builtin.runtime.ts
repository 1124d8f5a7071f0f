import { createHash } from 'node:crypto';
import { RuleViolationError, type JsonValue, type ResolvedRuntime } from '@flotilla/domain';
import { delay, type AgentRuntime, type RuntimeContext } from './runtime.js';
import type { AgentTask } from './task-source.js';

type Builtin = Extract<ResolvedRuntime, { kind: 'builtin' }>;

/** A slice of CPU work between yields, so a long burn never starves heartbeats or acks. */
const BURN_SLICE_MS = 10;

/**
 * The builtin handlers, for tests and demos: `echo` answers its input, `sleep` waits, `cpu-burn`
 * keeps a core busy (in slices, yielding between them), `fail` fails. `failureRate` makes any of
 * them fail that share of the time.
 */
export class BuiltinRuntime implements AgentRuntime {
  readonly kind = 'builtin' as const;

  constructor(
    private readonly runtime: Builtin,
    private readonly random: () => number = Math.random,
  ) {}

  async execute(task: AgentTask, ctx: RuntimeContext): Promise<JsonValue> {
    const { handler, delayMs, failureRate } = this.runtime;
    if (handler !== 'fail' && failureRate > 0 && this.random() < failureRate) {
      throw new RuleViolationError(
        'task_failed',
        `builtin '${handler}' failed on purpose (failure rate ${failureRate})`,
        { task_id: task.taskId, handler },
      );
    }
    switch (handler) {
      case 'echo':
        if (delayMs > 0) await delay(delayMs, ctx.signal);
        return task.input;
      case 'sleep':
        await delay(delayMs, ctx.signal);
        return { slept_ms: delayMs };
      case 'cpu-burn':
        return burn(delayMs, ctx.signal);
      case 'fail':
        if (delayMs > 0) await delay(delayMs, ctx.signal);
        if (failureRate > 0 && this.random() >= failureRate) return task.input;
        throw new RuleViolationError(
          'task_failed',
          `builtin 'fail' failed task '${task.taskId}' as configured`,
          { task_id: task.taskId, handler },
        );
      default: {
        const never: never = handler;
        throw new RuleViolationError(
          'unknown_builtin',
          `unknown builtin handler '${String(never)}'`,
        );
      }
    }
  }
}

async function burn(ms: number, signal: AbortSignal): Promise<JsonValue> {
  const start = performance.now();
  let rounds = 0;
  let digest = Buffer.alloc(32);
  while (performance.now() - start < ms) {
    if (signal.aborted) throw signal.reason as Error;
    const sliceEnd = Math.min(start + ms, performance.now() + BURN_SLICE_MS);
    while (performance.now() < sliceEnd) {
      digest = createHash('sha256').update(digest).digest();
      rounds++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    burned_ms: Math.round(performance.now() - start),
    rounds,
    digest: digest.toString('hex').slice(0, 16),
  };
}
