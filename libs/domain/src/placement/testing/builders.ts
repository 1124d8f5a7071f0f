import type { NodeSnapshot, PlacementRequest } from '../placement.types.js';

/** A healthy, empty worker node; override what a test cares about. */
export function node(nodeId: string, overrides: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    nodeId,
    status: 'online',
    role: 'worker',
    zone: 'zone-a',
    labels: {},
    services: [],
    capacity: { cpu: 8, memoryMb: 16_384, maxAgents: 10 },
    used: { cpu: 0, memoryMb: 0, agents: 0 },
    health: { cpu: 10, memory: 10, disk: 10, load: 0.5 },
    priority: 0,
    ...overrides,
  };
}

export function agent(agentId: string, overrides: Partial<PlacementRequest> = {}): PlacementRequest {
  return { agentId, clusterId: 'cluster-a', role: 'worker', resources: { cpu: 0.5, memoryMb: 512 }, ...overrides };
}
