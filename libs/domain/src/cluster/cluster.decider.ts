import type { z } from 'zod';
import type { ResolvedAgent, ResolvedBlueprint, ScalingPolicy } from '../blueprint/blueprint.types.js';
import { commandNow, type Decider } from '../decider.js';
import { AlreadyExistsError, NotFoundError, RuleViolationError, ValidationError, type ValidationIssue } from '../errors.js';
import { compact } from '../json.js';
import { checkCrossing } from '../cost/cost.js';
import type { ClusterCommand } from './cluster.commands.js';
import type { AgentStopRequested, ClusterEvent } from './cluster.events.js';
import { allDesiredRunning, desiredAgents, extraAgents, isDesiredSlot, isLive, SERVING_STATUSES, slotKey } from './cluster.queries.js';
import * as S from './cluster.schemas.js';
import { nextWave, rolloutDone, rolloutRunning, slotsToReplace, specForSlot, unreplacedSlots, waveOutcome } from './rollout.js';
import { parseCommandData, ScalingPolicyPatchSchema } from './cluster.schemas.js';
import {
  type AgentRecord,
  type CircuitStatus,
  type ClusterState,
  coreOf,
  type ExistingCluster,
  type Rollout,
  type ScalingOperation,
  type ScalingSource,
} from './cluster.state.js';

/**
 * The Cluster aggregate (stream `cluster-<id>`). `decide` validates a command against the folded
 * state and returns the events it causes, including the follow-on events an invariant implies
 * (the last agent starting activates the cluster; the last extra worker stopping completes a
 * scale-down). Facts recorded twice yield no events, so at-least-once callers can retry.
 *
 * One function per command, each given its data already parsed by the command's schema
 * (`cluster.schemas.ts`); `decide` only dispatches.
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

/** A cluster that exists and is not (being) decommissioned. */
function requireLiveCluster(state: ClusterState): ExistingCluster {
  const s = requireCluster(state);
  refuseEnded(s);
  return s;
}

function requireAgent(state: ExistingCluster, agentId: string): AgentRecord {
  const agent = state.agents[agentId];
  if (!agent) throw violation('agent_unknown', `agent '${agentId}' is not part of cluster '${state.clusterId}'`, { agentId });
  return agent;
}

function refuseStoppingOrStopped(agent: AgentRecord): void {
  if (agent.state === 'stopping') throw violation('agent_stopping', `agent '${agent.agentId}' is being stopped`, { agentId: agent.agentId });
  if (agent.state === 'stopped') throw violation('agent_stopped', `agent '${agent.agentId}' is stopped`, { agentId: agent.agentId });
}

/** Another live agent already holds this agent's slot (a replacement was spawned). */
function superseded(state: ExistingCluster, agent: AgentRecord): boolean {
  return Object.values(state.agents).some(
    (a) => a.agentId !== agent.agentId && isLive(a) && a.name === agent.name && a.ordinal === agent.ordinal,
  );
}

/** A failed agent whose slot a replacement holds is not coming back. */
function refuseSuperseded(state: ExistingCluster, agent: AgentRecord): void {
  if (agent.state === 'failed' && superseded(state, agent)) {
    throw violation('agent_superseded', `agent '${agent.agentId}' failed and was replaced by another agent`, { agentId: agent.agentId });
  }
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
  const status = followOns(next, at);
  const after = applyAll(next, status) as ExistingCluster;
  const rollout = rolloutFollowOns(after, at);
  if (rollout.length === 0) return [...events, ...status];
  // The rollout's stops may complete a status change (a scale-down waiting for its extras) in turn.
  return [...events, ...status, ...rollout, ...followOns(applyAll(after, rollout) as ExistingCluster, at)];
}

/**
 * What the rollout's state implies: a wave whose new agents all run completes (its old agents are
 * released), one whose new agent failed fails the rollout (its other new agents are released, the
 * old ones keep serving), and a rollout with nothing left completes or pauses where it was asked to.
 */
