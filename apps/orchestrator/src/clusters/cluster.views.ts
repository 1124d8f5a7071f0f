import type { AgentView, ClusterView, EventView, RolloutView } from '@flotilla/contracts';
import { agentCounts, redactRuntime, redactRuntimeSecrets, type ExistingCluster, type Rollout } from '@flotilla/domain';
import {
  desiredAgentsOf,
  type ClusterAgentRow,
  type ClusterEventRow,
  type ClusterRow,
} from '@flotilla/projections';

export interface AgentCounts {
  readonly running: number;
  readonly runningWorkers: number;
}

const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

export function clusterViewFromRow(
  row: ClusterRow,
  counts: AgentCounts,
  healthScore: number | null,
): ClusterView {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    description: row.description,
    type: row.type as ClusterView['type'],
    status: row.status as ClusterView['status'],
    blueprint_id: row.blueprintId,
    blueprint_version: row.blueprintVersion,
    min_workers: row.minWorkers,
    max_workers: row.maxWorkers,
    target_workers: row.targetWorkers,
    current_workers: counts.runningWorkers,
    desired_agents: desiredAgentsOf(row),
    running_agents: counts.running,
    health_score: healthScore,
    circuit: row.circuit as ClusterView['circuit'],
    degraded_reason: row.degradedReason ?? null,
    backup_cluster: row.backupCluster ?? null,
    policy: row.policy,
    rollout: (row.rollout as RolloutView | null | undefined) ?? null,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

/** The same view, from the aggregate's state (what a command reply shows without waiting). */
export function clusterViewFromState(
  state: ExistingCluster,
  healthScore: number | null,
): ClusterView {
  const counts = agentCounts(state);
  return {
    id: state.clusterId,
    tenant_id: state.tenantId,
    name: state.name,
    description: state.description,
    type: state.type,
    status: state.status,
    blueprint_id: state.blueprintId,
    blueprint_version: state.blueprintVersion,
    min_workers: state.minWorkers,
    max_workers: state.maxWorkers,
    target_workers: state.targetWorkers,
    current_workers: counts.runningWorkers,
    desired_agents: counts.desired,
    running_agents: counts.running,
    health_score: healthScore,
    circuit: state.circuit,
    degraded_reason: state.status === 'degraded' ? state.degradedReason : null,
    backup_cluster: state.backupCluster,
    policy: { ...state.policy },
    rollout: state.rollout ? rolloutViewOf(state.rollout) : null,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
  };
}

/** The aggregate's rollout in the view's shape (the read model writes the same from the events). */
export function rolloutViewOf(r: Rollout): RolloutView {
  return {
    rollout: r.rollout,
    status: r.status,
    undo: r.undo,
    from_version: r.fromVersion,
    to_version: r.toVersion,
    max_surge: r.maxSurge,
    max_unavailable: r.maxUnavailable,
    pause_after: r.pauseAfter,
    total: r.total,
    replaced: r.replaced,
    waves: r.waves,
    current_wave: r.current
      ? { wave: r.current.wave, started_at: r.current.startedAt, slots: r.current.slots.map((x) => ({ slot: x.slot, agent_id: x.agentId, replaces: x.replaces, mode: x.mode })) }
      : null,
    reason: r.reason,
    started_at: r.startedAt,
    updated_at: r.updatedAt,
    ended_at: r.endedAt,
  };
}

const ROLE_RANK: Readonly<Record<string, number>> = { supervisor: 0, lead: 1, specialist: 2, worker: 3 };

/** The order agents are listed in: by role down the hierarchy, then name, ordinal, age, id (in place). */
export function sortAgents<R extends { id: string; role: string; name: string; ordinal: number; createdAt: Date }>(rows: R[]): R[] {
  return rows.sort(
    (a, b) =>
      (ROLE_RANK[a.role] ?? 9) - (ROLE_RANK[b.role] ?? 9) ||
      a.name.localeCompare(b.name) ||
      a.ordinal - b.ordinal ||
      new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime() ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

export function agentViewFromRow(row: ClusterAgentRow): AgentView {
  return {
    id: row.id,
    cluster_id: row.clusterId,
    name: row.name,
    role: row.role as AgentView['role'],
    ordinal: row.ordinal,
    state: row.state as AgentView['state'],
    node_id: row.nodeId ?? null,
    capabilities: row.capabilities,
    // Header values and URL credentials stay with the node agents (the log), never in a view.
    runtime: redactRuntime(row.runtime),
    reports_to: row.reportsTo ?? null,
    spec_hash: row.specHash,
    blueprint_version: row.blueprintVersion ?? null,
    reason: row.reason ?? null,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export function eventViewFromRow(row: ClusterEventRow): EventView {
  return {
    id: row.eventId,
    position: String(row.position),
    type: row.type,
    stream: row.streamId,
    cluster_id: row.clusterId ?? null,
    severity: row.severity as EventView['severity'],
    actor: row.actor,
    tenant_id: row.tenantId,
    occurred_at: iso(row.occurredAt),
    // Events carry blueprints and agent specs: their runtime secrets are withheld here too.
    data: redactRuntimeSecrets(row.data),
    metadata: row.metadata,
  };
}
