import { setTimeout as delay } from 'node:timers/promises';
import {
  TimeoutError,
  toFlotillaError,
  UnavailableError,
  type AgentSpec,
  type FlotillaError,
} from '@flotilla/domain';
import type { AgentRuntime } from './runtime.js';
import type { AgentTask, RunningAgentInfo, TaskDelivery, TaskSource } from './task-source.js';

export type WorkerState = 'idle' | 'busy' | 'stopping' | 'stopped';

/** Slots shared by every agent of the node: the per-node concurrency limit. */
export class Slots {
  private used = 0;
  private readonly waiters = new Set<() => void>();

  constructor(readonly limit: number) {}

  get free(): number {
    return this.limit - this.used;
  }

  tryTake(n: number): number {
    const taken = Math.max(0, Math.min(n, this.free));
    this.used += taken;
    return taken;
  }

  give(n = 1): void {
    this.used = Math.max(0, this.used - n);
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves when a slot is given back (or the signal aborts). */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

export interface TaskOutcome {
  readonly agentId: string;
  readonly task: AgentTask;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: FlotillaError;
}

export interface WorkerOptions {
  readonly agentId: string;
  readonly clusterId: string;
  readonly spec: AgentSpec;
  readonly runtime: AgentRuntime;
  /** Tasks this agent runs at once. */
  readonly concurrency: number;
  readonly nodeSlots: Slots;
  readonly source?: TaskSource | undefined;
  /** How often a running task tells the source it is still being worked on. */
  readonly workingEveryMs?: number;
  readonly onOutcome?: (outcome: TaskOutcome) => void;
  readonly onError?: (err: unknown) => void;
}

/** Redelivery delay after a failed attempt: exponential from 1 s, capped at 30 s, with jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * One running agent: pulls tasks from the source (never more than its free slots and the node's
 * allow), runs each with its runtime, acks results and naks failures with backoff. Stopping
 * takes no new work, lets tasks in flight finish within the grace period, then aborts the rest
 * and naks them at once so they are redelivered elsewhere: a task is never dropped.
 */
export class AgentWorker {
  private readonly intake = new AbortController();
  private readonly hardStop = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private loop: Promise<void> = Promise.resolve();
  private stateValue: WorkerState = 'idle';
  private stopReason: string | undefined;

  constructor(private readonly options: WorkerOptions) {}

  get agentId(): string {
    return this.options.agentId;
  }

  get clusterId(): string {
    return this.options.clusterId;
  }

  get spec(): AgentSpec {
    return this.options.spec;
  }

  get state(): WorkerState {
    return this.stateValue;
  }

  get inFlight(): number {
    return this.running.size;
  }

  get info(): RunningAgentInfo {
    return {
      agentId: this.options.agentId,
      clusterId: this.options.clusterId,
      spec: this.options.spec,
    };
  }

  start(): void {
    if (this.options.source) this.loop = this.pullLoop(this.options.source);
  }

  /** Runs one delivery now (the pull loop uses this; so can a caller with its own delivery). */
  run(delivery: TaskDelivery): Promise<void> {
    const work = this.execute(delivery).finally(() => {
      this.running.delete(work);
      if (this.running.size === 0 && this.stateValue === 'busy') this.stateValue = 'idle';
    });
    this.running.add(work);
    if (this.stateValue === 'idle') this.stateValue = 'busy';
    return work;
  }

  /** Stops taking work at once (SIGTERM on the node, or the agent released). */
  stopIntake(reason: string): void {
    this.stopReason ??= reason;
    if (this.stateValue !== 'stopped') this.stateValue = 'stopping';
    this.intake.abort();
  }

  /** Stops: no new work; in-flight tasks get `graceMs`, then are aborted and nak'ed. */
  async stop(reason: string, graceMs: number): Promise<void> {
    this.stopIntake(reason);
    await this.loop;
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'late'>(
        (resolve) => (timer = setTimeout(() => resolve('late'), graceMs)),
      );
      const outcome = await Promise.race([
        Promise.allSettled([...this.running]).then(() => 'done' as const),
        grace,
      ]);
      clearTimeout(timer);
      if (outcome === 'late') {
        this.hardStop.abort(
          new UnavailableError(
            `agent '${this.options.agentId}' stopped (${this.stopReason}) before the task finished`,
            { agent_id: this.options.agentId },
          ),
        );
        await Promise.allSettled([...this.running]);
      }
    }
    this.stateValue = 'stopped';
  }

  private async pullLoop(source: TaskSource): Promise<void> {
    const signal = this.intake.signal;
    const slots = this.options.nodeSlots;
    while (!signal.aborted) {
      // Wait for work first, holding no slot: the node's slots go to agents that have tasks.
      await source.waitForWork?.(this.info, signal);
      if (signal.aborted) break;
      // Take the node's slots before pulling, so agents pulling at once never fetch more work
      // than the node may run (over-fetched tasks would sit unacked, blocking other nodes).
      const wanted = this.options.concurrency - this.running.size;
      const taken = wanted > 0 ? slots.tryTake(wanted) : 0;
      if (taken === 0) {
        await slots.changed(signal);
        continue;
      }
      let deliveries: readonly TaskDelivery[] = [];
      try {
        deliveries = await source.pull(this.info, taken, signal);
      } catch (err) {
        if (!signal.aborted) {
          this.options.onError?.(err);
          await delay(1000);
        }
      }
      slots.give(taken - Math.min(taken, deliveries.length));
      deliveries.forEach((delivery, i) => {
        if (i >= taken) {
          // A source that returned more than asked: hand the excess back at once.
          void Promise.resolve(
            delivery.nak(
              0,
              new UnavailableError('no free slot on this node', { agent_id: this.options.agentId }),
            ),
          ).catch(() => undefined);
          return;
        }
        void this.run(delivery).finally(() => slots.give(1));
      });
    }
  }

  private async execute(delivery: TaskDelivery): Promise<void> {
    const { task } = delivery;
    const started = performance.now();
    const attempt = new AbortController();
    const onHardStop = () => attempt.abort(this.hardStop.signal.reason);
    this.hardStop.signal.addEventListener('abort', onHardStop, { once: true });
    const timer = task.timeoutMs
      ? setTimeout(
          () =>
            attempt.abort(
              new TimeoutError(`task '${task.taskId}' exceeded its ${task.timeoutMs} ms timeout`, {
                task_id: task.taskId,
              }),
            ),
          task.timeoutMs,
        )
      : undefined;
    // A long task keeps telling the source it is alive, so it is not redelivered behind its back.
    const keepAlive = setInterval(
      () => void Promise.resolve(delivery.working()).catch(() => undefined),
      this.options.workingEveryMs ?? 10_000,
    );
    try {
      const result = await this.options.runtime.execute(task, {
        agentId: this.options.agentId,
        spec: this.options.spec,
        signal: attempt.signal,
      });
      await delivery.ack(result);
      this.options.onOutcome?.({
        agentId: this.options.agentId,
        task,
        ok: true,
        ms: performance.now() - started,
      });
    } catch (err) {
      const error = toFlotillaError(attempt.signal.aborted ? (attempt.signal.reason ?? err) : err);
      // Abandoned at shutdown: redeliver at once; a real failure waits out its backoff.
      const wait = this.hardStop.signal.aborted ? 0 : retryDelayMs(task.attempt);
      await Promise.resolve(delivery.nak(wait, error)).catch((e: unknown) =>
        this.options.onError?.(e),
      );
      this.options.onOutcome?.({
        agentId: this.options.agentId,
        task,
        ok: false,
        ms: performance.now() - started,
        error,
      });
    } finally {
      clearTimeout(timer);
      clearInterval(keepAlive);
      this.hardStop.signal.removeEventListener('abort', onHardStop);
    }
  }
}
