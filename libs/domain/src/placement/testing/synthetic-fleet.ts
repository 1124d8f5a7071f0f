import { createPrng, type Seed } from '../../random.js';
import type { NodeSnapshot, PlacementRequest } from '../placement.types.js';
import { node } from './builders.js';

/**
 * A large, seeded synthetic fleet for the benchmark: `nodes` nodes over 10 zones (5 % standby,
 * 2 % offline or cordoned, a quarter offering a GPU service, half labelled tier=fast, up to a
 * quarter full already) and `agents` agents in clusters of 100, in three resource sizes, one
 * cluster in ten needing the GPU service and one in ten the fast tier.
 */
export function syntheticFleet(nodes: number, agents: number, seed: Seed = 'bench'): { nodes: NodeSnapshot[]; agents: PlacementRequest[] } {
  const prng = createPrng(seed);
  const fleet: NodeSnapshot[] = [];
  for (let i = 0; i < nodes; i++) {
    const cpu = [8, 16, 32][prng.nextInt(3)] as number;
    const maxAgents = cpu * 2;
    const usedAgents = prng.nextInt(Math.floor(maxAgents / 4));
    const r = prng.next();
    fleet.push(
      node(`node-${String(i).padStart(6, '0')}`, {
        status: r < 0.01 ? 'offline' : r < 0.02 ? 'cordoned' : 'online',
        role: prng.next() < 0.05 ? 'standby' : 'worker',
        zone: `zone-${prng.nextInt(10)}`,
        labels: { tier: prng.next() < 0.5 ? 'fast' : 'standard' },
        services: prng.next() < 0.25 ? ['gpu', 'wrapper'] : ['wrapper'],
        capacity: { cpu, memoryMb: cpu * 4096, maxAgents },
        used: { cpu: usedAgents * 0.5, memoryMb: usedAgents * 1024, agents: usedAgents },
        health: { cpu: prng.nextInt(100), memory: prng.nextInt(100), disk: prng.nextInt(90), load: prng.next() * cpu * 2 },
        priority: prng.nextInt(3),
      }),
    );
  }
  const sizes = [
    { cpu: 0.25, memoryMb: 256 },
    { cpu: 0.5, memoryMb: 1024 },
    { cpu: 1, memoryMb: 2048 },
  ];
  const requests: PlacementRequest[] = [];
  for (let i = 0; i < agents; i++) {
    const cluster = Math.floor(i / 100);
    const kind = cluster % 10;
    requests.push({
      agentId: `agent-${String(i).padStart(7, '0')}`,
      clusterId: `cluster-${cluster}`,
      role: 'worker',
      resources: sizes[cluster % 3] as { cpu: number; memoryMb: number },
      ...(kind === 1 ? { requiredServices: ['gpu'] } : {}),
      ...(kind === 2 ? { requiredLabels: { tier: 'fast' } } : {}),
    });
  }
  return { nodes: fleet, agents: requests };
}
