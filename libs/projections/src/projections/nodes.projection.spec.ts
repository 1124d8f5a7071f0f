import { describe, expect, it } from '@jest/globals';
import type { StoredEvent } from '@flotilla/eventstore';
import type { NodeRow } from '../entities.js';
import { nodesProjection } from './nodes.projection.js';

let position = 0n;
const event = (type: string, data: Record<string, unknown> = {}): StoredEvent => ({
  id: `e${++position}`,
  type,
  streamId: 'node-node-a',
  revision: position - 1n,
  position,
  occurredAt: new Date(Date.UTC(2026, 10, 25, 0, 0, Number(position))),
  data: { at: new Date(Date.UTC(2026, 10, 25, 0, 0, Number(position))).toISOString(), ...data },
  metadata: {} as StoredEvent['metadata'],
});

const replay = (...types: string[]): NodeRow | null => {
  let row: NodeRow | null = null;
  for (const e of [
    event('NodeRegistered', { nodeId: 'node-a', hostname: 'h', address: '127.0.0.1', region: 'r', zone: 'z', role: 'worker' }),
    ...types.map((t) => event(t, { reason: t })),
  ])
    row = nodesProjection.evolve(row, e) as NodeRow | null;
  return row;
};

describe('nodes projection status', () => {
  it('shows liveness while the node is not online, and its administrative state once it is', () => {
    expect(replay('NodeCordoned')?.status).toBe('cordoned');
    expect(replay('NodeCordoned', 'NodeSuspected')?.status).toBe('suspect');
    expect(replay('NodeCordoned', 'NodeWentOffline', 'NodeRecovered')?.status).toBe('cordoned');
    expect(replay('NodeDrainStarted', 'NodeWentOffline', 'NodeRecovered')?.status).toBe('draining');
    expect(replay('NodeWentOffline', 'NodeCordoned')?.status).toBe('offline');
    expect(replay('NodeWentOffline', 'NodeCordoned', 'NodeRecovered')?.status).toBe('cordoned');
    expect(replay('NodeCordoned', 'NodeUncordoned')?.status).toBe('online');
    expect(replay('NodeSuspected', 'NodeRecovered')?.status).toBe('online');
    expect(replay('NodeDrainStarted', 'NodeDrained')).toMatchObject({ status: 'drained', adminStatus: 'drained' });
    expect(replay('NodeDrainStarted', 'NodeDeregistered')?.status).toBe('deregistered');
  });
});
