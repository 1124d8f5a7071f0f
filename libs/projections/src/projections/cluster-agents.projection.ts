import type { StoredEvent } from '@flotilla/eventstore';
import { ClusterAgentEntity, type ClusterAgentRow } from '../entities.js';
import { defineProjection, eventTime, streamParts } from '../projection.js';

type D = Record<string, unknown>;

const STATE_AFTER: Readonly<Record<string, string>> = {
  AgentPlaced: 'starting',
  AgentStarted: 'idle',
  AgentFailed: 'failed',
  AgentStopRequested: 'stopping',
  AgentStopped: 'stopped',
  AgentOrphaned: 'orphaned',
  AgentReplaced: 'starting',
};

/** One row per agent instance of a cluster, with its lifecycle state and node. */
export const clusterAgentsProjection = defineProjection<ClusterAgentRow>({
  name: 'cluster_agents',
  entity: ClusterAgentEntity,
  primaryKey: 'id',
  handles: new Set(['AgentSpawned', ...Object.keys(STATE_AFTER)]),
  keyOf: (e: StoredEvent) => (e.streamId.startsWith('cluster-') && typeof e.data['agentId'] === 'string' ? String(e.data['agentId']) : null),
  evolve(row, e) {
    const d = e.data as D;
    const at = eventTime(e);
    if (e.type === 'AgentSpawned') {
      return {
        id: String(d['agentId']),
        clusterId: streamParts(e.streamId).id,
        tenantId: String(e.metadata.tenantId),
        name: String(d['name']),
        role: String(d['role']),
        ordinal: Number(d['ordinal']),
        state: 'pending',
        nodeId: null,
        capabilities: (d['capabilities'] ?? []) as string[],
        runtime: (d['runtime'] ?? {}) as Record<string, unknown>,
        reportsTo: (d['reportsTo'] as string | null) ?? null,
        specHash: String(d['specHash']),
        blueprintVersion: typeof d['blueprintVersion'] === 'string' ? d['blueprintVersion'] : null,
        resources: (d['resources'] ?? {}) as Record<string, unknown>,
        reason: null,
        startedAt: null,
        stoppedAt: null,
        createdAt: at,
        updatedAt: at,
        position: e.position.toString(),
      } as ClusterAgentRow;
    }
    if (!row) return null;
    const next: ClusterAgentRow = { ...row, state: STATE_AFTER[e.type] ?? row.state, updatedAt: at, position: e.position.toString() };
    if (e.type === 'AgentReplaced') next.nodeId = String(d['toNodeId']);
    else if (typeof d['nodeId'] === 'string') next.nodeId = d['nodeId'];
    if (typeof d['reason'] === 'string') next.reason = d['reason'];
    // Agent-hours run from the first start to the stop (or failure): what it is billed for.
    if (e.type === 'AgentStarted' && !row.startedAt) next.startedAt = at;
    if ((e.type === 'AgentStopped' || e.type === 'AgentFailed') && row.startedAt && !row.stoppedAt) next.stoppedAt = at;
    return next;
  },
});
