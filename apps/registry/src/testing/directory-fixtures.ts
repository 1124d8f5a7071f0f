import type { PlacementAgent, PlaceRequest } from '@flotilla/contracts';
import { nodeDecider, type NodeCommand, type NodeEvent } from '@flotilla/domain';
import { NodeDirectory } from '../nodes/node-directory.js';

export const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** Drives a directory the way the log would: decide each command on the folded state and apply its events. */
export class DirectoryDriver {
  readonly directory = new NodeDirectory();
  private readonly revisions = new Map<string, bigint>();

  run(nodeId: string, command: Omit<NodeCommand, 'metadata'>, atMs = T0): NodeEvent[] {
    const entry = this.directory.get(nodeId);
    const events = nodeDecider.decide(
      { ...command, metadata: { now: iso(atMs) } } as NodeCommand,
      entry?.state ?? nodeDecider.initialState(),
    );
    for (const e of events) {
      const revision = (this.revisions.get(nodeId) ?? -1n) + 1n;
      this.revisions.set(nodeId, revision);
      this.directory.applyStored(
        {
          streamId: `node-${nodeId}`,
          type: e.type,
          data: e.data as unknown as Record<string, unknown>,
          revision,
        },
        atMs,
      );
    }
    return [...events];
  }

  register(
    nodeId: string,
    opts: { zone?: string; cpu?: number; maxAgents?: number; role?: 'worker' | 'standby' } = {},
  ): void {
    this.run(nodeId, {
      type: 'RegisterNode',
      data: {
        nodeId,
        hostname: nodeId,
        address: '127.0.0.1',
        region: 'local',
        zone: opts.zone ?? 'zone-a',
        capacity: { cpu: opts.cpu ?? 4, memoryMb: 8192, maxAgents: opts.maxAgents ?? 10 },
        role: opts.role ?? 'worker',
        priority: 100,
      },
    });
  }

  assign(nodeId: string, agentId: string, clusterId = 'cluster-a', atMs = T0): void {
    this.run(
      nodeId,
      { type: 'PlaceAgent', data: { agentId, clusterId, resources: { cpu: 1, memoryMb: 512 } } },
      atMs,
    );
  }

  beat(nodeId: string, atMs: number, agents: string[] = []): void {
    this.directory.heartbeat(
      nodeId,
      {
        sentAtMs: atMs,
        cpuPercent: 10,
        memoryPercent: 20,
        diskPercent: 30,
        loadAvg: 0.5,
        cores: 4,
        agents: agents.map((a) => ({ agentId: a, clusterId: 'cluster-a', state: 'idle' })),
      },
      atMs,
    );
  }
}

export const placementAgent = (id: string, cpu = 1): PlacementAgent => ({
  agent_id: id,
  name: 'worker',
  role: 'worker',
  capabilities: [],
  runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 },
  resources: { cpu, memory_mb: 512 },
});

export const placeRequest = (
  clusterId: string,
  ids: string[],
  extra: Partial<PlaceRequest> = {},
): PlaceRequest => ({
  cluster_id: clusterId,
  tenant_id: 'default',
  constraints: {
    required_services: [],
    required_labels: {},
    zone_spread: false,
    anti_affinity: false,
  },
  agents: ids.map((id) => placementAgent(id)),
  keep_source: false,
  ...extra,
});
