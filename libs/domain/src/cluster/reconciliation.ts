import { isLive, missingAgents, type DesiredAgent } from './cluster.queries.js';
import type { AgentRecord, ClusterState } from './cluster.state.js';
import { nextWave } from './rollout.js';

/** A node as the reconciler sees it: its status in the registry's log (absent: unknown). */
export type NodeStatuses = ReadonlyMap<string, string>;

export interface ReconcileLimits {
  /** A stop that no node confirms within this is recorded as done (the node is gone or lost it). */
  readonly stopTimeoutMs: number;
  /** An agent placed but not started within this is failed, and its slot is spawned anew. */
  readonly startTimeoutMs: number;
  /** A cluster still spawning after this long is degraded with the reason. */
  readonly spawnTimeoutMs: number;
}

/** What the executor remembers between passes, for the time-based rules. */
export interface ReconcileMemory {
  /** When the executor first saw the cluster spawning (a new leader starts the clock anew). */
  readonly spawningSince?: number;
  /** Why the registry last refused to place some of the cluster's agents. */
  readonly unplacedReason?: string;
}

/**
 * One step towards the desired state. Steps that record something are cluster commands; `place`,
 * `replace`, `drain` and `release` are requests to the registry (whose answers become commands).
 */
export type ReconcileAction =
  /** Desired agents nobody holds yet: record them (the executor chooses their ids) so placement is idempotent. */
  | { readonly kind: 'spawn'; readonly agents: readonly DesiredAgent[] }
  /** An agent on a node that went offline or was deregistered. */
  | { readonly kind: 'orphan'; readonly agentId: string; readonly nodeId: string }
  /** A rollout's next wave: record its new agents (the executor chooses their ids). */
  | { readonly kind: 'wave'; readonly wave: number; readonly agents: readonly DesiredAgent[] }
  /** Pending agents to place. */
  | { readonly kind: 'place'; readonly agents: readonly AgentRecord[] }
  /** Orphans of one node to place elsewhere. */
  | { readonly kind: 'replace'; readonly fromNodeId: string; readonly agents: readonly AgentRecord[] }
  /** A running agent on a draining node: start its replacement elsewhere first (it stops once that runs). */
  | { readonly kind: 'drain'; readonly fromNodeId: string; readonly agent: AgentRecord }
  /** Agents being stopped: tell the registry to release them (idempotent). */
  | { readonly kind: 'release'; readonly agentIds: readonly string[]; readonly reason: string }
  /** A stop nobody will confirm: record it. */
  | { readonly kind: 'stopped'; readonly agentId: string; readonly reason: string }
  /** An agent that never started: record it failed (and release it when it had a node). */
  | { readonly kind: 'fail'; readonly agentId: string; readonly reason: string; readonly release: boolean }
  /** A cluster that did not come up in time. */
  | { readonly kind: 'degrade'; readonly reason: string };

const GONE = new Set(['offline', 'deregistered']);

const ageMs = (since: string, now: number): number => now - Date.parse(since);

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/**
 * What it takes to make a cluster's actual agents match its desired ones, now: pure, from the
 * cluster's state, its nodes' statuses and the clock. The executor carries the steps out in
 * order; steps that change the cluster change what the next plan says (spawned agents become
 * pending ones to place), so the executor plans again after them.
 */
export function planReconciliation(cluster: ClusterState, nodes: NodeStatuses, now: number, limits: ReconcileLimits, memory: ReconcileMemory = {}): ReconcileAction[] {
  if (cluster.status === 'none' || cluster.status === 'decommissioned') return [];
  const actions: ReconcileAction[] = [];
  const agents = Object.values(cluster.agents);

  const missing = missingAgents(cluster);
  if (missing.length) actions.push({ kind: 'spawn', agents: missing });
  const wave = nextWave(cluster);
  if (wave) actions.push({ kind: 'wave', wave: wave.wave, agents: wave.slots.map(({ name, role, ordinal }) => ({ name, role, ordinal })) });

  // An agent being stopped is not moved: once its node is gone, its stop is recorded below.
  for (const a of agents) {
    if (!a.nodeId || !isLive(a) || a.state === 'orphaned' || a.state === 'pending' || a.state === 'stopping') continue;
    if (GONE.has(nodes.get(a.nodeId) ?? '')) actions.push({ kind: 'orphan', agentId: a.agentId, nodeId: a.nodeId });
  }

  const pending = agents.filter((a) => a.state === 'pending');
  if (pending.length) actions.push({ kind: 'place', agents: pending });
  const orphans = agents.filter((a) => a.state === 'orphaned' && a.nodeId);
  for (const [fromNodeId, group] of groupBy(orphans, (a) => a.nodeId!)) actions.push({ kind: 'replace', fromNodeId, agents: group });

  for (const a of agents) {
    if (a.state === 'idle' && a.nodeId && nodes.get(a.nodeId) === 'draining') actions.push({ kind: 'drain', fromNodeId: a.nodeId, agent: a });
  }

  const stopping = agents.filter((a) => a.state === 'stopping');
  if (stopping.length) {
    actions.push({ kind: 'release', agentIds: stopping.map((a) => a.agentId), reason: 'stop requested' });
    for (const a of stopping) {
      const gone = !a.nodeId || !nodes.has(a.nodeId) || GONE.has(nodes.get(a.nodeId)!);
      if (gone) actions.push({ kind: 'stopped', agentId: a.agentId, reason: 'its node is gone' });
      else if (ageMs(a.since, now) > limits.stopTimeoutMs) actions.push({ kind: 'stopped', agentId: a.agentId, reason: `no stop confirmation within ${limits.stopTimeoutMs / 1000} s` });
    }
  }

  for (const a of agents) {
    if (a.state === 'starting' && ageMs(a.since, now) > limits.startTimeoutMs) {
      actions.push({ kind: 'fail', agentId: a.agentId, reason: `did not start within ${limits.startTimeoutMs / 1000} s`, release: a.nodeId !== undefined });
    }
  }

  if (cluster.status === 'spawning' && memory.spawningSince !== undefined && now - memory.spawningSince >= limits.spawnTimeoutMs) {
    const waiting = agents.filter((a) => isLive(a) && a.state !== 'idle');
    const byState = [...groupBy(waiting, (a) => a.state)].map(([state, list]) => `${list.length} ${state}`).join(', ');
    const why = memory.unplacedReason ? ` (${memory.unplacedReason})` : '';
    actions.push({ kind: 'degrade', reason: `not active after ${Math.round(limits.spawnTimeoutMs / 1000)} s: ${byState || 'agents not yet spawned'}${why}` });
  }
  return actions;
}
