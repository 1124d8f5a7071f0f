import { CLUSTER_TYPES, ScalingSchema } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint, ScalingPolicy } from '../blueprint/blueprint.types.js';
import { commandNow, type Decider } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError, type ValidationIssue } from '../errors.js';
import { idProblem, isValidId, parseId } from '../ids.js';
import { compact, isPlainJson } from '../json.js';
import type { ClusterCommand } from './cluster.commands.js';
import type { AgentStopRequested, ClusterEvent } from './cluster.events.js';
import { allDesiredRunning, desiredAgents, extraAgents, isDesiredSlot, isLive, slotKey } from './cluster.queries.js';
import {
  type AgentRecord,
  type CircuitStatus,
  type ClusterState,
  coreOf,
  type ExistingCluster,
  type ScalingOperation,
  type ScalingSource,
} from './cluster.state.js';

/**
 * The Cluster aggregate (stream `cluster-<id>`). `decide` validates a command against the folded
 * state and returns the events it causes, including the follow-on events an invariant implies
 * (the last agent starting activates the cluster; the last extra worker stopping completes a
 * scale-down). Facts recorded twice yield no events, so at-least-once callers can retry.
 */
export const initialState = (): ClusterState => ({ status: 'none' });

type Events = ClusterEvent[];

function invalid(issues: ValidationIssue[]): never {
  throw ValidationError.of(issues, 'command');
}

const violation = (rule: string, message: string, details: Record<string, unknown> = {}): RuleViolationError =>
  new RuleViolationError(rule, message, details);

function requireCluster(state: ClusterState): ExistingCluster {
  if (state.status === 'none') throw new NotFoundError('cluster does not exist', { kind: 'cluster' });
  return state;
}

/** Nothing but circuit and decision records happens to a cluster that is (being) decommissioned. */
function refuseEnded(state: ExistingCluster): void {
  if (state.status === 'decommissioned') throw violation('cluster_decommissioned', `cluster '${state.clusterId}' is decommissioned`);
  if (state.status === 'decommissioning') throw violation('cluster_decommissioning', `cluster '${state.clusterId}' is being decommissioned`);
}

function requireAgent(state: ExistingCluster, agentId: unknown): AgentRecord {
  if (typeof agentId !== 'string') invalid([{ path: 'agentId', message: idProblem('agent', agentId) }]);
  const agent = state.agents[agentId];
  if (!agent) throw violation('agent_unknown', `agent '${agentId}' is not part of cluster '${state.clusterId}'`, { agentId });
  return agent;
}

function requireNodeId(value: unknown, path: string): string {
  return parseId('node', value, path);
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function text(value: unknown, path: string, { optional = false, max = 1000 } = {}): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.length > max || (!optional && value.trim() === '')) {
    invalid([{ path, message: optional ? `expected a string of at most ${max} characters` : `expected a non-empty string of at most ${max} characters` }]);
  }
  return value;
}

/** Another live agent already holds this agent's slot (a replacement was spawned). */
function superseded(state: ExistingCluster, agent: AgentRecord): boolean {
  return Object.values(state.agents).some(
    (a) => a.agentId !== agent.agentId && isLive(a) && a.name === agent.name && a.ordinal === agent.ordinal,
  );
}

/** Applies events to a state (used to compute follow-ons against the state they produce). */
function applyAll(state: ClusterState, events: readonly ClusterEvent[]): ClusterState {
  return events.reduce(evolve, state);
}

/**
 * Appends the events the resulting state implies: completions of spawning, scaling, hibernation,
 * reactivation, recovery and decommissioning. Each moves the cluster to a status where the
 * check no longer fires, so one pass is enough.
 */
function settle(state: ClusterState, events: Events, at: string): Events {
  if (events.length === 0) return events;
  const next = applyAll(state, events);
  if (next.status === 'none') return events;
  return [...events, ...followOns(next, at)];
}

function followOns(s: ExistingCluster, at: string): Events {
  const noExtras = (): boolean => extraAgents(s).length === 0;
  switch (s.status) {
    case 'spawning':
      return allDesiredRunning(s) ? [{ type: 'ClusterActivated', data: { agents: desiredAgents(s).length, workers: s.targetWorkers, at } }] : [];
    case 'scaling_up':
    case 'scaling_down':
      return allDesiredRunning(s) && noExtras()
        ? [{ type: 'ClusterScaled', data: { from: s.scaling.from, to: s.scaling.to, direction: s.scaling.direction, at } }]
        : [];
    case 'reactivating':
      return allDesiredRunning(s) && noExtras() ? [{ type: 'ClusterReactivated', data: { workers: s.targetWorkers, at } }] : [];
    case 'hibernating':
      return noExtras() ? [{ type: 'ClusterHibernated', data: { at } }] : [];
    case 'degraded': {
      if (!allDesiredRunning(s) || !noExtras()) return [];
      const pending = s.pendingScale;
      return [
        ...(pending ? [{ type: 'ClusterScaled' as const, data: { from: pending.from, to: pending.to, direction: pending.direction, at } }] : []),
        { type: 'ClusterRecovered', data: { reason: 'every desired agent is running again', at } },
      ];
    }
    case 'decommissioning':
      return Object.values(s.agents).some(isLive) ? [] : [{ type: 'ClusterDecommissioned', data: { at } }];
    default:
      return [];
  }
}

