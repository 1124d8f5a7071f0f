import { describe, expect, it } from '@jest/globals';
import { place } from '../placement.js';
import type { PlaceInput } from '../placement.types.js';
import { agent, node } from './builders.js';
import { naivePlace } from './naive-placement.js';

// Two places where place() departed from its contracts, found when the reference stopped
// importing it; both fail on place() before it was fixed.

describe('place() and the specification', () => {
  // One node with 1 CPU and two agent slots. a-1 needs all the CPU: refused, 0.75 CPU left. Then
  // a-2 takes the last slot, so when a-3 (same cluster, same class as a-1) comes, the slots bind.
  const stale: PlaceInput = {
    nodes: [node('n1', { capacity: { cpu: 1, memoryMb: 1024, maxAgents: 2 } })],
    agents: [
      agent('a-0', { resources: { cpu: 0.25, memoryMb: 128 } }),
      agent('a-1', { resources: { cpu: 1, memoryMb: 1024 } }),
      agent('a-2', { resources: { cpu: 0.25, memoryMb: 128 } }),
      agent('a-3', { resources: { cpu: 1, memoryMb: 1024 } }),
    ],
    strategy: 'least-loaded',
  };
  const refusalOfA3 = {
    agentId: 'a-3',
    reason: 'insufficient_capacity',
    constraint: 'agent_slots',
    message: 'no matching node has a free agent slot: the one matching node is at its max_agents (2 of 2 slots taken)',
  };

  it('the reference refuses a later agent with the constraint that binds then, not the first refusal of its class', () => {
    expect(naivePlace(stale).unplaced).toEqual([
      { agentId: 'a-1', reason: 'insufficient_capacity', constraint: 'cpu', message: 'no matching node has 1 CPU free (the most any has is 0.75)' },
      refusalOfA3,
    ]);
  });
  it('place() does too (it repeated the first refusal: cpu, "the most any has is 0.75", with 0.5 CPU and no slot left)', () => {
    expect(place(stale).unplaced[1]).toEqual(refusalOfA3);
  });

  const idle: PlaceInput = { nodes: [node('node-00')], agents: [], strategy: 'round-robin', cursor: 'node-03' };
  it('the reference returns the cursor it was given when round-robin assigns nothing', () => {
    expect(naivePlace(idle).cursor).toBe('node-03');
  });
  it("place() does too (it returned 'node-00', the last node at or before the cursor)", () => {
    expect(place(idle).cursor).toBe('node-03');
  });
});
