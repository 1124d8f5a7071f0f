import { describe, expect, it } from '@jest/globals';
import { DirectoryDriver, T0 } from '../testing/directory-fixtures.js';
import { computeStats, toNodeView, viewStatus } from './node-views.js';

describe('node views and stats', () => {
  const fleet = () => {
    const d = new DirectoryDriver();
    d.register('node-1', { zone: 'zone-a', cpu: 4, maxAgents: 10 });
    d.register('node-2', { zone: 'zone-b', cpu: 8, maxAgents: 20, role: 'standby' });
    d.register('node-3', { zone: 'zone-b', cpu: 2, maxAgents: 5 });
    d.assign('node-1', 'agent-1');
    d.assign('node-1', 'agent-2');
    d.assign('node-3', 'agent-3');
    d.beat('node-1', T0 + 100, ['agent-1']);
    d.run('node-3', { type: 'DrainNode', data: {} });
    d.directory.reserve('node-2', {
      agentId: 'agent-4',
      clusterId: 'cluster-a',
      resources: { cpu: 1, memoryMb: 512 },
    });
    return d;
  };

  it('renders a node in the contract shape, with usage, health and reservations', () => {
    const d = fleet();
    const view = toNodeView(d.directory.get('node-1')!, T0 + 200);
    expect(view).toMatchObject({
      id: 'node-1',
      status: 'online',
      health: 'healthy',
      capacity: { cpu: 4, memory_mb: 8192, max_agents: 10 },
      used: { cpu: 2, memory_mb: 1024, agents: 2 },
      usage: { cpu_percent: 10, memory_percent: 20, disk_percent: 30, load_avg: 0.5 },
      agents: ['agent-1', 'agent-2'],
      last_heartbeat_at: new Date(T0 + 100).toISOString(),
    });
    expect(toNodeView(d.directory.get('node-2')!, T0)).toMatchObject({
      health: 'unknown',
      usage: null,
      used: { agents: 1 },
      role: 'standby',
    });
  });

  it('shows a drained node as drained', () => {
    const d = fleet();
    expect(viewStatus(d.directory.get('node-3')!)).toBe('draining');
    d.run('node-3', { type: 'ReleaseAgent', data: { agentId: 'agent-3' } });
    expect(viewStatus(d.directory.get('node-3')!)).toBe('drained');
  });

  it('sums nodes, agents, capacity and zones', () => {
    const stats = computeStats(fleet().directory.entries(), 'weighted');
    expect(stats).toEqual({
      nodes: {
        total: 3,
        by_status: { online: 2, draining: 1 },
        by_role: { worker: 2, standby: 1 },
      },
      agents: { total: 4, by_state: { idle: 1, assigned: 2, reserved: 1 } },
      capacity: {
        cpu: { total: 14, used: 4, free: 10 },
        memory_mb: { total: 24576, used: 2048, free: 22528 },
        agents: { total: 35, used: 4, free: 31 },
      },
      zones: {
        'zone-a': { nodes: 1, online: 1, agents: 2, free_agents: 8 },
        'zone-b': { nodes: 2, online: 1, agents: 2, free_agents: 23 },
      },
      strategy: 'weighted',
    });
  });
});