/** A desired agent lost while the cluster was serving degrades it. */
function degradeIfNeeded(state: ExistingCluster, agent: AgentRecord, reason: string, at: string): Events {
  const serving = state.status === 'active' || state.status === 'scaling_up' || state.status === 'scaling_down';
  if (!serving || !isDesiredSlot(state, agent.name, agent.ordinal)) return [];
  return [{ type: 'ClusterDegraded', data: { reason, at } }];
}

function stopRequests(state: ClusterState, reason: string, at: string): AgentStopRequested[] {
  return extraAgents(state)
    .filter((a) => a.state !== 'stopping')
    .map((a) => ({ type: 'AgentStopRequested', data: { agentId: a.agentId, reason, nodeId: a.nodeId ?? null, at } }));
}

/** Scaling events from the current target to `to`: start, then stop requests for extra workers (newest first). */
function scaleEvents(
  state: ExistingCluster,
  to: number,
  reason: string,
  source: ScalingSource,
  inputs: Record<string, unknown> | undefined,
  at: string,
): Events {
  const from = state.targetWorkers;
  if (to === from) return [];
  const direction = to > from ? 'up' : 'down';
  const started: ClusterEvent = {
    type: 'ClusterScalingStarted',
    data: compact({ from, to, direction, reason, source, inputs: inputs as ScalingOperationInputs, at }),
  };
  const after = evolve(state, started);
  return [started, ...stopRequests(after, `scale ${direction} from ${from} to ${to} workers`, at)];
}
type ScalingOperationInputs = Extract<ClusterEvent, { type: 'ClusterScalingStarted' }>['data']['inputs'];

function checkBounds(state: ExistingCluster, target: number, min = state.minWorkers, max = state.maxWorkers): void {
  if (target < min) {
    throw violation('target_below_min', `target ${target} is below minWorkers ${min}`, { targetWorkers: target, minWorkers: min });
  }
  if (target > max) {
    throw violation('target_above_max', `target ${target} is above maxWorkers ${max}`, { targetWorkers: target, maxWorkers: max });
  }
}

function checkResolvedBlueprint(blueprint: unknown): ResolvedBlueprint {
  const b = blueprint as Partial<ResolvedBlueprint> | null;
  const ok =
    typeof b === 'object' &&
    b !== null &&
    typeof b.blueprintId === 'string' &&
    typeof b.version === 'string' &&
    typeof b.hash === 'string' &&
    typeof b.cluster === 'object' &&
    b.cluster !== null &&
    isInt(b.cluster.minWorkers) &&
    isInt(b.cluster.maxWorkers) &&
    isInt(b.cluster.targetWorkers) &&
    Array.isArray(b.agents) &&
    b.agents.filter((a) => a.role === 'supervisor').length === 1 &&
    isPlainJson(b);
  if (!ok) invalid([{ path: 'blueprint', message: 'expected a resolved blueprint (resolveBlueprint output)' }]);
  return b as ResolvedBlueprint;
}

const PolicyPatchSchema = ScalingSchema.extend({ hibernateWhenIdleSeconds: ScalingSchema.shape.hibernateWhenIdleSeconds.nullable() });

function mergePolicy(current: ScalingPolicy, patch: unknown): ScalingPolicy {
  const parsed = PolicyPatchSchema.safeParse(patch);
  if (!parsed.success) {
    invalid(parsed.error.issues.map((i) => ({ path: ['policy', ...i.path].join('.'), message: i.message })));
  }
  const merged: ScalingPolicy = { ...current, ...(parsed.data as Partial<ScalingPolicy>) };
  const issues: ValidationIssue[] = [];
  if (merged.queuePerWorkerDown >= merged.queuePerWorkerUp) {
    issues.push({ path: 'policy.queuePerWorkerDown', message: `the scale-down threshold (${merged.queuePerWorkerDown}) must be below the scale-up threshold (${merged.queuePerWorkerUp})` });
  }
  if (merged.cpuDown >= merged.cpuUp) {
    issues.push({ path: 'policy.cpuDown', message: `the scale-down CPU threshold (${merged.cpuDown}) must be below the scale-up threshold (${merged.cpuUp})` });
  }
  if (issues.length > 0) invalid(issues);
  return merged;
}

