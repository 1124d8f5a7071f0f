import { describe, expect, it } from '@jest/globals';
import { nodeAssignmentFeed } from '@flotilla/contracts';
import { eventSubject, EVENTS_STREAM } from '@flotilla/projections';
import { AssignmentBook } from './assignment-state.js';

const spec = {
  name: 'writer',
  role: 'worker',
  capabilities: [],
  runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 },
};
const assigned = (agentId: string) => ({
  type: 'AgentAssigned',
  data: {
    nodeId: 'node-1',
    agentId,
    clusterId: 'cluster-1',
    tenantId: 'acme',
    resources: { cpu: 1, memoryMb: 512 },
    agent: spec,
    at: '2026-03-01T10:00:00.000Z',
  },
});
const released = (agentId: string, reason = 'moved to node-2') => ({
  type: 'AgentReleased',
  data: {
    nodeId: 'node-1',
    agentId,
    clusterId: 'cluster-1',
    reason,
    at: '2026-03-01T10:00:01.000Z',
  },
});

describe('AssignmentBook', () => {
  it('folds assignments and releases in stream order, skipping what it has already seen', () => {
    const book = new AssignmentBook('node-1');
    expect(book.apply(3, assigned('agent-1'))).toMatchObject({
      kind: 'assigned',
      agent: { agentId: 'agent-1', clusterId: 'cluster-1', tenantId: 'acme', spec },
    });
    book.apply(5, assigned('agent-2'));
    expect(book.apply(8, released('agent-1'))).toEqual({
      kind: 'released',
      agentId: 'agent-1',
      reason: 'moved to node-2',
    });
    expect(book.releaseReason('agent-1')).toBe('moved to node-2');
    // A redelivery of an event already folded changes nothing.
    expect(book.apply(5, released('agent-2'))).toEqual({ kind: 'none' });
    expect(book.apply(9, { type: 'NodeSuspected', data: {} })).toEqual({ kind: 'none' });
    expect([...book.agents.keys()]).toEqual(['agent-2']);
    expect(book.lastSeq).toBe(9);
  });

  it('clears everything when the node is deregistered', () => {
    const book = new AssignmentBook('node-1');
    book.apply(1, assigned('agent-1'));
    book.apply(2, { type: 'NodeDeregistered', data: { reason: 'gone' } });
    expect(book.agents.size).toBe(0);
    expect(book.releaseReason('agent-1')).toBe('node deregistered');
  });

  it('round-trips through its local snapshot and rejects another node’s', () => {
    const book = new AssignmentBook('node-1');
    book.apply(4, assigned('agent-1'));
    const restored = AssignmentBook.restore(JSON.parse(JSON.stringify(book.snapshot())));
    expect(restored.lastSeq).toBe(4);
    expect([...restored.agents.values()]).toEqual([...book.agents.values()]);
    expect(AssignmentBook.isSnapshot(book.snapshot(), 'node-2')).toBe(false);
    expect(AssignmentBook.isSnapshot({ version: 2 }, 'node-1')).toBe(false);
  });

  it('listens on exactly the subjects the relay publishes a node’s events on', () => {
    expect(nodeAssignmentFeed.stream).toBe(EVENTS_STREAM);
    const filter = nodeAssignmentFeed.subject('node-1');
    const published = eventSubject({ streamId: 'node-node-1', type: 'AgentAssigned' });
    expect(published.startsWith(filter.slice(0, -1))).toBe(true);
    expect(
      eventSubject({ streamId: 'node-node-10', type: 'AgentAssigned' }).startsWith(
        filter.slice(0, -1),
      ),
    ).toBe(false);
  });
});
