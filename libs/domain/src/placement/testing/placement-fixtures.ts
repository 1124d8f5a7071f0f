import fc from 'fast-check';
import type { NodeStatus } from '../../node/node.state.js';
import type { NodeSnapshot, PlacementConstraints } from '../placement.types.js';
import { agent, node } from './builders.js';

export { agent, node };

const STATUSES: NodeStatus[] = ['online', 'online', 'online', 'online', 'suspect', 'offline', 'draining', 'cordoned'];

export const nodeArb: fc.Arbitrary<NodeSnapshot> = fc
  .record({
    status: fc.constantFrom(...STATUSES),
    standby: fc.boolean(),
    zone: fc.constantFrom('zone-a', 'zone-b', 'zone-c'),
    fast: fc.boolean(),
    db: fc.boolean(),
    cpu: fc.integer({ min: 1, max: 8 }),
    memoryMb: fc.constantFrom(1024, 2048, 4096, 8192),
    maxAgents: fc.integer({ min: 1, max: 8 }),
    usedShare: fc.constantFrom(0, 0, 0.25, 0.5),
    health: fc.record({ cpu: fc.integer({ min: 0, max: 100 }), memory: fc.integer({ min: 0, max: 100 }), disk: fc.integer({ min: 0, max: 100 }), load: fc.double({ min: 0, max: 20, noNaN: true }) }),
    priority: fc.integer({ min: 0, max: 3 }),
  })
  .map((x) => {
    const usedAgents = Math.floor(x.maxAgents * x.usedShare);
    return node('n', {
      status: x.status,
      role: x.standby ? 'standby' : 'worker',
      zone: x.zone,
      labels: { tier: x.fast ? 'fast' : 'slow' },
      services: x.db ? ['db', 'wrapper'] : ['wrapper'],
      capacity: { cpu: x.cpu, memoryMb: x.memoryMb, maxAgents: x.maxAgents },
      used: { cpu: x.cpu * x.usedShare, memoryMb: x.memoryMb * x.usedShare, agents: usedAgents },
      health: x.health,
      priority: x.priority,
    });
  });

export const nodesArb = fc.array(nodeArb, { minLength: 0, maxLength: 24 }).map((nodes) => nodes.map((n, i) => ({ ...n, nodeId: `node-${String(i).padStart(2, '0')}` })));

export const agentsArb = fc
  .array(
    fc.record({
      cluster: fc.constantFrom('cluster-a', 'cluster-b', 'cluster-c'),
      cpu: fc.constantFrom(0.25, 0.5, 1, 2),
      memoryMb: fc.constantFrom(128, 256, 512, 1024),
      db: fc.boolean(),
      fast: fc.boolean(),
    }),
    { maxLength: 60 },
  )
  .map((xs) =>
    xs.map((x, i) =>
      agent(`agent-${i}`, {
        clusterId: x.cluster,
        resources: { cpu: x.cpu, memoryMb: x.memoryMb },
        ...(x.db ? { requiredServices: ['db'] } : {}),
        ...(x.fast ? { requiredLabels: { tier: 'fast' } } : {}),
      }),
    ),
  );

export const constraintsArb: fc.Arbitrary<PlacementConstraints> = fc.record({
  zoneSpread: fc.boolean(),
  antiAffinity: fc.boolean(),
  maxPerZone: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }),
});
