import { describe, expect, it } from '@jest/globals';
import type { Config } from '@flotilla/config';
import type { Telemetry } from '@flotilla/contracts';
import type { Messaging } from '@flotilla/messaging';
import type { FleetMirror } from './fleet-mirror.js';
import { LiveState } from './live-state.js';

/** Where the log places each agent (the mirror's answer); an agent not listed is unknown to it. */
const placements: Record<string, string | null> = { 'agent-a': 'node-a', 'agent-b': 'node-b', 'agent-gone': null };
const mirror = { nodeOf: (_cluster: string, agent: string) => placements[agent] } as unknown as FleetMirror;
const config = { HEARTBEAT_INTERVAL_MS: 1000 } as Config;

const report = (node: string, agents: string[]): Telemetry => ({
  node_id: node,
  at: new Date().toISOString(),
  interval_ms: 1000,
  cpu_percent: 10,
  memory_percent: 10,
  agents: agents.map((agent_id) => ({ agent_id, cluster_id: 'c-1', role: 'worker', state: 'busy', tasks_completed: 5, tasks_failed: 1, latencies_ms: [100] })),
});

describe('LiveState', () => {
  it("a node's telemetry counts only the agents the log places on that node", () => {
    // The messaging connection is only used to subscribe at module init, which this test skips.
    const live = new LiveState(undefined as unknown as Messaging, config, mirror);
    // node-a speaks for its own agent, and claims node-b's and an unplaced one: those are ignored.
    live.onTelemetry(report('node-a', ['agent-a', 'agent-b', 'agent-gone', 'agent-new']));
    expect([...live.busyAgents('c-1')].sort()).toEqual(['agent-a', 'agent-new']);
    const w = live.outcomes('c-1', true);
    expect([w.completed, w.failed, w.latencies.length]).toEqual([10, 2, 2]);
  });
});
