import { describe, expect, it } from '@jest/globals';
import { eventually } from '@flotilla/testing/eventually';
import {
  RuleViolationError,
  UnavailableError,
  type FlotillaError,
  type JsonValue,
} from '@flotilla/domain';
import { AgentWorker, retryDelayMs, Slots } from './agent-worker.js';
import { BuiltinRuntime } from './builtin.runtime.js';
import type { AgentTask, RunningAgentInfo, TaskDelivery, TaskSource } from './task-source.js';

type Handled = {
  taskId: string;
  outcome: 'ack' | 'nak';
  result?: JsonValue;
  delayMs?: number;
  error?: FlotillaError;
  working: number;
};

/** An in-memory queue standing in for the task stream: hands out tasks, records acks and naks. */
class MemorySource implements TaskSource {
  readonly queue: AgentTask[] = [];
  readonly handled: Handled[] = [];
  readonly pulls: number[] = [];

  add(n: number, input: JsonValue = 'x'): void {
    for (let i = 0; i < n; i++)
      this.queue.push({
        taskId: `task-${this.queue.length + this.handled.length}-${i}`,
        clusterId: 'cluster-1',
        capability: null,
        input,
        timeoutMs: null,
        attempt: 1,
      });
  }

  async pull(
    _agent: RunningAgentInfo,
    max: number,
    signal: AbortSignal,
  ): Promise<readonly TaskDelivery[]> {
    this.pulls.push(max);
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      return [];
    }
    return this.queue.splice(0, max).map((task) => {
      const record: Handled = { taskId: task.taskId, outcome: 'ack', working: 0 };
      return {
        task,
        working: () => void record.working++,
        ack: (result) => void this.handled.push({ ...record, outcome: 'ack', result }),
        nak: (delayMs, error) =>
          void this.handled.push({ ...record, outcome: 'nak', delayMs, error }),
      };
    });
  }
}

const spec = (handler: 'echo' | 'sleep' | 'fail', delayMs = 0) => ({
  name: 'w',
  role: 'worker' as const,
  capabilities: [],
  runtime: { kind: 'builtin' as const, handler, delayMs, failureRate: handler === 'fail' ? 1 : 0 },
});
const worker = (
  source: TaskSource,
  slots: Slots,
  handler: 'echo' | 'sleep' | 'fail',
  delayMs = 0,
  concurrency = 2,
  workingEveryMs?: number,
) => {
  const s = spec(handler, delayMs);
  return new AgentWorker({
    agentId: `agent-${handler}`,
    clusterId: 'cluster-1',
    spec: s,
    runtime: new BuiltinRuntime(s.runtime),
    concurrency,
    nodeSlots: slots,
    source,
    ...(workingEveryMs ? { workingEveryMs } : {}),
  });
};

describe('AgentWorker', () => {
  it('runs tasks within its own and the node’s concurrency limits and acks their results', async () => {
    const source = new MemorySource();
    source.add(6, 'hi');
    const slots = new Slots(3);
    const a = worker(source, slots, 'sleep', 40, 2);
    const b = worker(source, slots, 'sleep', 40, 2);
    let peakNode = 0;
    let peakA = 0;
    const probe = setInterval(() => {
      peakNode = Math.max(peakNode, slots.limit - slots.free);
      peakA = Math.max(peakA, a.inFlight);
    }, 2);
    a.start();
    b.start();
    await eventually(() => source.handled.length === 6, { timeoutMs: 3000, intervalMs: 5, what: 'all 6 tasks handled' });
    clearInterval(probe);
    expect(source.handled.every((h) => h.outcome === 'ack')).toBe(true);
    expect(peakNode).toBeLessThanOrEqual(3);
    expect(peakA).toBeLessThanOrEqual(2);
    expect(Math.max(...source.pulls)).toBeLessThanOrEqual(2);
    await Promise.all([a.stop('test', 100), b.stop('test', 100)]);
    expect(slots.free).toBe(3);
    expect(a.state).toBe('stopped');
  });

  it('an idle agent waits for work without holding a node slot, so a busy agent is never starved', async () => {
    // Agent "idle" has no work: both its wait and any pull of its block until stopped. Agent
    // "busy" has five tasks. One slot on the node: it must go to the agent with work.
    const busy = new MemorySource();
    busy.add(5, 'go');
    const blockUntilStopped = (signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    const idle: TaskSource = {
      waitForWork: (_agent, signal) => blockUntilStopped(signal),
      pull: async (_agent, _max, signal) => {
        await blockUntilStopped(signal);
        return [];
      },
    };
    const slots = new Slots(1);
    const waiting = worker(idle, slots, 'echo');
    const working = worker(busy, slots, 'sleep', 5);
    waiting.start();
    await new Promise((r) => setTimeout(r, 20));
    working.start();
    await eventually(() => busy.handled.length === 5, { timeoutMs: 2000, intervalMs: 5, what: "the busy agent's 5 tasks handled" });
    await Promise.all([waiting.stop('test', 100), working.stop('test', 100)]);
    expect(slots.free).toBe(1);
  });

  it('naks a failed task with a backoff that grows with the attempt', async () => {
    const source = new MemorySource();
    source.add(1);
    const w = worker(source, new Slots(1), 'fail');
    w.start();
    await eventually(() => source.handled.length === 1, { timeoutMs: 3000, intervalMs: 5, what: 'the task handled' });
    await w.stop('test', 100);
    const [h] = source.handled;
    expect(h).toMatchObject({ outcome: 'nak' });
    expect(h!.error).toBeInstanceOf(RuleViolationError);
    expect(h!.delayMs).toBeGreaterThanOrEqual(750);
    expect(retryDelayMs(1, () => 0.5)).toBe(1000);
    expect(retryDelayMs(4, () => 0.5)).toBe(8000);
    expect(retryDelayMs(20, () => 0.5)).toBe(30_000);
  });

  it('tells the source a long task is still being worked on', async () => {
    const source = new MemorySource();
    source.add(1);
    const w = worker(source, new Slots(1), 'sleep', 120, 1, 25);
    w.start();
    await eventually(() => source.handled.length === 1, { timeoutMs: 3000, intervalMs: 5, what: 'the task handled' });
    await w.stop('test', 100);
    expect(source.handled[0]!.working).toBeGreaterThanOrEqual(3);
  });

  it('on stop takes no more work, lets in-flight tasks finish within the grace period', async () => {
    const source = new MemorySource();
    source.add(2);
    const w = worker(source, new Slots(4), 'sleep', 80, 2);
    w.start();
    await eventually(() => w.inFlight === 2, { timeoutMs: 3000, intervalMs: 5, what: '2 in flight' });
    source.add(5);
    await w.stop('drained', 1000);
    expect(source.handled.map((h) => h.outcome)).toEqual(['ack', 'ack']);
    expect(source.queue).toHaveLength(5);
  });

  it('past the grace period aborts what still runs and naks it for immediate redelivery (never drops it)', async () => {
    const source = new MemorySource();
    source.add(1);
    const w = worker(source, new Slots(1), 'sleep', 5000, 1);
    w.start();
    await eventually(() => w.inFlight === 1, { timeoutMs: 3000, intervalMs: 5, what: '1 in flight' });
    const started = Date.now();
    await w.stop('shutting down', 50);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(source.handled).toHaveLength(1);
    expect(source.handled[0]).toMatchObject({ outcome: 'nak', delayMs: 0 });
    expect(source.handled[0]!.error).toBeInstanceOf(UnavailableError);
  });
});
