import type { EventMetadata, NewEvent } from '@flotilla/eventstore';

export const meta = (actor = 'alice', tenantId = 'acme'): EventMetadata => ({
  tenantId,
  actor,
  correlationId: 'corr-1',
  causationId: null,
  traceparent: null,
  schemaVersion: 1,
});

const at = (n: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, n)).toISOString();

export function clusterLifecycle(clusterId: string, workers = 2): NewEvent[][] {
  const m = meta();
  const created: NewEvent = {
    type: 'ClusterCreated',
    metadata: m,
    data: {
      at: at(0),
      clusterId,
      tenantId: 'acme',
      name: `Cluster ${clusterId}`,
      description: 'test',
      type: 'team',
      blueprintId: 'marketing-v1',
      blueprintVersion: '1.0.0',
      blueprintHash: 'h',
      blueprint: { agents: [{ name: 'lead', role: 'supervisor', count: 1 }, { name: 'worker', role: 'worker', count: 1 }] },
      minWorkers: 1,
      targetWorkers: workers,
      maxWorkers: 10,
      policy: { enabled: true },
      backupCluster: null,
      keepFixedAgents: true,
    },
  };
  const agents = ['sup', ...Array.from({ length: workers }, (_, i) => `w${i}`)];
  const spawned: NewEvent[] = agents.map((a, i) => ({
    type: 'AgentSpawned',
    metadata: m,
    data: {
      at: at(1),
      agentId: `${clusterId}-${a}`,
      name: a === 'sup' ? 'lead' : 'worker',
      role: a === 'sup' ? 'supervisor' : 'worker',
      ordinal: i,
      capabilities: ['write'],
      runtime: { kind: 'builtin', handler: 'echo' },
      reportsTo: a === 'sup' ? null : 'lead',
      specHash: 'abc',
      resources: { cpu: 0.1, memoryMb: 64 },
    },
  }));
  const placed: NewEvent[] = agents.map((a) => ({ type: 'AgentPlaced', metadata: m, data: { at: at(2), agentId: `${clusterId}-${a}`, nodeId: 'node-1' } }));
  const started: NewEvent[] = agents.map((a) => ({ type: 'AgentStarted', metadata: m, data: { at: at(3), agentId: `${clusterId}-${a}`, nodeId: 'node-1' } }));
  const activated: NewEvent = { type: 'ClusterActivated', metadata: m, data: { at: at(4), agents: agents.length, workers } };
  const scaling: NewEvent = {
    type: 'ClusterScalingStarted',
    metadata: meta('bob'),
    data: { at: at(5), from: workers, to: workers + 1, direction: 'up', reason: 'manual', source: 'manual' },
  };
  const updated: NewEvent = { type: 'ClusterUpdated', metadata: meta('bob'), data: { at: at(6), changes: { name: 'Renamed', maxWorkers: 12 } } };
  return [[created, { type: 'ClusterSpawningStarted', metadata: m, data: { at: at(0), desiredAgents: agents.length } }], spawned, placed, started, [activated], [scaling], [updated]];
}

export function nodeEvents(nodeId: string): NewEvent[][] {
  const m = meta('node-agent', 'acme');
  return [
    [
      {
        type: 'NodeRegistered',
        metadata: m,
        data: {
          at: at(0),
          nodeId,
          tenantId: null,
          hostname: `${nodeId}.local`,
          address: '127.0.0.2',
          region: 'local',
          zone: 'zone-a',
          labels: { gpu: 'false' },
          services: ['llm'],
          capacity: { cpu: 4, memoryMb: 8192, maxAgents: 10 },
          role: 'worker',
          priority: 100,
        },
      },
    ],
    [{ type: 'AgentAssigned', metadata: m, data: { at: at(1), nodeId, agentId: 'a-1', clusterId: 'c-1', resources: { cpu: 0.5, memoryMb: 128 } } }],
    [{ type: 'NodeSuspected', metadata: m, data: { at: at(2), reason: 'no heartbeat for 2 s', lastHeartbeatAt: at(0) } }],
    [{ type: 'NodeWentOffline', metadata: m, data: { at: at(3), reason: 'no heartbeat for 3 s', lastHeartbeatAt: at(0), agentIds: ['a-1'] } }],
    [{ type: 'AgentReleased', metadata: m, data: { at: at(4), nodeId, agentId: 'a-1', clusterId: 'c-1', reason: 'node offline' } }],
  ];
}
