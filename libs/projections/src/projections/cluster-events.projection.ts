import type { StoredEvent } from '@flotilla/eventstore';
import { ClusterEventEntity, type ClusterEventRow } from '../entities.js';
import { defineProjection, eventTime, streamParts } from '../projection.js';

export type Severity = 'debug' | 'info' | 'warning' | 'error';

const SEVERITY: Readonly<Record<string, Severity>> = {
  ScalingDecided: 'debug',
  AgentPlaced: 'debug',
  AgentAssigned: 'debug',
  AgentReleased: 'debug',
  AgentFailed: 'error',
  AgentOrphaned: 'warning',
  ClusterDegraded: 'error',
  CircuitBreakerOpened: 'error',
  CircuitBreakerHalfOpened: 'warning',
  BudgetExceeded: 'warning',
  NodeSuspected: 'warning',
  NodeWentOffline: 'error',
  NodeDrainStarted: 'warning',
  ClusterDecommissionStarted: 'warning',
};

export const severityOf = (type: string): Severity => SEVERITY[type] ?? 'info';
export const SEVERITIES: readonly Severity[] = ['debug', 'info', 'warning', 'error'];

/**
 * The audit trail: every event of the log, with its actor and a severity, findable by cluster
 * (node events that name a cluster, such as assignments, are filed under it too).
 */
export const clusterEventsProjection = defineProjection<ClusterEventRow>({
  name: 'cluster_events',
  entity: ClusterEventEntity,
  primaryKey: 'position',
  appendOnly: true,
  handles: { has: () => true } as unknown as ReadonlySet<string>,
  keyOf: (e: StoredEvent) => e.position.toString(),
  evolve(_row, e) {
    const { aggregate, id } = streamParts(e.streamId);
    const clusterId = aggregate === 'cluster' ? id : typeof e.data['clusterId'] === 'string' ? e.data['clusterId'] : null;
    return {
      position: e.position.toString(),
      eventId: e.id,
      streamId: e.streamId,
      revision: Number(e.revision),
      aggregate,
      aggregateId: id,
      clusterId,
      type: e.type,
      severity: severityOf(e.type),
      actor: String(e.metadata.actor ?? 'system'),
      tenantId: String(e.metadata.tenantId ?? 'default'),
      occurredAt: eventTime(e),
      data: e.data,
      metadata: { ...e.metadata },
    } as ClusterEventRow;
  },
});
