import type { AgentRole, BudgetAction } from '../blueprint/blueprint.schema.js';
import type { ResolvedAgent } from '../blueprint/blueprint.types.js';
import { periodStart } from '../cost/cost.js';
import type { AgentRecord, AgentState, BudgetCrossing, ClusterState, ExistingCluster } from './cluster.state.js';

/** Statuses in which a cluster serves tasks with its desired agents. */
export const SERVING_STATUSES: ReadonlySet<ClusterState['status']> = new Set<ClusterState['status']>(['active', 'scaling_up', 'scaling_down']);

/** One agent instance the cluster should have. */
export interface DesiredAgent {
  readonly name: string;
  readonly role: AgentRole;
  readonly ordinal: number;
}

export const slotKey = (name: string, ordinal: number): string => `${name}#${ordinal}`;

/** Live agents occupy a slot and may hold resources on a node; stopped and failed ones do not. */
export function isLive(agent: AgentRecord): boolean {
  return agent.state !== 'stopped' && agent.state !== 'failed';
}

const ROLE_RANK: Readonly<Record<AgentRole, number>> = { supervisor: 0, lead: 1, specialist: 2, worker: 3 };

function fixedAgents(agents: readonly ResolvedAgent[]): DesiredAgent[] {
  return agents
    .filter((a) => a.role !== 'worker')
    .flatMap((a) => Array.from({ length: a.count }, (_, ordinal) => ({ name: a.name, role: a.role, ordinal })));
}

/**
 * The worker pool: `count` workers, ordinals 0..count-1, each ordinal assigned to a worker kind
 * by weighted round-robin (weights 2 and 1 give A, A, B, A, A, B...). Scaling down removes the
 * highest ordinals, so the mix stays as the weights say.
 */
export function workerPool(agents: readonly ResolvedAgent[], count: number): DesiredAgent[] {
  const kinds = agents.filter((a) => a.role === 'worker');
  const cycle = kinds.flatMap((k) => Array.from({ length: Math.max(1, k.weight) }, () => k.name));
  if (cycle.length === 0) return [];
  return Array.from({ length: count }, (_, ordinal) => ({ name: cycle[ordinal % cycle.length] as string, role: 'worker' as const, ordinal }));
}

/** The agents that should exist now, given the status, the target and the blueprint. */
export function desiredAgents(state: ClusterState): DesiredAgent[] {
  switch (state.status) {
    case 'none':
    case 'decommissioning':
    case 'decommissioned':
      return [];
    case 'hibernating':
    case 'hibernated':
      return state.keepFixedAgents ? fixedAgents(state.blueprint.agents) : [];
    default:
      return [...fixedAgents(state.blueprint.agents), ...workerPool(state.blueprint.agents, state.targetWorkers)];
  }
}

function liveBySlot(state: ExistingCluster): Map<string, AgentRecord> {
  const bySlot = new Map<string, AgentRecord>();
  for (const agent of Object.values(state.agents)) {
    if (!isLive(agent)) continue;
    // A slot may have two live agents while a rollout replaces one: the running one speaks for it.
    const key = slotKey(agent.name, agent.ordinal);
    const current = bySlot.get(key);
    if (!current || (current.state !== 'idle' && (agent.state === 'idle' || current.state === 'stopping'))) bySlot.set(key, agent);
  }
  return bySlot;
}

/** Desired agents no live agent holds yet: what the reconciler must spawn. */
export function missingAgents(state: ClusterState): DesiredAgent[] {
  if (state.status === 'none') return [];
  const held = liveBySlot(state);
  return desiredAgents(state).filter((d) => !held.has(slotKey(d.name, d.ordinal)));
}

/** Live agents that are not desired (beyond the target, or all of them while decommissioning). */
export function extraAgents(state: ClusterState): AgentRecord[] {
  if (state.status === 'none') return [];
  const desired = new Set(desiredAgents(state).map((d) => slotKey(d.name, d.ordinal)));
  return Object.values(state.agents)
    .filter((a) => isLive(a) && !desired.has(slotKey(a.name, a.ordinal)))
    .sort((a, b) => ROLE_RANK[b.role] - ROLE_RANK[a.role] || b.ordinal - a.ordinal || (a.agentId < b.agentId ? -1 : 1));
}

