import { describe, expect, it } from '@jest/globals';
import { detectNodeTransitions } from '@flotilla/domain';
import { DirectoryDriver, T0 } from '../testing/directory-fixtures.js';
import { emptyDrainingNodes } from './drain-completion.js';
import { confirmedTransitions, livenessCandidates, transitionCommand } from './failure-detector.js';
import { agedAssignments, unconfirmed, type ClusterAgentRow } from './reservation-reaper.js';

const thresholds = { suspectAfterMs: 2000, offlineAfterMs: 3000 };

describe('failure detector inputs', () => {
  it('looks only at silent or not-online nodes, and counts silence from its own election at the earliest', () => {
    const d = new DirectoryDriver();
    for (const id of ['node-1', 'node-2', 'node-3']) d.register(id);
    d.beat('node-1', T0 + 9000);
    d.beat('node-2', T0 + 5000);
    d.run('node-3', { type: 'MarkNodeSuspect', data: {} });
    d.beat('node-3', T0 + 9500);
    const now = T0 + 10_000;
    const candidates = livenessCandidates(
      d.directory.entries(),
      now,
      T0,
      thresholds.suspectAfterMs,
    );
    expect(candidates.map((c) => c.nodeId)).toEqual(['node-2', 'node-3']);
    expect(
      detectNodeTransitions(candidates, now, thresholds).map((t) => [t.nodeId, t.command]),
    ).toEqual([
      ['node-2', 'MarkNodeOffline'],
      ['node-3', 'MarkNodeRecovered'],
    ]);
    // A leader elected a moment ago has not seen node-2 go silent for long: no verdict yet.
    expect(
      livenessCandidates(d.directory.entries(), now, now - 500, thresholds.suspectAfterMs).map(
        (c) => c.nodeId,
      ),
    ).toEqual(['node-3']);
    // Nodes with a write in flight are skipped.
    expect(
      livenessCandidates(
        d.directory.entries(),
        now,
        T0,
        thresholds.suspectAfterMs,
        new Set(['node-2']),
      ).map((c) => c.nodeId),
    ).toEqual(['node-3']);
  });

  it('recovers a node the log has offline only on a heartbeat it really received (not on its own restart grace)', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.run('node-1', { type: 'MarkNodeOffline', data: {} });
    const now = T0 + 60_000;
    // A leader elected a moment ago counts silence from its election: the node looks fresh...
    const fresh = detectNodeTransitions(
      livenessCandidates(d.directory.entries(), now, now - 100, thresholds.suspectAfterMs),
      now,
      thresholds,
    );
    expect(fresh.map((t) => t.command)).toEqual(['MarkNodeRecovered']);
    // ...but nothing was heard from it, so it stays offline.
    expect(
      confirmedTransitions(fresh, (id) => d.directory.get(id), now, thresholds.suspectAfterMs),
    ).toEqual([]);
    d.beat('node-1', now - 200);
    expect(
      confirmedTransitions(fresh, (id) => d.directory.get(id), now, thresholds.suspectAfterMs).map(
        (t) => t.command,
      ),
    ).toEqual(['MarkNodeRecovered']);
  });

  it('records what it knew: the silence and the last heartbeat', () => {
    const cmd = transitionCommand(
      {
        nodeId: 'node-2',
        from: 'online',
        to: 'suspect',
        command: 'MarkNodeSuspect',
        silenceMs: 2050,
      },
      T0,
      T0 + 2050,
    );
    expect(cmd).toEqual({
      type: 'MarkNodeSuspect',
      data: { reason: 'no heartbeat for 2050 ms', lastHeartbeatAt: new Date(T0).toISOString() },
      metadata: { now: new Date(T0 + 2050).toISOString() },
    });
    expect(
      transitionCommand(
        { nodeId: 'n', from: 'offline', to: 'online', command: 'MarkNodeRecovered', silenceMs: 10 },
        T0,
        T0,
      ).type,
    ).toBe('MarkNodeRecovered');
  });
});

describe('drain completion input', () => {
  it('finds draining nodes with neither assignments nor reservations', () => {
    const d = new DirectoryDriver();
    d.register('node-1');
    d.register('node-2');
    d.assign('node-2', 'agent-1');
    d.run('node-2', { type: 'DrainNode', data: {} });
    expect(emptyDrainingNodes(d.directory.entries())).toEqual([]);
    // An older log: the last release did not record NodeDrained.
    d.directory.applyStored(
      {
        streamId: 'node-node-2',
        type: 'AgentReleased',
        data: {
          nodeId: 'node-2',
          agentId: 'agent-1',
          clusterId: 'cluster-a',
          reason: 'moved',
          at: 'x',
        },
        revision: d.directory.get('node-2')!.revision + 1n,
      },
      T0,
    );
    expect(emptyDrainingNodes(d.directory.entries())).toEqual(['node-2']);
    d.directory.reserve('node-2', {
      agentId: 'agent-9',
      clusterId: 'cluster-a',
      resources: { cpu: 0, memoryMb: 0 },
    });
    expect(emptyDrainingNodes(d.directory.entries())).toEqual([]);
  });
});

describe('reservation expiry', () => {
  const TTL = 30_000;
  const setup = () => {
    const d = new DirectoryDriver();
    d.register('node-1', { cpu: 16 });
    d.register('node-2', { cpu: 16 });
    for (const a of [
      'agent-lost',
      'agent-running',
      'agent-wanted',
      'agent-failed',
      'agent-moving',
      'agent-foreign',
    ])
      d.assign(a === 'agent-moving' ? 'node-2' : 'node-1', a);
    d.assign('node-1', 'agent-young', 'cluster-a', T0 + 25_000);
    return d;
  };

  it('asks for a confirmation only once an assignment is older than the TTL', () => {
    const d = setup();
    expect(
      agedAssignments(d.directory.entries(), T0 + 31_000, TTL).map((a) => a.agentId),
    ).not.toContain('agent-young');
    expect(agedAssignments(d.directory.entries(), T0 + 10_000, TTL)).toEqual([]);
  });

  it('keeps what the cluster places there, or what the node runs while the cluster still wants it; releases the rest', () => {
    const d = setup();
    const now = T0 + 31_000;
    d.beat('node-1', now - 500, ['agent-running', 'agent-failed', 'agent-foreign']);
    d.beat('node-2', now - 500, ['agent-moving']);
    const rows = new Map<string, ClusterAgentRow>([
      ['agent-wanted', { id: 'agent-wanted', node_id: 'node-1', state: 'idle' }],
      ['agent-failed', { id: 'agent-failed', node_id: 'node-1', state: 'failed' }],
      // Being moved make-before-break: the cluster still says node-1, node-2 already runs it.
      ['agent-moving', { id: 'agent-moving', node_id: 'node-1', state: 'idle' }],
      ['agent-lost', { id: 'agent-lost', node_id: 'node-1', state: 'stopped' }],
    ]);
    const expired = unconfirmed(
      agedAssignments(d.directory.entries(), now, TTL),
      d.directory,
      rows,
      now,
      3000,
    );
    expect(expired.map((a) => a.agentId).sort()).toEqual(['agent-failed', 'agent-lost']);
  });

  it("does not trust a node's report once its heartbeats are stale", () => {
    const d = setup();
    const now = T0 + 31_000;
    d.beat('node-1', now - 10_000, ['agent-running']);
    const expired = unconfirmed(
      agedAssignments(d.directory.entries(), now, TTL),
      d.directory,
      new Map(),
      now,
      3000,
    );
    expect(expired.map((a) => a.agentId)).toContain('agent-running');
  });
});