function rolloutFollowOns(s: ExistingCluster, at: string): Events {
  const r = s.rollout;
  if (!r) return [];
  const outcome = waveOutcome(s);
  if (outcome?.kind === 'failed' && r.current) {
    const failed: ClusterEvent = { type: 'RolloutFailed', data: { rollout: r.rollout, wave: r.current.wave, agentId: outcome.agent.agentId, reason: outcome.reason, at } };
    const stops = r.current.slots
      .map((slot) => s.agents[slot.agentId])
      .filter((a): a is AgentRecord => a !== undefined && isLive(a) && a.state !== 'stopping')
      .map((a) => stopRequest(a, `rollout ${r.rollout} failed in wave ${r.current!.wave}: the agent it started is not kept`, at));
    return [failed, ...stops];
  }
  const events: Events = [];
  let after: ExistingCluster = s;
  if (outcome?.kind === 'completed' && r.current) {
    const wave = r.current;
    const replaced = wave.slots.map((slot) => s.agents[slot.replaces]).filter((a): a is AgentRecord => a !== undefined && isLive(a));
    const stops = replaced
      .filter((a) => a.state !== 'stopping')
      .map((a) => {
        const by = wave.slots.find((slot) => slot.replaces === a.agentId)!.agentId;
        return stopRequest(a, `replaced by agent '${by}' running version ${s.blueprintVersion} (rollout ${r.rollout}, wave ${wave.wave})`, at);
      });
    const done: ClusterEvent = { type: 'RolloutWaveCompleted', data: { rollout: r.rollout, wave: wave.wave, replaced: wave.slots.length, remaining: 0, at } };
    after = applyAll(s, [done, ...stops]) as ExistingCluster;
    const remaining = unreplacedSlots(after).length;
    events.push({ ...done, data: { ...done.data, remaining } } as ClusterEvent, ...stops);
  }
  const rr = after.rollout!;
  if (rolloutDone(after)) {
    events.push({ type: 'RolloutCompleted', data: { rollout: rr.rollout, version: after.blueprintVersion, waves: rr.waves, replaced: rr.replaced, at } });
  } else if (outcome?.kind === 'completed' && rr.status === 'rolling' && rr.pauseAfter !== null && rr.waves === rr.pauseAfter) {
    events.push({ type: 'RolloutPaused', data: { rollout: rr.rollout, wave: rr.waves, reason: `paused after wave ${rr.waves}, as asked (pause_after ${rr.pauseAfter}): resume to go on, undo to roll back`, at } });
  }
  return events;
}

const stopRequest = (a: AgentRecord, reason: string, at: string): AgentStopRequested => ({
  type: 'AgentStopRequested',
  data: { agentId: a.agentId, reason, nodeId: a.nodeId ?? null, at },
});

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
  // A slot another live agent still holds (a rollout's old or new agent) is not lost.
  if (!SERVING_STATUSES.has(state.status) || !isDesiredSlot(state, agent.name, agent.ordinal) || superseded(state, agent)) return [];
  return [{ type: 'ClusterDegraded', data: { reason, at } }];
}