const CIRCUIT_EDGES: Readonly<Record<CircuitStatus, readonly CircuitStatus[]>> = {
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
};

const SCALABLE = new Set(['active', 'degraded', 'scaling_up', 'scaling_down']);

function refuseUnscalable(state: ExistingCluster): void {
  refuseEnded(state);
  if (state.status === 'hibernated') throw violation('cluster_hibernated', `cluster '${state.clusterId}' is hibernated; reactivate it first`);
  if (state.status === 'hibernating') throw violation('cluster_hibernating', `cluster '${state.clusterId}' is hibernating`);
  if (!SCALABLE.has(state.status)) {
    throw violation('cluster_not_ready', `cluster '${state.clusterId}' is ${state.status}; wait until it is active`, { status: state.status });
  }
}

export function decide(command: ClusterCommand, state: ClusterState): readonly ClusterEvent[] {
  const at = commandNow(command);
  switch (command.type) {
    case 'CreateCluster': {
      const d = command.data;
      if (state.status !== 'none') throw AlreadyExistsError.of('cluster', state.clusterId);
      const issues: ValidationIssue[] = [];
      if (!isValidId('cluster', d.clusterId)) issues.push({ path: 'clusterId', message: idProblem('cluster', d.clusterId) });
      if (!isValidId('tenant', d.tenantId)) issues.push({ path: 'tenantId', message: idProblem('tenant', d.tenantId) });
      if (typeof d.name !== 'string' || d.name.trim() === '' || d.name.length > 200) {
        issues.push({ path: 'name', message: 'expected a non-empty name of at most 200 characters' });
      }
      if (d.description !== undefined && (typeof d.description !== 'string' || d.description.length > 4000)) {
        issues.push({ path: 'description', message: 'expected a string of at most 4000 characters' });
      }
      if (d.type !== undefined && !(CLUSTER_TYPES as readonly string[]).includes(d.type)) {
        issues.push({ path: 'type', message: `expected one of ${CLUSTER_TYPES.join(', ')}` });
      }
      if (d.targetWorkers !== undefined && !(isInt(d.targetWorkers) && d.targetWorkers >= 0)) {
        issues.push({ path: 'targetWorkers', message: 'expected a non-negative integer' });
      }
      if (issues.length > 0) invalid(issues);
      const blueprint = checkResolvedBlueprint(d.blueprint);
      const { minWorkers, maxWorkers } = blueprint.cluster;
      const targetWorkers = d.targetWorkers ?? blueprint.cluster.targetWorkers;
      if (targetWorkers < minWorkers) throw violation('target_below_min', `target ${targetWorkers} is below minWorkers ${minWorkers}`);
      if (targetWorkers > maxWorkers) throw violation('target_above_max', `target ${targetWorkers} is above maxWorkers ${maxWorkers}`);
      return [
        {
          type: 'ClusterCreated',
          data: {
            clusterId: d.clusterId,
            tenantId: d.tenantId,
            name: d.name,
            description: d.description ?? blueprint.description,
            type: d.type ?? blueprint.cluster.type,
            blueprintId: blueprint.blueprintId,
            blueprintVersion: blueprint.version,
            blueprintHash: blueprint.hash,
            blueprint,
            minWorkers,
            targetWorkers,
            maxWorkers,
            policy: blueprint.cluster.scaling,
            backupCluster: blueprint.cluster.backupCluster,
            keepFixedAgents: blueprint.cluster.hibernation.keepFixedAgents,
            at,
          },
        },
      ];
    }

    case 'SpawnAgents': {
      const s = requireCluster(state);
      refuseEnded(s);
      const requested = command.data.agents;
      if (!Array.isArray(requested)) invalid([{ path: 'agents', message: 'expected an array of {agentId, name, ordinal}' }]);
      const issues: ValidationIssue[] = [];
      requested.forEach((a, i) => {
        if (!isValidId('agent', a?.agentId)) issues.push({ path: `agents[${i}].agentId`, message: idProblem('agent', a?.agentId) });
        if (typeof a?.name !== 'string') issues.push({ path: `agents[${i}].name`, message: 'expected the blueprint agent name' });
        if (!isInt(a?.ordinal) || a.ordinal < 0) issues.push({ path: `agents[${i}].ordinal`, message: 'expected a non-negative integer' });
      });
      if (issues.length > 0) invalid(issues);

      const desired = new Map(desiredAgents(s).map((d) => [slotKey(d.name, d.ordinal), d]));
      const held = new Map<string, string>();
      for (const a of Object.values(s.agents)) if (isLive(a)) held.set(slotKey(a.name, a.ordinal), a.agentId);
      const specs = new Map(s.blueprint.agents.map((a) => [a.name, a]));
      const events: Events = [];
      for (const { agentId, name, ordinal } of requested) {
        const existing = s.agents[agentId];
        if (existing) {
          // The same spawn retried: nothing new to record.
          if (existing.name === name && existing.ordinal === ordinal) continue;
          throw violation('agent_id_conflict', `agent id '${agentId}' is already used by ${existing.name}#${existing.ordinal}`, { agentId });
        }
        const key = slotKey(name, ordinal);
        const slot = desired.get(key);
        const spec = specs.get(name);
        if (!slot || !spec) {
          throw violation('agent_not_desired', `${key} is not an agent this cluster wants now (status ${s.status}, ${s.targetWorkers} workers)`, {
            agentId,
            name,
            ordinal,
          });
        }
        const holder = held.get(key);
        if (holder !== undefined) {
          throw violation('agent_slot_occupied', `${key} is already held by agent '${holder}'`, { agentId, holder });
        }
        held.set(key, agentId);
        events.push({
          type: 'AgentSpawned',
          data: {
            agentId,
            name,
            role: spec.role,
            ordinal,
            capabilities: spec.capabilities,
            runtime: spec.runtime,
            reportsTo: spec.reportsTo,
            specHash: spec.specHash,
            resources: spec.resources,
            at,
          },
        });
      }
      if (events.length > 0 && s.status === 'planning') {
        events.unshift({ type: 'ClusterSpawningStarted', data: { desiredAgents: desired.size, at } });
      }
      return settle(s, events, at);
    }

    case 'RecordAgentPlaced': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const nodeId = requireNodeId(command.data.nodeId, 'nodeId');
      if (agent.nodeId === nodeId && (agent.state === 'starting' || agent.state === 'idle')) return [];
      if (agent.state === 'stopping') throw violation('agent_stopping', `agent '${agent.agentId}' is being stopped`, { agentId: agent.agentId });
      if (agent.state === 'stopped') throw violation('agent_stopped', `agent '${agent.agentId}' is stopped`, { agentId: agent.agentId });
      if (agent.state === 'failed') throw violation('agent_not_pending', `agent '${agent.agentId}' failed; spawn a replacement or record a move`, { agentId: agent.agentId });
      if (agent.state !== 'pending') {
        throw violation('agent_already_placed', `agent '${agent.agentId}' is ${agent.state} on node '${agent.nodeId}'; record a move with RecordAgentReplaced`, {
          agentId: agent.agentId,
          nodeId: agent.nodeId,
        });
      }
      return settle(s, [{ type: 'AgentPlaced', data: { agentId: agent.agentId, nodeId, at } }], at);
    }

    case 'RecordAgentStarted': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const nodeId = requireNodeId(command.data.nodeId, 'nodeId');
      if (agent.state === 'idle' && agent.nodeId === nodeId) return [];
      if (agent.state === 'stopping') throw violation('agent_stopping', `agent '${agent.agentId}' is being stopped`, { agentId: agent.agentId });
      if (agent.state === 'stopped') throw violation('agent_stopped', `agent '${agent.agentId}' is stopped`, { agentId: agent.agentId });
      if (agent.state === 'failed' && superseded(s, agent)) {
        throw violation('agent_superseded', `agent '${agent.agentId}' failed and was replaced by another agent`, { agentId: agent.agentId });
      }
      // A pending agent reporting in adopts its node: the node agent may start it before the
      // orchestrator has recorded the placement (two services, two streams).
      if (agent.nodeId !== undefined && agent.nodeId !== nodeId && agent.state !== 'pending') {
        throw violation('agent_node_mismatch', `agent '${agent.agentId}' is placed on node '${agent.nodeId}', not '${nodeId}'`, {
          agentId: agent.agentId,
          nodeId: agent.nodeId,
        });
      }
      return settle(s, [{ type: 'AgentStarted', data: { agentId: agent.agentId, nodeId, at } }], at);
    }

    case 'RecordAgentFailed': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const reason = text(command.data.reason, 'reason') as string;
      if (agent.state === 'failed' || agent.state === 'stopped') return [];
      return settle(
        s,
        [
          { type: 'AgentFailed', data: { agentId: agent.agentId, reason, nodeId: agent.nodeId ?? null, at } },
          ...degradeIfNeeded(s, agent, `agent ${agent.name}#${agent.ordinal} failed: ${reason}`, at),
        ],
        at,
      );
    }

    case 'RecordAgentStopped': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const reason = text(command.data.reason, 'reason', { optional: true }) || (agent.state === 'stopping' ? (agent.reason ?? 'stop requested') : 'stopped');
      if (agent.state === 'stopped') return [];
      const unexpected = agent.state !== 'stopping' && agent.state !== 'failed';
      return settle(
        s,
        [
          { type: 'AgentStopped', data: { agentId: agent.agentId, reason, nodeId: agent.nodeId ?? null, at } },
          ...(unexpected ? degradeIfNeeded(s, agent, `agent ${agent.name}#${agent.ordinal} stopped unexpectedly`, at) : []),
        ],
        at,
      );
    }

    case 'RecordAgentOrphaned': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const nodeId = requireNodeId(command.data.nodeId, 'nodeId');
      if (agent.nodeId === undefined) {
        throw violation('agent_not_placed', `agent '${agent.agentId}' has no node to be orphaned from`, { agentId: agent.agentId });
      }
      // A report about a node the agent has already left, or about an agent that is gone, is stale.
      if (agent.nodeId !== nodeId || agent.state === 'orphaned' || !isLive(agent)) return [];
      if (agent.state === 'stopping') {
        // Its node is gone, and so is the agent: the stop is complete.
        return settle(s, [{ type: 'AgentStopped', data: { agentId: agent.agentId, reason: `node '${nodeId}' went offline while stopping`, nodeId, at } }], at);
      }
      return settle(
        s,
        [
          { type: 'AgentOrphaned', data: { agentId: agent.agentId, nodeId, at } },
          ...degradeIfNeeded(s, agent, `agent ${agent.name}#${agent.ordinal} orphaned: node '${nodeId}' is offline`, at),
        ],
        at,
      );
    }

    case 'RecordAgentReplaced': {
      const s = requireCluster(state);
      const agent = requireAgent(s, command.data.agentId);
      const fromNodeId = requireNodeId(command.data.fromNodeId, 'fromNodeId');
      const toNodeId = requireNodeId(command.data.toNodeId, 'toNodeId');
      if (fromNodeId === toNodeId) invalid([{ path: 'toNodeId', message: 'must differ from fromNodeId' }]);
      if (agent.nodeId === toNodeId && agent.state !== 'stopped') return [];
      if (agent.state === 'stopping') throw violation('agent_stopping', `agent '${agent.agentId}' is being stopped`, { agentId: agent.agentId });
      if (agent.state === 'stopped') throw violation('agent_stopped', `agent '${agent.agentId}' is stopped`, { agentId: agent.agentId });
      if (agent.nodeId === undefined) throw violation('agent_not_placed', `agent '${agent.agentId}' was never placed`, { agentId: agent.agentId });
      if (agent.nodeId !== fromNodeId) {
        throw violation('agent_node_mismatch', `agent '${agent.agentId}' is on node '${agent.nodeId}', not '${fromNodeId}'`, {
          agentId: agent.agentId,
          nodeId: agent.nodeId,
        });
      }
      if (agent.state === 'failed' && superseded(s, agent)) {
        throw violation('agent_superseded', `agent '${agent.agentId}' failed and was replaced by another agent`, { agentId: agent.agentId });
      }
      return settle(s, [{ type: 'AgentReplaced', data: { agentId: agent.agentId, fromNodeId, toNodeId, at } }], at);
    }

    case 'ScaleCluster': {
      const s = requireCluster(state);
      const { targetWorkers: to, source, inputs } = command.data;
      const issues: ValidationIssue[] = [];
      if (!isInt(to) || to < 0) issues.push({ path: 'targetWorkers', message: 'expected a non-negative integer' });
      if (source !== 'manual' && source !== 'autoscaler') issues.push({ path: 'source', message: "expected 'manual' or 'autoscaler'" });
      if (inputs !== undefined && !isPlainJson(inputs)) issues.push({ path: 'inputs', message: 'expected plain JSON' });
      if (issues.length > 0) invalid(issues);
      refuseUnscalable(s);
      checkBounds(s, to);
      const reason = text(command.data.reason, 'reason', { optional: true }) || `${source} scale to ${to} workers`;
      return settle(s, scaleEvents(s, to, reason, source, inputs, at), at);
    }

    case 'RecordScalingDecision': {
      const s = requireCluster(state);
      if (s.status === 'decommissioned') refuseEnded(s);
      const d = command.data;
      const decisions = ['up', 'down', 'hold', 'hibernate', 'wake'];
      const issues: ValidationIssue[] = [];
      if (!decisions.includes(d.decision)) issues.push({ path: 'decision', message: `expected one of ${decisions.join(', ')}` });
      if (d.target !== undefined && (!isInt(d.target) || d.target < 0)) issues.push({ path: 'target', message: 'expected a non-negative integer' });
      if (typeof d.reason !== 'string') issues.push({ path: 'reason', message: 'expected a sentence' });
      if (!isPlainJson(d.inputs) || typeof d.inputs !== 'object' || Array.isArray(d.inputs)) issues.push({ path: 'inputs', message: 'expected a plain JSON object' });
      if (issues.length > 0) invalid(issues);
      return [
        {
          type: 'ScalingDecided',
          data: {
            decision: d.decision,
            current: s.targetWorkers,
            target: d.target ?? s.targetWorkers,
            reason: d.reason,
            rule: d.rule ?? d.decision,
            inputs: d.inputs,
            at,
          },
        },
      ];
    }

    case 'HibernateCluster': {
      const s = requireCluster(state);
      refuseEnded(s);
      if (s.status === 'hibernating' || s.status === 'hibernated') return [];
      if (!SCALABLE.has(s.status)) {
        throw violation('cluster_not_ready', `cluster '${s.clusterId}' is ${s.status}; wait until it is active`, { status: s.status });
      }
      const reason = text(command.data.reason, 'reason', { optional: true }) || 'hibernation requested';
      const started: ClusterEvent = {
        type: 'ClusterHibernationStarted',
        data: { workersBefore: s.targetWorkers, keepFixedAgents: s.keepFixedAgents, reason, at },
      };
      return settle(s, [started, ...stopRequests(evolve(s, started), 'cluster hibernating', at)], at);
    }

    case 'ReactivateCluster': {
      const s = requireCluster(state);
      refuseEnded(s);
      if (s.status === 'reactivating') return [];
      if (s.status === 'hibernating') throw violation('cluster_hibernating', `cluster '${s.clusterId}' is still hibernating; reactivate once it is hibernated`);
      if (s.status !== 'hibernated') throw violation('cluster_not_hibernated', `cluster '${s.clusterId}' is ${s.status}, not hibernated`, { status: s.status });
      const base = s.lastTarget > 0 ? s.lastTarget : s.minWorkers;
      const target = Math.min(s.maxWorkers, Math.max(s.minWorkers, base));
      const reason = text(command.data.reason, 'reason', { optional: true }) || 'reactivation requested';
      return settle(s, [{ type: 'ClusterReactivationStarted', data: { target, reason, at } }], at);
    }

    case 'UpdateCluster': {
      const s = requireCluster(state);
      refuseEnded(s);
      const d = command.data;
      const issues: ValidationIssue[] = [];
      const name = d.name === undefined ? undefined : text(d.name, 'name', { max: 200 });
      const description = text(d.description, 'description', { optional: true, max: 4000 });
      for (const key of ['minWorkers', 'maxWorkers'] as const) {
        const v = d[key];
        if (v !== undefined && (!isInt(v) || v < 0 || v > 10_000)) issues.push({ path: key, message: 'expected an integer between 0 and 10000' });
      }
      if (issues.length > 0) invalid(issues);
      const min = d.minWorkers ?? s.minWorkers;
      const max = d.maxWorkers ?? s.maxWorkers;
      if (min > max) invalid([{ path: d.maxWorkers !== undefined ? 'maxWorkers' : 'minWorkers', message: `minWorkers (${min}) must not exceed maxWorkers (${max})` }]);
      if (max > 0 && !s.blueprint.agents.some((a) => a.role === 'worker')) {
        invalid([{ path: 'maxWorkers', message: 'the blueprint defines no worker agent; maxWorkers must stay 0' }]);
      }
      const policy = d.policy === undefined ? undefined : mergePolicy(s.policy, d.policy);
      const changes = compact({
        name: name !== undefined && name !== s.name ? name : undefined,
        description: description !== undefined && description !== s.description ? description : undefined,
        minWorkers: min !== s.minWorkers ? min : undefined,
        maxWorkers: max !== s.maxWorkers ? max : undefined,
        policy: policy !== undefined && JSON.stringify(policy) !== JSON.stringify(s.policy) ? policy : undefined,
      });
      if (Object.keys(changes).length === 0) return [];
      const updated: ClusterEvent = { type: 'ClusterUpdated', data: { changes, at } };
      const clamped = Math.min(max, Math.max(min, s.targetWorkers));
      if (clamped === s.targetWorkers || s.status === 'hibernated' || s.status === 'hibernating') return [updated];
      if (!SCALABLE.has(s.status)) {
        throw violation('target_outside_bounds', `cluster '${s.clusterId}' is ${s.status} with ${s.targetWorkers} workers; new bounds [${min}, ${max}] would move it`, {
          status: s.status,
        });
      }
      // New bounds that exclude the current target move it, exactly as a manual scale would.
      const after = evolve(s, updated) as ExistingCluster;
      return settle(s, [updated, ...scaleEvents(after, clamped, `bounds changed to [${min}, ${max}]`, 'manual', undefined, at)], at);
    }

    case 'MarkClusterDegraded': {
      const s = requireCluster(state);
      refuseEnded(s);
      const reason = text(command.data.reason, 'reason') as string;
      if (s.status === 'degraded') return [];
      // A serving cluster degrades when it loses agents; a spawning one when it does not come
      // up in time (the reconciler's spawn timeout), so the operator sees why it is not active.
      if (s.status !== 'active' && s.status !== 'scaling_up' && s.status !== 'scaling_down' && s.status !== 'spawning') {
        throw violation('cluster_not_active', `cluster '${s.clusterId}' is ${s.status}; only a serving or spawning cluster degrades`, { status: s.status });
      }
      return [{ type: 'ClusterDegraded', data: { reason, at } }];
    }

    case 'MarkClusterRecovered': {
      const s = requireCluster(state);
      refuseEnded(s);
      if (s.status === 'active') return [];
      if (s.status !== 'degraded') throw violation('cluster_not_degraded', `cluster '${s.clusterId}' is ${s.status}, not degraded`, { status: s.status });
      const events = followOns(s, at);
      if (events.length === 0) {
        throw violation('agents_not_running', `cluster '${s.clusterId}' cannot recover while desired agents are not running`);
      }
      const reason = text(command.data.reason, 'reason', { optional: true });
      return reason ? events.map((e) => (e.type === 'ClusterRecovered' ? { ...e, data: { ...e.data, reason } } : e)) : events;
    }

    case 'DecommissionCluster': {
      const s = requireCluster(state);
      if (s.status === 'decommissioning' || s.status === 'decommissioned') return [];
      const reason = text(command.data.reason, 'reason', { optional: true }) || 'decommission requested';
      const started: ClusterEvent = { type: 'ClusterDecommissionStarted', data: { reason, at } };
      return settle(s, [started, ...stopRequests(evolve(s, started), 'cluster decommissioning', at)], at);
    }

    case 'RecordCircuitBreakerTransition': {
      const s = requireCluster(state);
      if (s.status === 'decommissioned') refuseEnded(s);
      const { to } = command.data;
      if (!(to in CIRCUIT_EDGES)) invalid([{ path: 'to', message: 'expected closed, open or half_open' }]);
      const reason = text(command.data.reason, 'reason', { optional: true }) || `circuit ${to}`;
      if (s.circuit === to) return [];
      if (!CIRCUIT_EDGES[s.circuit].includes(to)) {
        throw violation('circuit_transition_invalid', `circuit breaker cannot go from ${s.circuit} to ${to}`, { from: s.circuit, to });
      }
      switch (to) {
        case 'open':
          return [{ type: 'CircuitBreakerOpened', data: { reason, backupCluster: s.backupCluster, at } }];
        case 'half_open':
          return [{ type: 'CircuitBreakerHalfOpened', data: { reason, at } }];
        case 'closed':
          return [{ type: 'CircuitBreakerClosed', data: { reason, at } }];
      }
      return [];
    }

    default: {
      const unknown: never = command;
      return invalid([{ path: 'type', message: `unknown cluster command ${JSON.stringify((unknown as { type: unknown }).type)}` }]);
    }
  }
}

