import type { AgentSpec, JsonValue, ResolvedRuntime } from '@flotilla/domain';
import type { AgentTask } from './task-source.js';

export interface RuntimeContext {
  readonly agentId: string;
  readonly spec: AgentSpec;
  /** Aborted when the attempt times out or the agent is stopped past its grace period. */
  readonly signal: AbortSignal;
}

/**
 * What an agent does with a task: a builtin handler, an HTTP endpoint, or a chat completion.
 * Failures are typed errors (never strings): `UnavailableError` and `TimeoutError` are worth a
 * retry elsewhere, `RuleViolationError` (the task was refused or failed on purpose) and
 * `ValidationError` (an unreadable answer) are the task's own failure.
 */
export interface AgentRuntime {
  readonly kind: ResolvedRuntime['kind'];
  execute(task: AgentTask, ctx: RuntimeContext): Promise<JsonValue>;
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