function stopRequests(state: ClusterState, reason: string, at: string): AgentStopRequested[] {
  return extraAgents(state)
    .filter((a) => a.state !== 'stopping')
    .map((a) => stopRequest(a, reason, at));
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

function mergePolicy(current: ScalingPolicy, patch: z.output<typeof ScalingPolicyPatchSchema>): ScalingPolicy {
  const merged: ScalingPolicy = { ...current, ...(patch as Partial<ScalingPolicy>) };
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

/** Statuses in which a cluster's worker count may change. */
const SCALABLE = new Set<ClusterState['status']>([...SERVING_STATUSES, 'degraded']);

function refuseUnready(state: ExistingCluster): void {
  if (!SCALABLE.has(state.status)) {
    throw violation('cluster_not_ready', `cluster '${state.clusterId}' is ${state.status}; wait until it is active`, { status: state.status });
  }
}

function refuseUnscalable(state: ExistingCluster): void {
  refuseEnded(state);
  if (state.status === 'hibernated') throw violation('cluster_hibernated', `cluster '${state.clusterId}' is hibernated; reactivate it first`);
  if (state.status === 'hibernating') throw violation('cluster_hibernating', `cluster '${state.clusterId}' is hibernating`);
  refuseUnready(state);
}

type Data<S extends z.ZodType> = z.output<S>;

export function createCluster(state: ClusterState, d: Data<typeof S.CreateClusterData>, at: string): Events {
  if (state.status !== 'none') throw AlreadyExistsError.of('cluster', state.clusterId);
  const blueprint = d.blueprint;
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

export function spawnAgents(state: ClusterState, d: Data<typeof S.SpawnAgentsData>, at: string): Events {
  const s = requireLiveCluster(state);
  const desired = new Map(desiredAgents(s).map((slot) => [slotKey(slot.name, slot.ordinal), slot]));
  const held = new Map<string, string>();
  for (const a of Object.values(s.agents)) if (isLive(a)) held.set(slotKey(a.name, a.ordinal), a.agentId);
  const events: Events = [];
  for (const { agentId, name, ordinal } of d.agents) {
    const existing = s.agents[agentId];
    if (existing) {
      // The same spawn retried: nothing new to record.
      if (existing.name === name && existing.ordinal === ordinal) continue;
      throw violation('agent_id_conflict', `agent id '${agentId}' is already used by ${existing.name}#${existing.ordinal}`, { agentId });
    }
    const key = slotKey(name, ordinal);
    const found = specForSlot(s, name, ordinal);
    if (!desired.has(key) || !found) {
      throw violation('agent_not_desired', `${key} is not an agent this cluster wants now (status ${s.status}, ${s.targetWorkers} workers)`, {
        agentId,
        name,
        ordinal,
      });
    }
    const holder = held.get(key);
    if (holder !== undefined) throw violation('agent_slot_occupied', `${key} is already held by agent '${holder}'`, { agentId, holder });
    held.set(key, agentId);
    events.push(agentSpawned(agentId, found.spec, ordinal, found.version, undefined, at));
  }
  if (events.length > 0 && s.status === 'planning') {
    events.unshift({ type: 'ClusterSpawningStarted', data: { desiredAgents: desired.size, at } });
  }
  return settle(s, events, at);
}

function agentSpawned(agentId: string, spec: ResolvedAgent, ordinal: number, blueprintVersion: string, replaces: string | undefined, at: string): ClusterEvent {
  const { name, role, capabilities, runtime, reportsTo, specHash, resources } = spec;
  return { type: 'AgentSpawned', data: { agentId, name, role, ordinal, capabilities, runtime, reportsTo, specHash, resources, blueprintVersion, ...(replaces ? { replaces } : {}), at } };
}

export function recordAgentPlaced(state: ClusterState, d: Data<typeof S.RecordAgentPlacedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  const { nodeId } = d;
  if (agent.nodeId === nodeId && (agent.state === 'starting' || agent.state === 'idle')) return [];
  refuseStoppingOrStopped(agent);
  if (agent.state === 'failed') throw violation('agent_not_pending', `agent '${agent.agentId}' failed; spawn a replacement or record a move`, { agentId: agent.agentId });
  if (agent.state !== 'pending') {
    throw violation('agent_already_placed', `agent '${agent.agentId}' is ${agent.state} on node '${agent.nodeId}'; record a move with RecordAgentReplaced`, {
      agentId: agent.agentId,
      nodeId: agent.nodeId,
    });
  }
  return settle(s, [{ type: 'AgentPlaced', data: { agentId: agent.agentId, nodeId, at } }], at);
}

export function recordAgentStarted(state: ClusterState, d: Data<typeof S.RecordAgentStartedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  const { nodeId } = d;
  if (agent.state === 'idle' && agent.nodeId === nodeId) return [];
  refuseStoppingOrStopped(agent);
  refuseSuperseded(s, agent);
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

export function recordAgentFailed(state: ClusterState, d: Data<typeof S.RecordAgentFailedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  if (agent.state === 'failed' || agent.state === 'stopped') return [];
  const { reason } = d;
  return settle(
    s,
    [
      { type: 'AgentFailed', data: { agentId: agent.agentId, reason, nodeId: agent.nodeId ?? null, at } },
      ...degradeIfNeeded(s, agent, `agent ${agent.name}#${agent.ordinal} failed: ${reason}`, at),
    ],
    at,
  );
}

export function recordAgentStopped(state: ClusterState, d: Data<typeof S.RecordAgentStoppedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  if (agent.state === 'stopped') return [];
  const reason = d.reason || (agent.state === 'stopping' ? (agent.reason ?? 'stop requested') : 'stopped');
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

export function recordAgentOrphaned(state: ClusterState, d: Data<typeof S.RecordAgentOrphanedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  const { nodeId } = d;
  if (agent.nodeId === undefined) throw violation('agent_not_placed', `agent '${agent.agentId}' has no node to be orphaned from`, { agentId: agent.agentId });
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

export function recordAgentReplaced(state: ClusterState, d: Data<typeof S.RecordAgentReplacedData>, at: string): Events {
  const s = requireCluster(state);
  const agent = requireAgent(s, d.agentId);
  const { fromNodeId, toNodeId } = d;
  if (agent.nodeId === toNodeId && agent.state !== 'stopped') return [];
  refuseStoppingOrStopped(agent);
  if (agent.nodeId === undefined) throw violation('agent_not_placed', `agent '${agent.agentId}' was never placed`, { agentId: agent.agentId });
  if (agent.nodeId !== fromNodeId) {
    throw violation('agent_node_mismatch', `agent '${agent.agentId}' is on node '${agent.nodeId}', not '${fromNodeId}'`, {
      agentId: agent.agentId,
      nodeId: agent.nodeId,
    });
  }
  refuseSuperseded(s, agent);
  return settle(s, [{ type: 'AgentReplaced', data: { agentId: agent.agentId, fromNodeId, toNodeId, at } }], at);
}

export function scaleCluster(state: ClusterState, d: Data<typeof S.ScaleClusterData>, at: string): Events {
  const s = requireCluster(state);
  const { targetWorkers: to, source, inputs } = d;
  refuseUnscalable(s);
  checkBounds(s, to);
  const reason = d.reason || `${source} scale to ${to} workers`;
  return settle(s, scaleEvents(s, to, reason, source, inputs, at), at);
}

export function recordScalingDecision(state: ClusterState, d: Data<typeof S.RecordScalingDecisionData>, at: string): Events {
  const s = requireCluster(state);
  if (s.status === 'decommissioned') refuseEnded(s);
  const { decision, reason, inputs } = d;
  return [
    { type: 'ScalingDecided', data: { decision, current: s.targetWorkers, target: d.target ?? s.targetWorkers, reason, rule: d.rule ?? decision, inputs, at } },
  ];
}

export function hibernateCluster(state: ClusterState, d: Data<typeof S.HibernateClusterData>, at: string): Events {
  const s = requireCluster(state);
  refuseEnded(s);
  if (s.status === 'hibernating' || s.status === 'hibernated') return [];
  refuseUnready(s);
  const started: ClusterEvent = {
    type: 'ClusterHibernationStarted',
    data: { workersBefore: s.targetWorkers, keepFixedAgents: s.keepFixedAgents, reason: d.reason || 'hibernation requested', at },
  };
  return settle(s, [started, ...stopRequests(evolve(s, started), 'cluster hibernating', at)], at);
}

export function reactivateCluster(state: ClusterState, d: Data<typeof S.ReactivateClusterData>, at: string): Events {
  const s = requireCluster(state);
  refuseEnded(s);
  if (s.status === 'reactivating') return [];
  if (s.status === 'hibernating') throw violation('cluster_hibernating', `cluster '${s.clusterId}' is still hibernating; reactivate once it is hibernated`);
  if (s.status !== 'hibernated') throw violation('cluster_not_hibernated', `cluster '${s.clusterId}' is ${s.status}, not hibernated`, { status: s.status });
  const base = s.lastTarget > 0 ? s.lastTarget : s.minWorkers;
  const target = Math.min(s.maxWorkers, Math.max(s.minWorkers, base));
  return settle(s, [{ type: 'ClusterReactivationStarted', data: { target, reason: d.reason || 'reactivation requested', at } }], at);
}

export function updateCluster(state: ClusterState, d: Data<typeof S.UpdateClusterData>, at: string): Events {
  const s = requireCluster(state);
  refuseEnded(s);
  const min = d.minWorkers ?? s.minWorkers;
  const max = d.maxWorkers ?? s.maxWorkers;
  if (min > max) invalid([{ path: d.maxWorkers !== undefined ? 'maxWorkers' : 'minWorkers', message: `minWorkers (${min}) must not exceed maxWorkers (${max})` }]);
  if (max > 0 && !s.blueprint.agents.some((a) => a.role === 'worker')) {
    invalid([{ path: 'maxWorkers', message: 'the blueprint defines no worker agent; maxWorkers must stay 0' }]);
  }
  const policy = d.policy === undefined ? undefined : mergePolicy(s.policy, d.policy);
  const changes = compact({
    name: d.name !== undefined && d.name !== s.name ? d.name : undefined,
    description: d.description !== undefined && d.description !== s.description ? d.description : undefined,
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

export function markClusterDegraded(state: ClusterState, d: Data<typeof S.MarkClusterDegradedData>, at: string): Events {
  const s = requireCluster(state);
  refuseEnded(s);
  if (s.status === 'degraded') return [];
  // A serving cluster degrades when it loses agents; a spawning one when it does not come
  // up in time (the reconciler's spawn timeout), so the operator sees why it is not active.
  if (!SERVING_STATUSES.has(s.status) && s.status !== 'spawning') {
    throw violation('cluster_not_active', `cluster '${s.clusterId}' is ${s.status}; only a serving or spawning cluster degrades`, { status: s.status });
  }
  return [{ type: 'ClusterDegraded', data: { reason: d.reason, at } }];
}

export function markClusterRecovered(state: ClusterState, d: Data<typeof S.MarkClusterRecoveredData>, at: string): Events {
  const s = requireCluster(state);
  refuseEnded(s);
  if (s.status === 'active') return [];
  if (s.status !== 'degraded') throw violation('cluster_not_degraded', `cluster '${s.clusterId}' is ${s.status}, not degraded`, { status: s.status });
  const events = followOns(s, at);
  if (events.length === 0) throw violation('agents_not_running', `cluster '${s.clusterId}' cannot recover while desired agents are not running`);
  const { reason } = d;
  return reason ? events.map((e) => (e.type === 'ClusterRecovered' ? { ...e, data: { ...e.data, reason } } : e)) : events;
}

export function decommissionCluster(state: ClusterState, d: Data<typeof S.DecommissionClusterData>, at: string): Events {
  const s = requireCluster(state);
  if (s.status === 'decommissioning' || s.status === 'decommissioned') return [];
  const started: ClusterEvent = { type: 'ClusterDecommissionStarted', data: { reason: d.reason || 'decommission requested', at } };
  return settle(s, [started, ...stopRequests(evolve(s, started), 'cluster decommissioning', at)], at);
}

const CIRCUIT_EDGES: Readonly<Record<CircuitStatus, readonly CircuitStatus[]>> = {
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
};

export function recordCircuitBreakerTransition(state: ClusterState, d: Data<typeof S.RecordCircuitBreakerTransitionData>, at: string): Events {
  const s = requireCluster(state);
  if (s.status === 'decommissioned') refuseEnded(s);
  const { to } = d;
  if (s.circuit === to) return [];
  if (!CIRCUIT_EDGES[s.circuit].includes(to)) {
    throw violation('circuit_transition_invalid', `circuit breaker cannot go from ${s.circuit} to ${to}`, { from: s.circuit, to });
  }
  const reason = d.reason || `circuit ${to}`;
  switch (to) {
    case 'open':
      return [{ type: 'CircuitBreakerOpened', data: { reason, backupCluster: s.backupCluster, at } }];
    case 'half_open':
      return [{ type: 'CircuitBreakerHalfOpened', data: { reason, at } }];
    case 'closed':
      return [{ type: 'CircuitBreakerClosed', data: { reason, at } }];
  }
}

/**
 * A budget's spend reached its amount (the metrics service's figures for the period). The budget,
 * its action and currency are the cluster's own (from its blueprint), never the caller's; the
 * spend must reach the amount and the period must be the current one. A second report of the same
 * crossing records nothing.
 */
export function recordBudgetCrossing(state: ClusterState, d: Data<typeof S.RecordBudgetCrossingData>, at: string): Events {
  const s = requireCluster(state);
  if (s.status === 'decommissioned') refuseEnded(s);
  const budget = s.blueprint.cluster.budgets?.[d.budget];
  if (!budget) invalid([{ path: 'budget', message: `the cluster has no budget #${d.budget} (it has ${s.blueprint.cluster.budgets?.length ?? 0})` }]);
  const current = checkCrossing(`budget #${d.budget}`, d.budget, budget, d, at);
  if (s.budgetCrossings?.[String(d.budget)]?.periodStart === current) return [];
  const currency = s.blueprint.cluster.pricing?.currency ?? 'USD';
  return crossingEvents(s, { type: 'BudgetExceeded', data: { budget: d.budget, period: budget.period, periodStart: current, amount: budget.amount, spent: d.spent, currency, action: budget.action, at } }, at);
}

/** A crossing, and for `scale_down` the scale to the minimum (when the cluster can scale: a hibernated one already runs none). */
function crossingEvents(s: ExistingCluster, exceeded: Extract<ClusterEvent, { type: 'BudgetExceeded' }>, at: string): Events {
  const c = exceeded.data;
  const next = evolve(s, exceeded) as ExistingCluster;
  if (c.action !== 'scale_down' || !SERVING_STATUSES.has(next.status) || next.targetWorkers <= next.minWorkers) return [exceeded];
  const whose = c.scope === 'tenant' ? "the tenant's" : 'the';
  const reason = `${whose} ${c.period} budget of ${c.amount} ${c.currency} reached (${c.spent} ${c.currency} spent): down to the minimum`;
  return [exceeded, ...settle(next, scaleEvents(next, next.minWorkers, reason, 'budget', undefined, at), at)];
}

/**
 * The cluster's tenant crossed one of its budgets: the cluster takes the action until the period
 * ends. The figures are the tenant aggregate's (the orchestrator reads them there, never from a
 * report). Applying the same crossing again records nothing.
 */
export function applyTenantBudget(state: ClusterState, d: Data<typeof S.ApplyTenantBudgetData>, at: string): Events {
  const s = requireCluster(state);
  if (s.status === 'decommissioned') refuseEnded(s);
  const current = checkCrossing(`tenant budget #${d.budget}`, d.budget, d, { periodStart: d.periodStart }, at);
  const last = s.budgetCrossings?.[`tenant:${d.budget}`];
  if (last && last.periodStart === current && last.amount === d.amount && last.action === d.action) return [];
  const { budget, period, amount, spent, currency, action } = d;
  return crossingEvents(s, { type: 'BudgetExceeded', data: { budget, scope: 'tenant', period, periodStart: current, amount, spent, currency, action, at } }, at);
}


/** The worker pool's kinds and weights: a rollout keeps them, so no worker slot changes hands. */
const poolShape = (b: ResolvedBlueprint): string =>
  b.agents
    .filter((a) => a.role === 'worker')
    .map((a) => `${a.name}×${a.weight}`)
    .sort()
    .join(', ');

function requireRollout(s: ExistingCluster): Rollout {
  if (!s.rollout) throw violation('rollout_none', `cluster '${s.clusterId}' has no rollout`);
  return s.rollout;
}


/** Statuses a rollout may start in (a hibernated cluster takes the new version when it wakes). */
const UPGRADABLE = new Set<ClusterState['status']>(['active', 'scaling_up', 'scaling_down', 'degraded', 'hibernated']);

/**
 * A rollout to `target`: the cluster's blueprint becomes it at once (agents it adds are spawned,
 * agents it drops are stopped), and the slots whose spec hash changes are recorded for the waves.
 */
function rolloutTo(s: ExistingCluster, target: ResolvedBlueprint, limits: { maxSurge: number; maxUnavailable: number; pauseAfter: number | null }, undo: boolean, reason: string, prefix: Events, at: string): Events {
  const base = applyAll(s, prefix) as ExistingCluster;
  const preview = { ...base, blueprint: target } as ExistingCluster;
  const slots = slotsToReplace(base, target, desiredAgents(preview));
  const started: ClusterEvent = {
    type: 'RolloutStarted',
    data: {
      rollout: (s.rollout?.rollout ?? 0) + 1,
      fromVersion: s.blueprintVersion,
      toVersion: target.version,
      blueprintHash: target.hash,
      blueprint: target,
      maxSurge: limits.maxSurge,
      maxUnavailable: limits.maxUnavailable,
      pauseAfter: limits.pauseAfter,
      slots,
      undo,
      reason,
      at,
    },
  };
  const after = evolve(base, started);
  const dropped = stopRequests(after, `agent not in blueprint version ${target.version}`, at);
  return settle(s, [...prefix, started, ...dropped], at);
}

export function startRollout(state: ClusterState, d: Data<typeof S.StartRolloutData>, at: string): Events {
  const s = requireLiveCluster(state);
  const target = d.blueprint;
  if (target.blueprintId !== s.blueprintId) {
    invalid([{ path: 'blueprint', message: `cluster '${s.clusterId}' runs blueprint '${s.blueprintId}', not '${target.blueprintId}'` }]);
  }
  const r = s.rollout;
  if (rolloutRunning(r)) {
    // The same rollout asked for again: nothing new.
    if (r!.toVersion === target.version && s.blueprint.hash === target.hash && !r!.undo) return [];
    throw violation('rollout_in_progress', `rollout ${r!.rollout} to version ${r!.toVersion} is ${r!.status}; let it complete, or undo it`, { rollout: r!.rollout, status: r!.status, to_version: r!.toVersion });
  }
  if (target.hash === s.blueprint.hash) return [];
  if (!UPGRADABLE.has(s.status)) {
    throw violation('cluster_not_ready', `cluster '${s.clusterId}' is ${s.status}; a rollout starts once it is active (or hibernated)`, { status: s.status });
  }
  if (poolShape(target) !== poolShape(s.blueprint)) {
    throw violation('rollout_pool_changed', `version ${target.version} changes the worker pool (${poolShape(s.blueprint)} → ${poolShape(target)}); a rollout replaces agents slot by slot, so the worker kinds and weights must stay`, {
      from: poolShape(s.blueprint),
      to: poolShape(target),
    });
  }
  const limits = { maxSurge: d.maxSurge, maxUnavailable: d.maxUnavailable, pauseAfter: d.pauseAfter ?? null };
  return rolloutTo(s, target, limits, false, d.reason || `upgrade to version ${target.version}`, [], at);
}

export function spawnRolloutWave(state: ClusterState, d: Data<typeof S.SpawnRolloutWaveData>, at: string): Events {
  const s = requireLiveCluster(state);
  const r = requireRollout(s);
  if (r.current) {
    const same = r.current.wave === d.wave && d.agents.every((a) => r.current!.slots.some((slot) => slot.agentId === a.agentId));
    if (same) return [];
    throw violation('rollout_wave_in_progress', `wave ${r.current.wave} of rollout ${r.rollout} is in progress`, { wave: r.current.wave });
  }
  if (r.status !== 'rolling') throw violation('rollout_not_rolling', `rollout ${r.rollout} is ${r.status}`, { status: r.status });
  const plan = nextWave(s);
  if (!plan || plan.wave !== d.wave) {
    throw violation('rollout_wave_not_due', plan ? `the next wave is ${plan.wave}, not ${d.wave}` : `no wave of rollout ${r.rollout} is due (cluster ${s.status})`, { wave: d.wave });
  }
  const planned = new Map(plan.slots.map((p) => [slotKey(p.name, p.ordinal), p]));
  const given = new Map(d.agents.map((a) => [slotKey(a.name, a.ordinal), a]));
  if (given.size !== d.agents.length || given.size !== planned.size || [...given.keys()].some((k) => !planned.has(k))) {
    throw violation('rollout_wave_mismatch', `wave ${plan.wave} replaces ${[...planned.keys()].join(', ')}`, { slots: [...planned.keys()] });
  }
  for (const a of d.agents) {
    if (s.agents[a.agentId]) throw violation('agent_id_conflict', `agent id '${a.agentId}' is already used`, { agentId: a.agentId });
  }
  const slots = plan.slots.map((p) => ({ slot: slotKey(p.name, p.ordinal), agentId: given.get(slotKey(p.name, p.ordinal))!.agentId, replaces: p.holder.agentId, mode: p.mode }));
  const surge = slots.filter((x) => x.mode === 'surge').length;
  const reason = `replacing ${slots.length} agent(s) with version ${s.blueprintVersion}: ${surge} started beside the old${slots.length > surge ? `, ${slots.length - surge} after stopping the old (max_unavailable)` : ''}`;
  const events: Events = [{ type: 'RolloutWaveStarted', data: { rollout: r.rollout, wave: plan.wave, slots, reason, at } }];
  for (const slot of slots) {
    const p = planned.get(slot.slot)!;
    const spec = s.blueprint.agents.find((a) => a.name === p.name)!;
    events.push(agentSpawned(slot.agentId, spec, p.ordinal, s.blueprintVersion, slot.replaces, at));
    if (slot.mode === 'stop_first') events.push(stopRequest(p.holder, `rollout ${r.rollout}, wave ${plan.wave}: stopped before its replacement '${slot.agentId}' starts (max_unavailable)`, at));
  }
  return settle(s, events, at);
}

export function pauseRollout(state: ClusterState, d: Data<typeof S.PauseRolloutData>, at: string): Events {
  const s = requireLiveCluster(state);
  const r = requireRollout(s);
  if (r.status === 'paused') return [];
  if (r.status !== 'rolling') throw violation('rollout_not_rolling', `rollout ${r.rollout} is ${r.status}`, { status: r.status });
  return [{ type: 'RolloutPaused', data: { rollout: r.rollout, wave: r.waves, reason: d.reason || 'pause requested', at } }];
}

export function resumeRollout(state: ClusterState, d: Data<typeof S.ResumeRolloutData>, at: string): Events {
  const s = requireLiveCluster(state);
  const r = requireRollout(s);
  if (r.status === 'rolling') return [];
  if (r.status !== 'paused') throw violation('rollout_not_paused', `rollout ${r.rollout} is ${r.status}${r.status === 'failed' ? ': undo it, or start another' : ''}`, { status: r.status });
  return settle(s, [{ type: 'RolloutResumed', data: { rollout: r.rollout, reason: d.reason || 'resume requested', at } }], at);
}

/**
 * Rolls back to the version the last rollout started from, the same way (in waves, with its
 * limits): the new agents of a wave in flight are released, and the slots already replaced are
 * replaced again with the previous spec.
 */
export function undoRollout(state: ClusterState, d: Data<typeof S.UndoRolloutData>, at: string): Events {
  const s = requireLiveCluster(state);
  const r = requireRollout(s);
  if (r.undo && rolloutRunning(r)) return [];
  if (!UPGRADABLE.has(s.status)) throw violation('cluster_not_ready', `cluster '${s.clusterId}' is ${s.status}`, { status: s.status });
  const abandoned = (r.current?.slots ?? [])
    .map((slot) => s.agents[slot.agentId])
    .filter((a): a is AgentRecord => a !== undefined && isLive(a) && a.state !== 'stopping')
    .map((a) => stopRequest(a, `rollout ${r.rollout} undone: the agent it started is not kept`, at));
  const limits = { maxSurge: r.maxSurge, maxUnavailable: r.maxUnavailable, pauseAfter: null };
  return rolloutTo(s, r.previous, limits, true, d.reason || `undo rollout ${r.rollout}: back to version ${r.previous.version}`, abandoned, at);
}

/** Parses the command's data once, with its type's schema, and hands it to that command's function. */
export function decide(command: ClusterCommand, state: ClusterState): readonly ClusterEvent[] {
  const at = commandNow(command);
  const { data } = command;
  switch (command.type) {
    case 'CreateCluster':
      return createCluster(state, parseCommandData(S.CreateClusterData, data), at);
    case 'SpawnAgents':
      return spawnAgents(state, parseCommandData(S.SpawnAgentsData, data), at);
    case 'RecordAgentPlaced':
      return recordAgentPlaced(state, parseCommandData(S.RecordAgentPlacedData, data), at);
    case 'RecordAgentStarted':
      return recordAgentStarted(state, parseCommandData(S.RecordAgentStartedData, data), at);
    case 'RecordAgentFailed':
      return recordAgentFailed(state, parseCommandData(S.RecordAgentFailedData, data), at);
    case 'RecordAgentStopped':
      return recordAgentStopped(state, parseCommandData(S.RecordAgentStoppedData, data), at);
    case 'RecordAgentOrphaned':
      return recordAgentOrphaned(state, parseCommandData(S.RecordAgentOrphanedData, data), at);
    case 'RecordAgentReplaced':
      return recordAgentReplaced(state, parseCommandData(S.RecordAgentReplacedData, data), at);
    case 'ScaleCluster':
      return scaleCluster(state, parseCommandData(S.ScaleClusterData, data), at);
    case 'RecordScalingDecision':
      return recordScalingDecision(state, parseCommandData(S.RecordScalingDecisionData, data), at);
    case 'HibernateCluster':
      return hibernateCluster(state, parseCommandData(S.HibernateClusterData, data), at);
    case 'ReactivateCluster':
      return reactivateCluster(state, parseCommandData(S.ReactivateClusterData, data), at);
    case 'UpdateCluster':
      return updateCluster(state, parseCommandData(S.UpdateClusterData, data), at);
    case 'MarkClusterDegraded':
      return markClusterDegraded(state, parseCommandData(S.MarkClusterDegradedData, data), at);
    case 'MarkClusterRecovered':
      return markClusterRecovered(state, parseCommandData(S.MarkClusterRecoveredData, data), at);
    case 'DecommissionCluster':
      return decommissionCluster(state, parseCommandData(S.DecommissionClusterData, data), at);
    case 'RecordCircuitBreakerTransition':
      return recordCircuitBreakerTransition(state, parseCommandData(S.RecordCircuitBreakerTransitionData, data), at);
    case 'RecordBudgetCrossing':
      return recordBudgetCrossing(state, parseCommandData(S.RecordBudgetCrossingData, data), at);
    case 'ApplyTenantBudget':
      return applyTenantBudget(state, parseCommandData(S.ApplyTenantBudgetData, data), at);
    case 'StartRollout':
      return startRollout(state, parseCommandData(S.StartRolloutData, data), at);
    case 'SpawnRolloutWave':
      return spawnRolloutWave(state, parseCommandData(S.SpawnRolloutWaveData, data), at);
    case 'PauseRollout':
      return pauseRollout(state, parseCommandData(S.PauseRolloutData, data), at);
    case 'ResumeRollout':
      return resumeRollout(state, parseCommandData(S.ResumeRolloutData, data), at);
    case 'UndoRollout':
      return undoRollout(state, parseCommandData(S.UndoRolloutData, data), at);
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

/**
 * Forgets the agents of a slot that stopped before `agentId` (which just stopped): the state of a
 * long-lived autoscaled cluster stays bounded by its slots, not by its history. Nothing decides
 * on them (a slot is held by live agents only), and the hierarchy shows a slot's most recent
 * agent, which this keeps; a late report about a forgotten one is refused as unknown.
 */
function retireSuperseded(state: ClusterState, agentId: string): ClusterState {
  if (state.status === 'none') return state;
  const stopped = state.agents[agentId];
  if (!stopped) return state;
  const superseded = Object.values(state.agents).filter(
    (a) => a.agentId !== agentId && a.state === 'stopped' && a.name === stopped.name && a.ordinal === stopped.ordinal,
  );
  if (superseded.length === 0) return state;
  const agents = { ...state.agents };
  for (const a of superseded) delete agents[a.agentId];
  return { ...state, agents };
}

function withRollout(state: ExistingCluster, change: (r: Rollout) => Rollout, at: string): ClusterState {
  return state.rollout ? { ...state, rollout: { ...change(state.rollout), updatedAt: at }, updatedAt: at } : state;
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
        ...(d.blueprintVersion !== undefined ? { blueprintVersion: d.blueprintVersion } : {}),
        ...(d.replaces !== undefined ? { replaces: d.replaces } : {}),
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
      return retireSuperseded(updateAgent(state, event.data.agentId, { state: 'stopped', since: at, reason: event.data.reason }, at), event.data.agentId);
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
    case 'BudgetExceeded': {
      const { budget, ...crossing } = event.data;
      const key = crossing.scope === 'tenant' ? `tenant:${budget}` : String(budget);
      return { ...state, budgetCrossings: { ...state.budgetCrossings, [key]: crossing }, updatedAt: at };
    }
    case 'RolloutStarted': {
      const d = event.data;
      const prior = state.rollout;
      // After a failed rollout most agents still run the version before it: undo goes back there.
      const previous = prior && prior.status === 'failed' && !d.undo ? prior.previous : state.blueprint;
      const rollout: Rollout = {
        rollout: d.rollout,
        status: 'rolling',
        undo: d.undo,
        fromVersion: d.fromVersion,
        toVersion: d.toVersion,
        previous,
        maxSurge: d.maxSurge,
        maxUnavailable: d.maxUnavailable,
        pauseAfter: d.pauseAfter,
        total: d.slots.length,
        replaced: 0,
        pending: d.slots,
        waves: 0,
        current: null,
        reason: d.reason,
        startedAt: at,
        updatedAt: at,
        endedAt: null,
      };
      return { ...state, blueprint: d.blueprint, blueprintVersion: d.toVersion, rollout, updatedAt: at };
    }
    case 'RolloutWaveStarted':
      return withRollout(state, (r) => ({ ...r, waves: event.data.wave, current: { wave: event.data.wave, slots: event.data.slots, startedAt: at } }), at);
    case 'RolloutWaveCompleted':
      return withRollout(state, (r) => {
        const done = new Set(r.current?.slots.map((slot) => slot.slot) ?? []);
        return { ...r, current: null, replaced: r.replaced + event.data.replaced, pending: r.pending.filter((k) => !done.has(k)) };
      }, at);
    case 'RolloutPaused':
      return withRollout(state, (r) => ({ ...r, status: 'paused', reason: event.data.reason }), at);
    case 'RolloutResumed':
      return withRollout(state, (r) => ({ ...r, status: 'rolling', reason: event.data.reason }), at);
    case 'RolloutFailed':
      return withRollout(state, (r) => ({ ...r, status: 'failed', current: null, reason: event.data.reason, endedAt: at }), at);
    case 'RolloutCompleted':
      return withRollout(state, (r) => ({ ...r, status: 'completed', current: null, pending: [], endedAt: at }), at);
    default:
      return state;
  }
}

/** A cluster's events are its tenant's, whoever caused them (a node agent, the reconciler, an operator). */
export const tenantOf = (state: ClusterState): string | null => (state.status === 'none' ? null : state.tenantId);

export const clusterDecider: Decider<ClusterState, ClusterCommand, ClusterEvent> = { decide, evolve, initialState, tenantOf };