function updateAgent(state: ExistingCluster, agentId: string, patch: Partial<AgentRecord>, at: string): ClusterState {
  const agent = state.agents[agentId];
  if (!agent) return state;
  return { ...state, agents: { ...state.agents, [agentId]: { ...agent, ...patch } }, updatedAt: at };
}

function scalingOf(state: ExistingCluster): ScalingOperation | null {
  return state.status === 'scaling_up' || state.status === 'scaling_down' ? state.scaling : null;
}

export function evolve(state: ClusterState, event: ClusterEvent): ClusterState {
  if (event.type === 'ClusterCreated') {
    const d = event.data;
    return {
      status: 'planning',
      clusterId: d.clusterId,
      tenantId: d.tenantId,
      name: d.name,
      description: d.description,
      type: d.type,
      blueprintId: d.blueprintId,
      blueprintVersion: d.blueprintVersion,
      blueprint: d.blueprint,
      minWorkers: d.minWorkers,
      targetWorkers: d.targetWorkers,
      maxWorkers: d.maxWorkers,
      lastTarget: d.targetWorkers,
      policy: d.policy,
      backupCluster: d.backupCluster,
      keepFixedAgents: d.keepFixedAgents,
      agents: {},
      circuit: 'closed',
      createdAt: d.at,
      updatedAt: d.at,
      lastScaleUpAt: null,
      lastScaleDownAt: null,
      lastManualScaleAt: null,
      lastDecision: null,
    };
  }
  if (state.status === 'none') return state;
  const at = event.data.at;
  const core = { ...coreOf(state), updatedAt: at };
  switch (event.type) {
    case 'ClusterSpawningStarted':
      return { ...core, status: 'spawning' };
    case 'AgentSpawned': {
      const d = event.data;
      const agent: AgentRecord = {
        agentId: d.agentId,
        name: d.name,
        role: d.role,
        ordinal: d.ordinal,
        capabilities: d.capabilities,
        runtime: d.runtime,
        reportsTo: d.reportsTo,
        specHash: d.specHash,
        resources: d.resources,
        state: 'pending',
        since: at,
      };
      return { ...state, agents: { ...state.agents, [d.agentId]: agent }, updatedAt: at };
    }
    case 'AgentPlaced':
      return updateAgent(state, event.data.agentId, { state: 'starting', nodeId: event.data.nodeId, since: at }, at);
    case 'AgentStarted':
      return updateAgent(state, event.data.agentId, { state: 'idle', nodeId: event.data.nodeId, since: at }, at);
    case 'AgentFailed':
      return updateAgent(state, event.data.agentId, { state: 'failed', since: at, reason: event.data.reason }, at);
    case 'AgentStopRequested':
      return updateAgent(state, event.data.agentId, { state: 'stopping', since: at, reason: event.data.reason }, at);
    case 'AgentStopped':
      return updateAgent(state, event.data.agentId, { state: 'stopped', since: at, reason: event.data.reason }, at);
    case 'AgentOrphaned':
      return updateAgent(state, event.data.agentId, { state: 'orphaned', since: at }, at);
    case 'AgentReplaced':
      return updateAgent(state, event.data.agentId, { state: 'starting', nodeId: event.data.toNodeId, since: at }, at);
    case 'ClusterActivated':
      return { ...core, status: 'active' };
    case 'ClusterScalingStarted': {
      const d = event.data;
      const scaling: ScalingOperation = { from: d.from, to: d.to, direction: d.direction, reason: d.reason, source: d.source, startedAt: at };
      return {
        ...core,
        status: d.direction === 'up' ? 'scaling_up' : 'scaling_down',
        scaling,
        targetWorkers: d.to,
        lastTarget: d.to > 0 ? d.to : core.lastTarget,
        lastScaleUpAt: d.direction === 'up' ? at : core.lastScaleUpAt,
        lastScaleDownAt: d.direction === 'down' ? at : core.lastScaleDownAt,
        lastManualScaleAt: d.source === 'manual' ? at : core.lastManualScaleAt,
      };
    }
    case 'ClusterScaled':
      return state.status === 'degraded' ? { ...state, pendingScale: null, updatedAt: at } : { ...core, status: 'active' };
    case 'ScalingDecided': {
      const d = event.data;
      return { ...state, lastDecision: { decision: d.decision, target: d.target, reason: d.reason, rule: d.rule, inputs: d.inputs, at }, updatedAt: at };
    }
    case 'ClusterHibernationStarted':
      return {
        ...core,
        status: 'hibernating',
        targetWorkers: 0,
        lastTarget: event.data.workersBefore > 0 ? event.data.workersBefore : core.lastTarget,
      };
    case 'ClusterHibernated':
      return { ...core, status: 'hibernated', hibernatedAt: at };
    case 'ClusterReactivationStarted':
      return {
        ...core,
        status: 'reactivating',
        targetWorkers: event.data.target,
        lastTarget: event.data.target > 0 ? event.data.target : core.lastTarget,
      };
    case 'ClusterReactivated':
      return { ...core, status: 'active' };
    case 'ClusterUpdated': {
      const c = event.data.changes;
      return {
        ...state,
        name: c.name ?? state.name,
        description: c.description ?? state.description,
        minWorkers: c.minWorkers ?? state.minWorkers,
        maxWorkers: c.maxWorkers ?? state.maxWorkers,
        policy: c.policy ?? state.policy,
        updatedAt: at,
      };
    }
    case 'ClusterDegraded':
      return { ...core, status: 'degraded', degradedReason: event.data.reason, degradedSince: at, pendingScale: scalingOf(state) };
    case 'ClusterRecovered':
      return { ...core, status: 'active' };
    case 'ClusterDecommissionStarted':
      return { ...core, status: 'decommissioning' };
    case 'ClusterDecommissioned':
      return { ...core, status: 'decommissioned', decommissionedAt: at };
    case 'CircuitBreakerOpened':
      return { ...state, circuit: 'open', updatedAt: at };
    case 'CircuitBreakerHalfOpened':
      return { ...state, circuit: 'half_open', updatedAt: at };
    case 'CircuitBreakerClosed':
      return { ...state, circuit: 'closed', updatedAt: at };
    default:
      return state;
  }
}

/** A cluster's events are its tenant's, whoever caused them (a node agent, the reconciler, an operator). */
export const tenantOf = (state: ClusterState): string | null => (state.status === 'none' ? null : state.tenantId);

export const clusterDecider: Decider<ClusterState, ClusterCommand, ClusterEvent> = { decide, evolve, initialState, tenantOf };
