import type { PlaceRequest, PlacementAgent } from '@flotilla/contracts';
import { place, type PlacementRequest, type PlacementStrategy } from '@flotilla/domain';
import type { NodeDirectory } from '../nodes/node-directory.js';

/** An agent some node already holds (recorded, or reserved by a placement still being written). */
export interface HeldAgent {
  readonly agentId: string;
  readonly nodeId: string;
  readonly previous: string | null;
  /** The move source to release in the same operation (a move with `keep_source: false`). */
  readonly releaseFrom: string | null;
}

/** A new placement: reserved in the directory, to be recorded as PlaceAgent → AgentAssigned. */
export interface NewPlacement {
  readonly agent: PlacementAgent;
  readonly nodeId: string;
  readonly previous: string | null;
  readonly releaseFrom: string | null;
}

export interface RequestPlan {
  readonly strategy: PlacementStrategy;
  readonly held: HeldAgent[];
  readonly placed: NewPlacement[];
  readonly unplaced: { agent_id: string; reason: string }[];
}

export interface PlannerState {
  /** Round-robin position: the node assigned last. */
  cursor: string | null;
  /** Seed of the next random placement. */
  seed: number;
}

/** Requests that may share one `place()` call: same strategy, same constraints, same move source. */
export function groupKey(req: PlaceRequest, strategy: PlacementStrategy): string {
  const c = req.constraints;
  return JSON.stringify([
    strategy,
    [...c.required_services].sort(),
    Object.entries(c.required_labels).sort(([a], [b]) => (a < b ? -1 : 1)),
    c.zone_spread,
    c.max_per_zone ?? null,
    c.anti_affinity,
    req.move_from ?? null,
  ]);
}

/**
 * Decides where the agents of a group of requests go, and reserves that capacity in the
 * directory before returning. It is synchronous from the first read of the directory to the last
 * reservation, so nothing else in this process can decide in between: that is what serialises
 * placement decisions and keeps two concurrent requests from both taking a node's last slot.
 * (Across replicas, the node decider's capacity check under the stream's optimistic lock is the
 * final guard; a placement it refuses is planned again.)
 *
 * Idempotent by agent id: an agent some node already holds keeps it. With `move_from`, an agent
 * held only by the source node is placed elsewhere (never on the source); with `keep_source:
 * false` the source's assignment is released in the same operation.
 *
 * One `place()` call serves the whole group: building the fleet index is the expensive part
 * (O(nodes log nodes)), and requests arriving together share it.
 */
export function planGroup(
  requests: readonly PlaceRequest[],
  strategy: PlacementStrategy,
  directory: NodeDirectory,
  planner: PlannerState,
): RequestPlan[] {
  const { plans, cursor, decided } = decideGroup(requests, strategy, directory, planner);
  if (!decided) return plans;
  planner.seed++;
  planner.cursor = cursor;
  requests.forEach((req, i) => {
    for (const p of plans[i]!.placed) {
      directory.reserve(p.nodeId, {
        agentId: p.agent.agent_id,
        clusterId: req.cluster_id,
        resources: { cpu: p.agent.resources.cpu, memoryMb: p.agent.resources.memory_mb },
      });
    }
  });
  return plans;
}

/**
 * The decision half of planGroup: where the group's agents would go on the directory as it is,
 * with the planner's cursor and seed as they are. Reserves nothing and moves neither, so a dry
 * run asks exactly what the real request would be answered, had it come instead.
 */