/** True when every desired agent is started (idle or, as telemetry would say, busy). */
export function allDesiredRunning(state: ClusterState): boolean {
  if (state.status === 'none') return false;
  const held = liveBySlot(state);
  return desiredAgents(state).every((d) => held.get(slotKey(d.name, d.ordinal))?.state === 'idle');
}

export function isDesiredSlot(state: ClusterState, name: string, ordinal: number): boolean {
  return desiredAgents(state).some((d) => d.name === name && d.ordinal === ordinal);
}

/** Workers that are started (idle; busy is telemetry). */
export function runningWorkers(state: ClusterState): AgentRecord[] {
  if (state.status === 'none') return [];
  return Object.values(state.agents)
    .filter((a) => a.role === 'worker' && a.state === 'idle')
    .sort((a, b) => a.ordinal - b.ordinal);
}

/** Counts for dashboards and health: desired vs running agents and workers. */
export function agentCounts(state: ClusterState): { desired: number; running: number; live: number; desiredWorkers: number; runningWorkers: number } {
  if (state.status === 'none') return { desired: 0, running: 0, live: 0, desiredWorkers: 0, runningWorkers: 0 };
  const desired = desiredAgents(state);
  const agents = Object.values(state.agents);
  return {
    desired: desired.length,
    running: agents.filter((a) => a.state === 'idle').length,
    live: agents.filter(isLive).length,
    desiredWorkers: desired.filter((d) => d.role === 'worker').length,
    runningWorkers: agents.filter((a) => a.role === 'worker' && a.state === 'idle').length,
  };
}

export interface HierarchyNode {
  readonly name: string;
  readonly role: AgentRole;
  readonly ordinal: number;
  /** The agent holding this position, or null when it is still missing. */
  readonly agentId: string | null;
  readonly state: AgentState | 'missing';
  readonly nodeId: string | null;
  /** False for agents on their way out (beyond the target, or hibernating). */
  readonly desired: boolean;
  readonly children: HierarchyNode[];
}

/**
 * The reporting tree, supervisor → leads → specialists → workers, from reportsTo. Desired
 * positions appear even when their agent is missing; live agents on their way out appear with
 * `desired: false`. Instance i of an agent reports to instance i mod count of its manager.
 */
export function hierarchy(state: ClusterState): HierarchyNode | null {
  if (state.status === 'none') return null;
  const specs = new Map(state.blueprint.agents.map((a, i) => [a.name, { spec: a, index: i }]));
  const supervisor = state.blueprint.agents.find((a) => a.role === 'supervisor');
  if (!supervisor) return null;

  const nodes = new Map<string, HierarchyNode>();
  const latestOf = new Map<string, AgentRecord>();
  for (const agent of Object.values(state.agents)) {
    const key = slotKey(agent.name, agent.ordinal);
    const current = latestOf.get(key);
    // A running holder wins (a rollout's old agent until its replacement runs), then a live one;
    // otherwise show the most recent agent of the slot (e.g. the failed one).
    const rank = (a: AgentRecord): number => (a.state === 'idle' ? 2 : isLive(a) ? 1 : 0);
    if (!current || rank(agent) > rank(current) || (rank(agent) === rank(current) && agent.since > current.since)) {
      latestOf.set(key, agent);
    }
  }
  const make = (name: string, role: AgentRole, ordinal: number, desired: boolean): HierarchyNode => {
    const agent = latestOf.get(slotKey(name, ordinal));
    return {
      name,
      role,
      ordinal,
      agentId: agent?.agentId ?? null,
      state: agent?.state ?? 'missing',
      nodeId: agent?.nodeId ?? null,
      desired,
      children: [],
    };
  };
  for (const d of desiredAgents(state)) nodes.set(slotKey(d.name, d.ordinal), make(d.name, d.role, d.ordinal, true));
  for (const a of extraAgents(state)) {
    const key = slotKey(a.name, a.ordinal);
    if (!nodes.has(key)) nodes.set(key, make(a.name, a.role, a.ordinal, false));
  }
  const rootKey = slotKey(supervisor.name, 0);
  const root = nodes.get(rootKey) ?? make(supervisor.name, 'supervisor', 0, false);
  nodes.set(rootKey, root);

  const parentOf = (node: HierarchyNode): HierarchyNode => {
    let name = specs.get(node.name)?.spec.reportsTo ?? null;
    let ordinal = node.ordinal;
    while (name !== null) {
      const spec = specs.get(name)?.spec;
      if (!spec) break;
      ordinal = ordinal % Math.max(1, spec.count);
      const parent = nodes.get(slotKey(name, ordinal));
      if (parent) return parent;
      name = spec.reportsTo;
    }
    return root;
  };
  for (const [key, node] of nodes) if (key !== rootKey) parentOf(node).children.push(node);
  const order = (a: HierarchyNode, b: HierarchyNode): number =>
    ROLE_RANK[a.role] - ROLE_RANK[b.role] || (specs.get(a.name)?.index ?? 0) - (specs.get(b.name)?.index ?? 0) || a.ordinal - b.ordinal;
  const sortTree = (node: HierarchyNode): void => {
    node.children.sort(order);
    node.children.forEach(sortTree);
  };
  sortTree(root);
  return root;
}

