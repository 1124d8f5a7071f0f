import { describe, expect, it } from '@jest/globals';
import { TelemetryWindow } from './telemetry.js';

const task = { taskId: 't', clusterId: 'c', capability: null, input: null, timeoutMs: null, attempt: 1 };

describe('TelemetryWindow', () => {
  it('counts outcomes per agent for one interval, then starts again', () => {
    const w = new TelemetryWindow();
    w.record({ agentId: 'a', task, ok: true, ms: 12.4 });
    w.record({ agentId: 'a', task, ok: false, ms: 30 });
    const agents = [
      { agent_id: 'a', cluster_id: 'c', state: 'busy', role: 'worker' },
      { agent_id: 'b', cluster_id: 'c', state: 'idle', role: 'worker' },
    ];
    const t = w.drain('node-1', 1000, { cpu: 10, memory: 20 }, agents);
    expect(t.agents).toEqual([
      { agent_id: 'a', cluster_id: 'c', role: 'worker', state: 'busy', tasks_completed: 1, tasks_failed: 1, latencies_ms: [12, 30] },
      { agent_id: 'b', cluster_id: 'c', role: 'worker', state: 'idle', tasks_completed: 0, tasks_failed: 0, latencies_ms: [] },
    ]);
    expect(w.drain('node-1', 1000, { cpu: 10, memory: 20 }, agents).agents[0]?.tasks_completed).toBe(0);
  });
});
