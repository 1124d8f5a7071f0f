import type { StoredEvent } from '@flotilla/eventstore';
import { ClusterEntity, type ClusterRow } from '../entities.js';
import { defineProjection, eventTime, streamParts } from '../projection.js';

type D = Record<string, unknown>;

const STATUS_AFTER: Readonly<Record<string, string>> = {
  ClusterSpawningStarted: 'spawning',
  ClusterActivated: 'active',
  ClusterScaled: 'active',
  ClusterHibernationStarted: 'hibernating',
  ClusterHibernated: 'hibernated',
  ClusterReactivationStarted: 'reactivating',
  ClusterReactivated: 'active',
  ClusterDegraded: 'degraded',
  ClusterDecommissionStarted: 'decommissioning',
  ClusterDecommissioned: 'decommissioned',
};

const CIRCUIT_AFTER: Readonly<Record<string, string>> = {
  CircuitBreakerOpened: 'open',
  CircuitBreakerHalfOpened: 'half_open',
  CircuitBreakerClosed: 'closed',
};

/** How many supervisor/lead/specialist instances the resolved blueprint asks for. */
function fixedAgentCount(blueprint: unknown): number {
  const agents = (blueprint as { agents?: { role: string; count: number }[] } | undefined)?.agents ?? [];
  return agents.filter((a) => a.role !== 'worker').reduce((n, a) => n + Number(a.count ?? 1), 0);
}

/** How often the metrics service snapshots the cluster (the blueprint's monitoring interval). */
function monitoringInterval(blueprint: unknown): number {
  const seconds = (blueprint as { cluster?: { monitoring?: { intervalSeconds?: number } } } | undefined)?.cluster?.monitoring?.intervalSeconds;
  return typeof seconds === 'number' && seconds > 0 ? seconds : 0;
}

/** One row per cluster: its lifecycle, bounds and policy (agent counts come from cluster_agents). */
const ROLLOUT_EVENTS = ['RolloutStarted', 'RolloutWaveStarted', 'RolloutWaveCompleted', 'RolloutPaused', 'RolloutResumed', 'RolloutFailed', 'RolloutCompleted'];

export const clustersProjection = defineProjection<ClusterRow>({
  name: 'clusters',
  entity: ClusterEntity,
  primaryKey: 'id',
  handles: new Set([
    'ClusterCreated',
    'ClusterUpdated',
    'ClusterScalingStarted',
    'ScalingDecided',
    'ClusterRecovered',
    ...Object.keys(STATUS_AFTER),
    ...Object.keys(CIRCUIT_AFTER),
    ...ROLLOUT_EVENTS,
  ]),
  keyOf: (e: StoredEvent) => (e.streamId.startsWith('cluster-') ? streamParts(e.streamId).id : null),
  evolve(row, e) {
    const d = e.data as D;
    const at = eventTime(e);
    const stamp = { updatedAt: at, revision: Number(e.revision), position: e.position.toString() };
    if (e.type === 'ClusterCreated') {
      return {
        id: String(d['clusterId']),
        tenantId: String(d['tenantId']),
        name: String(d['name']),
        description: String(d['description'] ?? ''),
        type: String(d['type']),
        status: 'planning',
        blueprintId: String(d['blueprintId']),
        blueprintVersion: String(d['blueprintVersion']),
        minWorkers: Number(d['minWorkers']),
        targetWorkers: Number(d['targetWorkers']),
        maxWorkers: Number(d['maxWorkers']),
        lastTarget: Number(d['targetWorkers']),
        keepFixedAgents: Boolean(d['keepFixedAgents']),
        ...fromBlueprint(d['blueprint']),
        lastScaleUpAt: null,
        lastScaleDownAt: null,
        policy: (d['policy'] ?? {}) as Record<string, unknown>,
        backupCluster: (d['backupCluster'] as string | null) ?? null,
        circuit: 'closed',
        degradedReason: null,
        lastDecision: null,
        rollout: null,
        createdAt: at,
        ...stamp,
      } as ClusterRow;
    }
    if (!row) return null;
    const next: ClusterRow = { ...row, ...stamp };
    switch (e.type) {
      case 'ClusterUpdated': {
        const c = (d['changes'] ?? {}) as D;
        if (c['name'] !== undefined) next.name = String(c['name']);
        if (c['description'] !== undefined) next.description = String(c['description']);
        if (c['minWorkers'] !== undefined) next.minWorkers = Number(c['minWorkers']);
        if (c['maxWorkers'] !== undefined) next.maxWorkers = Number(c['maxWorkers']);
        if (c['policy'] !== undefined) next.policy = c['policy'] as Record<string, unknown>;
        return next;
      }
      case 'RolloutStarted':
        // The cluster runs the new version's blueprint from now on (its agents follow in waves).
        next.blueprintVersion = String(d['toVersion']);
        Object.assign(next, fromBlueprint(d['blueprint']));
        next.rollout = rolloutAfter(null, e.type, d, at);
        return next;
      case 'RolloutWaveStarted':
      case 'RolloutWaveCompleted':
      case 'RolloutPaused':
      case 'RolloutResumed':
      case 'RolloutFailed':
      case 'RolloutCompleted':
        next.rollout = rolloutAfter(row.rollout ?? null, e.type, d, at);
        return next;
      case 'ClusterScalingStarted':
        next.status = d['direction'] === 'down' ? 'scaling_down' : 'scaling_up';
        if (d['direction'] === 'down') next.lastScaleDownAt = at;
        else next.lastScaleUpAt = at;
        next.targetWorkers = Number(d['to']);
        if (Number(d['to']) > 0) next.lastTarget = Number(d['to']);
        return next;
      case 'ScalingDecided':
        next.lastDecision = { ...d };
        return next;
      case 'ClusterHibernationStarted':
        next.status = 'hibernating';
        next.targetWorkers = 0;
        return next;
      case 'ClusterReactivationStarted':
        next.status = 'reactivating';
        next.targetWorkers = Number(d['target']);
        next.lastTarget = Number(d['target']);
        return next;
      case 'ClusterDegraded':
        next.status = 'degraded';
        next.degradedReason = String(d['reason'] ?? '');
        return next;
      case 'ClusterRecovered':
        next.status = 'active';
        next.degradedReason = null;
        return next;
      default:
        if (STATUS_AFTER[e.type]) next.status = STATUS_AFTER[e.type]!;
        if (CIRCUIT_AFTER[e.type]) next.circuit = CIRCUIT_AFTER[e.type]!;
        return next;
    }
  },
});