/**
 * Whether a manual scale still pauses the autoscaler's decision in this direction: for the
 * policy's cooldown of that direction after an operator scaled the cluster by hand, automatic
 * scale-ups, scale-downs and hibernation hold (a task waking a hibernated cluster does not).
 * Returns the sentence that explains the hold, or null.
 */
export function manualScalePause(state: ClusterState, decision: 'up' | 'down' | 'hibernate' | 'wake' | 'hold', nowMs: number): string | null {
  if (state.status === 'none' || !state.lastManualScaleAt || decision === 'wake' || decision === 'hold') return null;
  const cooldownS = decision === 'up' ? state.policy.cooldownUpSeconds : state.policy.cooldownDownSeconds;
  const agoMs = nowMs - Date.parse(state.lastManualScaleAt);
  if (agoMs >= cooldownS * 1000) return null;
  return `an operator scaled the cluster by hand ${Math.max(0, Math.round(agoMs / 1000))} s ago: automatic scaling ${decision === 'up' ? 'up' : 'down'} waits out the ${cooldownS} s cooldown`;
}

/** The actions of the budgets crossed in their current period (a crossing of an earlier period has lapsed). */
export function activeBudgetActions(state: ClusterState, now: Date): Map<BudgetAction, BudgetCrossing> {
  const active = new Map<BudgetAction, BudgetCrossing>();
  if (state.status === 'none') return active;
  for (const c of Object.values(state.budgetCrossings ?? {})) {
    if (periodStart(c.period, now).toISOString() === c.periodStart && !active.has(c.action)) active.set(c.action, c);
  }
  return active;
}

/** Why the autoscaler may not scale up or wake the cluster now (a `scale_down` budget crossed this period), or null. */
export function budgetHold(state: ClusterState, decision: 'up' | 'down' | 'hibernate' | 'wake' | 'hold', now: Date): string | null {
  if (decision !== 'up' && decision !== 'wake') return null;
  const c = activeBudgetActions(state, now).get('scale_down');
  if (!c) return null;
  return `${spender(c)} spent ${c.spent} ${c.currency} of its ${c.amount} ${c.currency} ${c.period} budget: the cluster stays at its minimum until the ${c.period} ends`;
}

/** A budget crossing in words, for refusals and logs. */
export function describeCrossing(c: BudgetCrossing): string {
  return `${spender(c)} spent ${c.spent} ${c.currency} of its ${c.amount} ${c.currency} ${c.period} budget (${c.period} from ${c.periodStart})`;
}

const spender = (c: BudgetCrossing): string => (c.scope === 'tenant' ? "the cluster's tenant" : 'the cluster');
