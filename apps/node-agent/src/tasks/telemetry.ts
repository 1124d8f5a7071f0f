import type { Telemetry } from '@flotilla/contracts';
import type { AgentStatus } from '../runner/agent-runner.js';
import type { TaskOutcome } from '../runner/agent-worker.js';

interface Counts {
  completed: number;
  failed: number;
  latencies: number[];
}

/**
 * Per-agent task counters between two telemetry messages: what the metrics service turns into
 * tasks per minute, latency percentiles and error rates. Busy/idle is telemetry, not an event.
 */
export class TelemetryWindow {
  private counts = new Map<string, Counts>();

  record(o: TaskOutcome): void {
    const c = this.counts.get(o.agentId) ?? { completed: 0, failed: 0, latencies: [] };
    if (o.ok) c.completed++;
    else c.failed++;
    if (c.latencies.length < 5000) c.latencies.push(Math.round(o.ms));
    this.counts.set(o.agentId, c);
  }

  /** The message for this interval; counters start again from zero. */
  drain(nodeId: string, intervalMs: number, usage: { cpu: number; memory: number }, agents: readonly (AgentStatus & { role: string })[]): Telemetry {
    const counts = this.counts;
    this.counts = new Map();
    return {
      node_id: nodeId,
      at: new Date().toISOString(),
      interval_ms: intervalMs,
      cpu_percent: usage.cpu,
      memory_percent: usage.memory,
      agents: agents.map((a) => {
        const c = counts.get(a.agent_id);
        const state = a.state === 'busy' || a.state === 'idle' || a.state === 'stopping' ? a.state : 'idle';
        return {
          agent_id: a.agent_id,
          cluster_id: a.cluster_id,
          role: a.role,
          state,
          tasks_completed: c?.completed ?? 0,
          tasks_failed: c?.failed ?? 0,
          latencies_ms: c?.latencies ?? [],
        };
      }),
    };
  }
}