/** The cluster view's `rollout` after one of its events (the same fields the aggregate's state holds). */
function rolloutAfter(current: Record<string, unknown> | null, type: string, d: D, at: string | Date): Record<string, unknown> | null {
  const when = new Date(at).toISOString();
  if (type === 'RolloutStarted') {
    return {
      rollout: Number(d['rollout']),
      status: 'rolling',
      undo: Boolean(d['undo']),
      from_version: String(d['fromVersion']),
      to_version: String(d['toVersion']),
      max_surge: Number(d['maxSurge']),
      max_unavailable: Number(d['maxUnavailable']),
      pause_after: d['pauseAfter'] === null || d['pauseAfter'] === undefined ? null : Number(d['pauseAfter']),
      total: Array.isArray(d['slots']) ? d['slots'].length : 0,
      replaced: 0,
      waves: 0,
      current_wave: null,
      reason: String(d['reason'] ?? ''),
      started_at: when,
      updated_at: when,
      ended_at: null,
    };
  }
  if (!current) return null;
  const next: Record<string, unknown> = { ...current, updated_at: when };
  switch (type) {
    case 'RolloutWaveStarted': {
      const slots = (d['slots'] ?? []) as { slot: string; agentId: string; replaces: string; mode: string }[];
      next['waves'] = Number(d['wave']);
      next['current_wave'] = { wave: Number(d['wave']), started_at: when, slots: slots.map((x) => ({ slot: x.slot, agent_id: x.agentId, replaces: x.replaces, mode: x.mode })) };
      break;
    }
    case 'RolloutWaveCompleted':
      next['replaced'] = Number(current['replaced'] ?? 0) + Number(d['replaced'] ?? 0);
      next['current_wave'] = null;
      break;
    case 'RolloutPaused':
      next['status'] = 'paused';
      next['reason'] = String(d['reason'] ?? '');
      break;
    case 'RolloutResumed':
      next['status'] = 'rolling';
      next['reason'] = String(d['reason'] ?? '');
      break;
    case 'RolloutFailed':
      next['status'] = 'failed';
      next['reason'] = String(d['reason'] ?? '');
      next['current_wave'] = null;
      next['ended_at'] = when;
      break;
    case 'RolloutCompleted':
      next['status'] = 'completed';
      next['current_wave'] = null;
      next['ended_at'] = when;
      break;
  }
  return next;
}

/** What the row takes from the cluster's resolved blueprint (at creation, and at each rollout). */
function fromBlueprint(blueprint: unknown): Pick<ClusterRow, 'fixedAgents' | 'monitoringIntervalS' | 'pricing' | 'budgets'> {
  return { fixedAgents: fixedAgentCount(blueprint), monitoringIntervalS: monitoringInterval(blueprint), pricing: pricingOf(blueprint), budgets: budgetsOf(blueprint) };
}

/** The resolved blueprint's pricing, or null. */
function pricingOf(blueprint: unknown): Record<string, unknown> | null {
  const pricing = (blueprint as { cluster?: { pricing?: Record<string, unknown> } } | undefined)?.cluster?.pricing;
  return pricing ?? null;
}

/** The resolved blueprint's budgets, or null. */
function budgetsOf(blueprint: unknown): Record<string, unknown>[] | null {
  const budgets = (blueprint as { cluster?: { budgets?: Record<string, unknown>[] } } | undefined)?.cluster?.budgets;
  return budgets?.length ? budgets : null;
}
