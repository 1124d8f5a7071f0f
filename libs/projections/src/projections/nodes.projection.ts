import type { StoredEvent } from '@flotilla/eventstore';
import { NodeEntity, PlacementEntity, type NodeRow, type PlacementRow } from '../entities.js';
import { defineProjection, eventTime, streamParts } from '../projection.js';

type D = Record<string, unknown>;

/** Liveness events: a node that is not online shows that, whatever its administrative state. */
const LIVENESS_AFTER: Readonly<Record<string, 'suspect' | 'offline' | 'online'>> = {
  NodeSuspected: 'suspect',
  NodeWentOffline: 'offline',
  NodeRecovered: 'online',
};
/** Administrative events: what an online node shows. */
const ADMIN_AFTER: Readonly<Record<string, string>> = {
  NodeCordoned: 'cordoned',
  NodeUncordoned: 'active',
  NodeDrainStarted: 'draining',
  NodeDrained: 'drained',
};
const STATUS_EVENTS = [...Object.keys(LIVENESS_AFTER), ...Object.keys(ADMIN_AFTER), 'NodeDeregistered'];

function shown(liveness: string, admin: string): string {
  if (liveness !== 'online') return liveness;
  return admin === 'active' ? 'online' : admin;
}

/** The node event types that change what status a node shows. */
export const NODE_STATUS_EVENTS: ReadonlySet<string> = new Set(STATUS_EVENTS);

/**
 * A node's shown status (online, suspect, offline, cordoned, draining, drained, deregistered) and
 * administrative status after one of NODE_STATUS_EVENTS: liveness wins over administration.
 */
export function nodeStatusAfter(before: { status: string; adminStatus: string }, eventType: string): { status: string; adminStatus: string } {
  const liveness = before.status === 'suspect' || before.status === 'offline' ? before.status : 'online';
  if (eventType === 'NodeDeregistered') return { status: 'deregistered', adminStatus: before.adminStatus };
  if (eventType in LIVENESS_AFTER) return { status: shown(LIVENESS_AFTER[eventType]!, before.adminStatus), adminStatus: before.adminStatus };
  if (eventType in ADMIN_AFTER) {
    const adminStatus = ADMIN_AFTER[eventType]!;
    return { status: before.status === 'deregistered' ? before.status : shown(liveness, adminStatus), adminStatus };
  }
  return before;
}

/** One row per node: its spec, status and the agents assigned to it. */
export const nodesProjection = defineProjection<NodeRow>({
  name: 'cluster_nodes',
  entity: NodeEntity,
  primaryKey: 'id',
  handles: new Set(['NodeRegistered', 'NodeUpdated', 'AgentAssigned', 'AgentReleased', ...STATUS_EVENTS]),
  keyOf: (e: StoredEvent) => (e.streamId.startsWith('node-') ? streamParts(e.streamId).id : null),
  evolve(row, e) {
    const d = e.data as D;
    const at = eventTime(e);
    const position = e.position.toString();
    if (e.type === 'NodeRegistered') {
      return {
        id: String(d['nodeId']),
        tenantId: (d['tenantId'] as string | null) ?? null,
        hostname: String(d['hostname']),
        address: String(d['address']),
        region: String(d['region']),
        zone: String(d['zone']),
        labels: (d['labels'] ?? {}) as Record<string, string>,
        services: (d['services'] ?? []) as string[],
        capacity: (d['capacity'] ?? {}) as Record<string, number>,
        role: String(d['role']),
        priority: Number(d['priority'] ?? 0),
        status: 'online',
        adminStatus: 'active',
        statusReason: null,
        agents: row?.agents ?? [],
        registeredAt: at,
        updatedAt: at,
        position,
      } as NodeRow;
    }
    if (!row) return null;
    const next: NodeRow = { ...row, updatedAt: at, position };
    switch (e.type) {
      case 'NodeUpdated':
        Object.assign(next, d['changes'] ?? {});
        return next;
      case 'AgentAssigned':
        next.agents = [...new Set([...row.agents, String(d['agentId'])])];
        return next;
      case 'AgentReleased':
        next.agents = row.agents.filter((a) => a !== d['agentId']);
        return next;
      default: {
        Object.assign(next, nodeStatusAfter({ status: row.status, adminStatus: row.adminStatus ?? 'active' }, e.type));
        next.statusReason = typeof d['reason'] === 'string' ? d['reason'] : null;
        return next;
      }
    }
  },
});

/** Where each agent runs (or ran): the registry's assignments. */
export const placementsProjection = defineProjection<PlacementRow>({
  name: 'placements',
  entity: PlacementEntity,
  primaryKey: 'agentId',
  handles: new Set(['AgentAssigned', 'AgentReleased']),
  keyOf: (e) => (e.streamId.startsWith('node-') ? String(e.data['agentId']) : null),
  evolve(row, e) {
    const d = e.data as D;
    const at = eventTime(e);
    if (e.type === 'AgentAssigned') {
      return {
        agentId: String(d['agentId']),
        clusterId: String(d['clusterId']),
        nodeId: String(d['nodeId']),
        tenantId: (e.metadata.tenantId as string | undefined) ?? null,
        resources: (d['resources'] ?? {}) as Record<string, unknown>,
        status: 'assigned',
        assignedAt: at,
        releasedAt: null,
        position: e.position.toString(),
      } as PlacementRow;
    }
    // A release from a node the agent has already left (it was re-placed) changes nothing.
    if (!row || row.nodeId !== d['nodeId']) return row;
    return { ...row, status: 'released', releasedAt: at, position: e.position.toString() };
  },
});
