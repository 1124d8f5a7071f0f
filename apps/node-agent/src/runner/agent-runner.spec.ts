import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@flotilla/telemetry';
import type { AssignedAgent } from '../assignments/assignment-state.js';
import type { AgentReport } from '../reports/agent-reporter.js';
import { AgentRunner } from './agent-runner.js';

const logger = createLogger({ service: 'node-agent', instanceId: 'test', level: 'silent' });
const assigned = (
  agentId: string,
  runtime: Record<string, unknown> | null = {
    kind: 'builtin',
    handler: 'echo',
    delayMs: 0,
    failureRate: 0,
  },
): AssignedAgent => ({
  agentId,
  clusterId: 'cluster-1',
  tenantId: 'acme',
  resources: { cpu: 0.5, memoryMb: 256 },
  spec: runtime
    ? ({
        name: 'writer',
        role: 'worker',
        capabilities: [],
        runtime,
      } as unknown as AssignedAgent['spec'])
    : null,
  assignedAt: '2026-03-01T10:00:00.000Z',
});

describe('AgentRunner', () => {
  const setup = () => {
    const reports: AgentReport[] = [];
    const runner = new AgentRunner({
      nodeId: 'node-1',
      nodeConcurrency: 4,
      agentConcurrency: 2,
      report: (r) => reports.push(r),
      logger,
      env: {},
    });
    return { runner, reports };
  };

  it('runs exactly the assigned agents, reporting each start and stop', async () => {
    const { runner, reports } = setup();
    runner.sync(
      new Map([
        ['agent-1', assigned('agent-1')],
        ['agent-2', assigned('agent-2')],
      ]),
      () => 'released',
      100,
    );
    expect(runner.statuses()).toEqual([
      { agent_id: 'agent-1', cluster_id: 'cluster-1', role: 'worker', state: 'idle' },
      { agent_id: 'agent-2', cluster_id: 'cluster-1', role: 'worker', state: 'idle' },
    ]);
    runner.sync(new Map([['agent-2', assigned('agent-2')]]), (id) => `moved ${id} to node-2`, 100);
    await new Promise((r) => setTimeout(r, 10));
    expect(runner.statuses().map((s) => s.agent_id)).toEqual(['agent-2']);
    expect(reports).toEqual([
      { clusterId: 'cluster-1', agentId: 'agent-1', nodeId: 'node-1', state: 'started' },
      { clusterId: 'cluster-1', agentId: 'agent-2', nodeId: 'node-1', state: 'started' },
      {
        clusterId: 'cluster-1',
        agentId: 'agent-1',
        nodeId: 'node-1',
        state: 'stopped',
        reason: 'moved agent-1 to node-2',
      },
    ]);
    // A repeated sync changes nothing and reports nothing.
    runner.sync(new Map([['agent-2', assigned('agent-2')]]), () => 'x', 100);
    expect(reports).toHaveLength(3);
  });

  it('reports an agent it cannot run as failed, with the reason', () => {
    const { runner, reports } = setup();
    runner.sync(
      new Map([
        ['agent-nospec', assigned('agent-nospec', null)],
        ['agent-badrt', assigned('agent-badrt', { kind: 'shell' })],
        [
          'agent-nokey',
          assigned('agent-nokey', {
            kind: 'openai',
            baseUrl: 'http://127.0.0.1:1/v1',
            model: 'm',
            systemPrompt: null,
            apiKeyEnv: 'AGENT_SECRET_MISSING_KEY',
            temperature: null,
            maxTokens: null,
            timeoutMs: 1000,
          }),
        ],
      ]),
      () => 'x',
      100,
    );
    expect(runner.size).toBe(0);
    expect(reports.map((r) => [r.agentId, r.state])).toEqual([
      ['agent-nospec', 'failed'],
      ['agent-badrt', 'failed'],
      ['agent-nokey', 'failed'],
    ]);
    expect(reports[2]!.reason).toMatch(/AGENT_SECRET_MISSING_KEY/);
    // Still assigned: not retried (and not reported again) on the next sync.
    runner.sync(
      new Map([['agent-nokey', assigned('agent-nokey', { kind: 'shell' })]]),
      () => 'x',
      100,
    );
    expect(reports).toHaveLength(3);
  });

  it('starts nothing new once it stops taking work', async () => {
    const { runner, reports } = setup();
    runner.sync(new Map([['agent-1', assigned('agent-1')]]), () => 'x', 100);
    runner.stopTaking('shutting down');
    runner.sync(
      new Map([
        ['agent-1', assigned('agent-1')],
        ['agent-2', assigned('agent-2')],
      ]),
      () => 'x',
      100,
    );
    expect(runner.statuses()).toEqual([
      { agent_id: 'agent-1', cluster_id: 'cluster-1', role: 'worker', state: 'stopping' },
    ]);
    await runner.finish(50);
    expect(reports.map((r) => r.state)).toEqual(['started']);
  });
});
