import { resolveBlueprint, type Blueprint, type ClusterEvent } from '@flotilla/domain';

/**
 * A long cluster history as autoscaling writes it: a cluster created and activated, then cycles
 * of one worker scaled up (spawned, placed, started) and back down (stop requested, stopped),
 * with the autoscaler's decision before each, on two nodes in turn; every tenth cycle the new
 * worker fails once and is replaced on the other node. Literal events with a clock that ticks a
 * second per event, for the fold's tests and the history benchmark.
 */
export function churnHistory(opts: { clusterId: string; tenantId?: string; events: number; start?: Date }): ClusterEvent[] {
  const blueprint: Blueprint = {
    apiVersion: 'flotilla/v1',
    kind: 'Blueprint',
    metadata: { id: 'churn-v1', name: 'Churn', version: '1.0.0' },
    cluster: { type: 'team', minWorkers: 1, targetWorkers: 1, maxWorkers: 4 },
    agents: [
      { name: 'boss', role: 'supervisor', runtime: { kind: 'builtin', handler: 'echo' } },
      { name: 'hand', role: 'worker', reportsTo: 'boss', runtime: { kind: 'builtin', handler: 'echo' } },
    ],
  };
  const resolved = resolveBlueprint(blueprint);
  let clock = (opts.start ?? new Date('2026-11-01T00:00:00Z')).getTime();
  const at = () => new Date((clock += 1000)).toISOString();
  const out: ClusterEvent[] = [];
  const spec = (name: string) => resolved.agents.find((a) => a.name === name)!;
  const spawn = (agentId: string, name: string, ordinal: number): ClusterEvent => {
    const s = spec(name);
    return {
      type: 'AgentSpawned',
      data: { agentId, name, role: s.role, ordinal, capabilities: s.capabilities, runtime: s.runtime, reportsTo: s.reportsTo, specHash: s.specHash, resources: s.resources, at: at() },
    };
  };
  const node = (i: number) => (i % 2 === 0 ? 'node-a' : 'node-b');
  out.push({
    type: 'ClusterCreated',
    data: {
      clusterId: opts.clusterId,
      tenantId: opts.tenantId ?? 'default',
      name: 'churn',
      description: '',
      type: 'team',
      blueprintId: resolved.blueprintId,
      blueprintVersion: resolved.version,
      blueprintHash: resolved.hash,
      blueprint: resolved,
      minWorkers: 1,
      targetWorkers: 1,
      maxWorkers: 4,
      policy: resolved.cluster.scaling,
      backupCluster: null,
      keepFixedAgents: true,
      at: at(),
    },
  });
  out.push({ type: 'ClusterSpawningStarted', data: { desiredAgents: 2, at: at() } });
  for (const [id, name, ordinal] of [['boss-0', 'boss', 0], ['hand-0', 'hand', 0]] as const) {
    out.push(spawn(id, name, ordinal), { type: 'AgentPlaced', data: { agentId: id, nodeId: 'node-a', at: at() } }, { type: 'AgentStarted', data: { agentId: id, nodeId: 'node-a', at: at() } });
  }
  out.push({ type: 'ClusterActivated', data: { agents: 2, workers: 1, at: at() } });
  const decided = (decision: 'up' | 'down', current: number, target: number): ClusterEvent => ({
    type: 'ScalingDecided',
    data: { decision, current, target, reason: `queue ${decision === 'up' ? 'above' : 'below'} threshold`, rule: `queue_${decision}`, inputs: { queue_depth: decision === 'up' ? 40 : 0 }, at: at() },
  });
  for (let cycle = 0; out.length < opts.events; cycle++) {
    const id = `hand-c${cycle}`;
    const n = node(cycle);
    out.push(
      decided('up', 1, 2),
      { type: 'ClusterScalingStarted', data: { from: 1, to: 2, direction: 'up', reason: 'queue above threshold', source: 'autoscaler', at: at() } },
      spawn(id, 'hand', 1),
      { type: 'AgentPlaced', data: { agentId: id, nodeId: n, at: at() } },
    );
    if (cycle % 10 === 9) {
      const other = node(cycle + 1);
      out.push(
        { type: 'AgentFailed', data: { agentId: id, reason: 'runtime exited', nodeId: n, at: at() } },
        { type: 'AgentReplaced', data: { agentId: id, fromNodeId: n, toNodeId: other, at: at() } },
        { type: 'AgentStarted', data: { agentId: id, nodeId: other, at: at() } },
      );
    } else {
      out.push({ type: 'AgentStarted', data: { agentId: id, nodeId: n, at: at() } });
    }
    out.push(
      { type: 'ClusterScaled', data: { from: 1, to: 2, direction: 'up', at: at() } },
      decided('down', 2, 1),
      { type: 'ClusterScalingStarted', data: { from: 2, to: 1, direction: 'down', reason: 'queue below threshold', source: 'autoscaler', at: at() } },
      { type: 'AgentStopRequested', data: { agentId: id, reason: 'scaled down', nodeId: null, at: at() } },
      { type: 'AgentStopped', data: { agentId: id, reason: 'scaled down', nodeId: null, at: at() } },
      { type: 'ClusterScaled', data: { from: 2, to: 1, direction: 'down', at: at() } },
    );
  }
  return out.slice(0, opts.events);
}
