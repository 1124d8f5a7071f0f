import { describe, expect, it } from '@jest/globals';
import { nodeDecider } from '@flotilla/domain';
import { DirectoryDriver, T0 } from '../testing/directory-fixtures.js';

describe('NodeDirectory', () => {
  it('folds node streams in revision order, ignoring duplicates and reporting gaps', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.assign('node-1', 'agent-1');
    const entry = d.directory.get('node-1')!;
    expect(entry.revision).toBe(1n);
    expect(entry.state.used).toEqual({ cpu: 1, memoryMb: 512, agents: 1 });
    const again = d.directory.applyStored(
      {
        streamId: 'node-node-1',
        type: 'AgentReleased',
        data: {
          agentId: 'agent-1',
          nodeId: 'node-1',
          clusterId: 'cluster-a',
          reason: 'x',
          at: 'y',
        },
        revision: 1n,
      },
      T0,
    );
    expect(again).toBe('duplicate');
    const gap = d.directory.applyStored(
      {
        streamId: 'node-node-1',
        type: 'NodeCordoned',
        data: { reason: 'x', at: 'y' },
        revision: 5n,
      },
      T0,
    );
    expect(gap).toBe('gap');
    expect(d.directory.get('node-1')!.state.status).toBe('online');
  });

  it('takes a command result only when it is newer than what it has', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    const stale = nodeDecider.initialState();
    d.directory.applyState('node-1', stale, 0n, T0);
    expect(d.directory.get('node-1')!.state.status).toBe('online');
  });

  it('counts a new node as heard from when it learns of it, and heartbeats in O(1)', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    expect(d.directory.get('node-1')!.lastSeenMs).toBe(T0);
    d.beat('node-1', T0 + 500);
    expect(d.directory.get('node-1')).toMatchObject({
      lastSeenMs: T0 + 500,
      reading: { cpuPercent: 10, loadAvg: 0.5 },
    });
    expect(
      d.directory.heartbeat('node-x', d.directory.get('node-1')!.reading!, T0),
    ).toBeUndefined();
  });

  it('counts reservations as used until the log shows the assignment, and indexes who holds an agent', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.register('node-2');
    d.directory.reserve('node-2', {
      agentId: 'agent-9',
      clusterId: 'cluster-a',
      resources: { cpu: 2, memoryMb: 100 },
    });
    const snap = d.directory.snapshots().find((n) => n.nodeId === 'node-2')!;
    expect(snap.used).toEqual({ cpu: 2, memoryMb: 100, agents: 1 });
    expect(d.directory.nodesOf('agent-9')).toEqual(['node-2']);
    expect(d.directory.assignedNodesOf('agent-9')).toEqual([]);
    expect(d.directory.placementsOf(['cluster-a'])).toEqual([
      { agentId: 'agent-9', clusterId: 'cluster-a', nodeId: 'node-2' },
    ]);
    // The assignment arrives from the log: the reservation is done, usage is counted once.
    d.run('node-2', {
      type: 'PlaceAgent',
      data: { agentId: 'agent-9', clusterId: 'cluster-a', resources: { cpu: 2, memoryMb: 100 } },
    });
    const entry = d.directory.get('node-2')!;
    expect(entry.reserved.size).toBe(0);
    expect(d.directory.snapshots().find((n) => n.nodeId === 'node-2')!.used).toEqual({
      cpu: 2,
      memoryMb: 100,
      agents: 1,
    });
    expect(d.directory.assignedNodesOf('agent-9')).toEqual(['node-2']);
    d.run('node-2', { type: 'ReleaseAgent', data: { agentId: 'agent-9' } });
    expect(d.directory.nodesOf('agent-9')).toEqual([]);
    expect(d.directory.placementsOf(['cluster-a'])).toEqual([]);
  });

  it('drops a refused reservation without touching recorded usage', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.assign('node-1', 'agent-1');
    d.directory.reserve('node-1', {
      agentId: 'agent-2',
      clusterId: 'cluster-a',
      resources: { cpu: 0.1, memoryMb: 1 },
    });
    d.directory.unreserve('node-1', 'agent-2');
    const entry = d.directory.get('node-1')!;
    expect([entry.reservedCpu, entry.reservedMemoryMb, entry.reserved.size]).toEqual([0, 0, 0]);
    expect(d.directory.nodesOf('agent-2')).toEqual([]);
    expect(d.directory.nodesOf('agent-1')).toEqual(['node-1']);
  });

  it('shows placement a move source as unschedulable and leaves deregistered nodes out', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.register('node-2');
    d.run('node-2', { type: 'DeregisterNode', data: {} });
    expect(d.directory.snapshots('node-1').map((n) => [n.nodeId, n.status])).toEqual([
      ['node-1', 'cordoned'],
    ]);
  });

  it('follows the registry settings stream', () => {
    const d = new DirectoryDriver();
    expect(d.directory.settings.strategy).toBe('least-loaded');
    d.directory.applySettings({
      type: 'DefaultStrategyChanged',
      data: { strategy: 'round-robin', previous: 'least-loaded', at: 'x' },
      revision: 0n,
    });
    d.directory.applySettings({
      type: 'DefaultStrategyChanged',
      data: { strategy: 'random', previous: 'round-robin', at: 'x' },
      revision: 0n,
    });
    expect(d.directory.settings.strategy).toBe('round-robin');
  });
});