export function decideGroup(
  requests: readonly PlaceRequest[],
  strategy: PlacementStrategy,
  directory: NodeDirectory,
  planner: Readonly<PlannerState>,
): { plans: RequestPlan[]; cursor: string | null; decided: boolean } {
  const plans: RequestPlan[] = requests.map(() => ({
    strategy,
    held: [],
    placed: [],
    unplaced: [],
  }));
  const toPlace: { request: number; agent: PlacementAgent }[] = [];
  requests.forEach((req, i) => {
    const moveFrom = req.move_from ?? null;
    const seen = new Set<string>();
    for (const agent of req.agents) {
      if (seen.has(agent.agent_id)) continue;
      seen.add(agent.agent_id);
      const holders = directory.nodesOf(agent.agent_id);
      const onSource = moveFrom !== null && holders.includes(moveFrom);
      const elsewhere = moveFrom === null ? holders : holders.filter((n) => n !== moveFrom);
      if (elsewhere.length > 0) {
        plans[i]!.held.push({
          agentId: agent.agent_id,
          nodeId: elsewhere[0]!,
          previous: moveFrom,
          releaseFrom: onSource && !req.keep_source ? moveFrom : null,
        });
      } else {
        toPlace.push({ request: i, agent });
      }
    }
  });
  if (toPlace.length === 0) return { plans, cursor: planner.cursor, decided: false };

  const first = requests[0]!;
  const moveFrom = first.move_from ?? null;
  const placing = new Set(toPlace.map((p) => p.agent.agent_id));
  const clusterIds = requests.map((r) => r.cluster_id);
  const agents: PlacementRequest[] = toPlace.map(({ request, agent }) => {
    const req = requests[request]!;
    return {
      agentId: agent.agent_id,
      clusterId: req.cluster_id,
      role: agent.role,
      resources: { cpu: agent.resources.cpu, memoryMb: agent.resources.memory_mb },
      requiredServices: req.constraints.required_services,
      requiredLabels: req.constraints.required_labels,
    };
  });
  const result = place({
    agents,
    nodes: directory.snapshots(moveFrom ?? undefined),
    strategy,
    constraints: {
      zoneSpread: first.constraints.zone_spread,
      antiAffinity: first.constraints.anti_affinity,
      maxPerZone: first.constraints.max_per_zone ?? null,
    },
    // The agents being placed now are not "already placed" (a mover is held by its source only).
    existing: directory.placementsOf(clusterIds).filter((e) => !placing.has(e.agentId)),
    cursor: planner.cursor,
    seed: planner.seed,
  });

  const byAgent = new Map(toPlace.map((p) => [p.agent.agent_id, p]));
  for (const a of result.assignments) {
    const item = byAgent.get(a.agentId)!;
    const req = requests[item.request]!;
    const onSource = moveFrom !== null && directory.nodesOf(a.agentId).includes(moveFrom);
    plans[item.request]!.placed.push({
      agent: item.agent,
      nodeId: a.nodeId,
      previous: moveFrom,
      releaseFrom: onSource && !req.keep_source ? moveFrom : null,
    });
  }
  for (const u of result.unplaced) {
    const item = byAgent.get(u.agentId)!;
    plans[item.request]!.unplaced.push({
      agent_id: u.agentId,
      reason: `${u.reason}: ${u.message}`,
    });
  }
  return { plans, cursor: result.cursor, decided: true };
}

/** Where a dry run would put agents: each agent's node, and those that would fit nowhere and why. */
export interface PlacementPreview {
  readonly strategy: PlacementStrategy;
  readonly placements: { agent_id: string; cluster_id: string; from_node: string | null; to_node: string }[];
  readonly unplaced: { agent_id: string; cluster_id: string; reason: string }[];
}

/**
 * Places `agents` on the fleet as the directory sees it now (reservations included), without
 * reserving anything: the planning half of planGroup, for dry runs. `leaving`: a node the agents
 * are moving off (placement treats it as cordoned). Placement constraints of the agents' clusters
 * (zone spread, anti-affinity) are applied by the moves themselves, which the orchestrator asks
 * for with each cluster's constraints; the preview places by capacity and the strategy.
 */
export function previewPlacement(
  directory: NodeDirectory,
  agents: readonly { agentId: string; clusterId: string; resources: { cpu: number; memoryMb: number }; from: string | null }[],
  strategy: PlacementStrategy,
  opts: { leaving?: string; fresh?: boolean; planner: PlannerState },
): PlacementPreview {
  if (agents.length === 0) return { strategy, placements: [], unplaced: [] };
  const moving = new Set(agents.map((a) => a.agentId));
  const byId = new Map(agents.map((a) => [a.agentId, a]));
  const nodes = directory.snapshots(opts.leaving).map((n) =>
    // A fresh placement starts from nodes that hold none of the agents being placed.
    opts.fresh ? { ...n, used: { ...n.used, cpu: 0, memoryMb: 0, agents: 0 } } : n,
  );
  const result = place({
    agents: agents.map((a) => ({ agentId: a.agentId, clusterId: a.clusterId, resources: a.resources })),
    nodes,
    strategy,
    constraints: { zoneSpread: false, antiAffinity: false, maxPerZone: null },
    existing: opts.fresh ? [] : directory.placementsOf(agents.map((a) => a.clusterId)).filter((e) => !moving.has(e.agentId)),
    cursor: opts.planner.cursor,
    seed: opts.planner.seed,
  });
  return {
    strategy,
    placements: result.assignments.map((a) => ({ agent_id: a.agentId, cluster_id: byId.get(a.agentId)!.clusterId, from_node: byId.get(a.agentId)!.from, to_node: a.nodeId })),
    unplaced: result.unplaced.map((u) => ({ agent_id: u.agentId, cluster_id: byId.get(u.agentId)!.clusterId, reason: `${u.reason}: ${u.message}` })),
  };
}
