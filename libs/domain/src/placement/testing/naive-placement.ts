import type { BindingConstraint, NodeSnapshot, PlaceInput, PlaceResult, PlacementRequest, Unplaced, UnplacedReason } from '../placement.types.js';
import type { PlacementStrategy } from '../../blueprint/blueprint.schema.js';
import { nodeHealth } from '../../health/health.js';
import { createPrng, type Prng } from '../../random.js';


/**
 * The obvious O(agents × nodes) placement, the reference the fast place() is tested against and
 * the baseline the benchmark measures it against. It is written from what placement is specified
 * to do (placement.types.ts, the strategies in DESIGN.md and the domain README), not from
 * placement.ts, and imports nothing of it: for every agent, scan every node, keep the ones that
 * pass every filter, pick the best. For every strategy but random it must return exactly what
 * place() returns. Not part of the library build.
 *
 * What it takes from elsewhere: a node's health (status and score) is nodeHealth() from
 * health/health.ts — the definition the health-based strategy is specified by, tested on its
 * own — and the random strategy draws from createPrng(). Neither is the code under test.
 *
 * The specification, as this file reads it:
 * - Nodes are considered in nodeId order; zones in name order (plain string comparison).
 * - Filters: status online (not suspect, offline, draining, cordoned or deregistered); every
 *   required service offered; every required label equal; for health-based, not critical; a free
 *   agent slot, and the agent's CPU and memory free (sums compared with a 1e-9 tolerance);
 *   anti-affinity: no agent of the same cluster on the node; maxPerZone: fewer than that many
 *   agents of the cluster in the node's zone. Agents already placed (`existing`) count.
 * - Standby nodes take an agent only when no worker node passes the filters for it.
 * - Zone spread (zoneSpread, or a maxPerZone): the agent goes to the zone holding the fewest
 *   agents of its cluster among the zones with a node that passes, ties to the first zone by name.
 * - The strategy then picks among what is left:
 *     round-robin   the first node after the cursor (the node assigned last) in nodeId order,
 *                   wrapping around;
 *     least-loaded  lowest mean of the CPU share, the memory share (each the larger of reserved
 *                   and measured) and the agent-slot share;
 *     least-agents  fewest agents;
 *     weighted      lowest (agents + 1) / CPU capacity: agents in proportion to CPU;
 *     health-based  lowest 0.7 × (1 − health score) + 0.3 × agent-slot share;
 *     random        uniform among the candidates (seeded).
 *   Scored strategies break ties by priority (higher first), then nodeId.
 * - An agent listed twice is refused the second time; an agent already placed keeps its node.
 * - An agent that fits nowhere is refused with the first filter, in the order above, that leaves
 *   no node standing (slots, CPU or memory named when room is what is missing).
 * - The result's cursor is the node round-robin assigned last: in this call, else the one passed in.

 */
export function naivePlace(input: PlaceInput): PlaceResult {
  const strategy = input.strategy;
  const antiAffinity = input.constraints?.antiAffinity ?? false;
  const maxPerZone = input.constraints?.maxPerZone ?? null;
  const zoned = (input.constraints?.zoneSpread ?? false) || maxPerZone !== null;
  const prng = createPrng(input.seed ?? 0);

  const nodes: NaiveNode[] = [...input.nodes]
    .sort((a, b) => compare(a.nodeId, b.nodeId))
    .map((snapshot) => {
      const health = nodeHealth({ ...snapshot.health, cores: snapshot.capacity.cpu });
      return {
        snapshot,
        id: snapshot.nodeId,
        cpu: snapshot.used.cpu,
        memoryMb: snapshot.used.memoryMb,
        agents: snapshot.used.agents,
        critical: health.status === 'critical',
        healthScore: health.score,
      };
    });
  const byId = new Map(nodes.map((n) => [n.id, n]));

  // Per cluster: the nodes holding one of its agents and how many of its agents each zone holds.
  const clusters = new Map<string, ClusterPlacements>();
  const clusterOf = (clusterId: string): ClusterPlacements => {
    let c = clusters.get(clusterId);
    if (!c) clusters.set(clusterId, (c = { nodes: new Set(), perZone: new Map() }));
    return c;
  };
  const record = (c: ClusterPlacements, n: NaiveNode): void => {
    c.nodes.add(n.id);
    c.perZone.set(n.snapshot.zone, (c.perZone.get(n.snapshot.zone) ?? 0) + 1);
  };
  const placedBefore = new Map<string, string>();
  for (const e of input.existing ?? []) {
    placedBefore.set(e.agentId, e.nodeId);
    const n = byId.get(e.nodeId);
    if (n) record(clusterOf(e.clusterId), n);
  }

  let cursor = input.cursor ?? null;
  let assignedLast: string | null = null;
  const assignments: { agentId: string; nodeId: string }[] = [];
  const unplaced: Unplaced[] = [];
  const seen = new Set<string>();

  for (const agent of input.agents) {
    if (seen.has(agent.agentId)) {
      unplaced.push({ agentId: agent.agentId, reason: 'duplicate_agent', message: `agent '${agent.agentId}' appears twice in the batch` });
      continue;
    }
    seen.add(agent.agentId);
    const before = placedBefore.get(agent.agentId);
    if (before !== undefined) {
      assignments.push({ agentId: agent.agentId, nodeId: before });
      continue;
    }
    const cluster = clusterOf(agent.clusterId);
    const wants = wantsOf(agent);
    const passes = (n: NaiveNode): boolean =>
      n.snapshot.status === 'online' &&
      offersServices(n, wants) &&
      carriesLabels(n, wants) &&
      !(strategy === 'health-based' && n.critical) &&
      hasRoom(n, agent) &&
      !(antiAffinity && cluster.nodes.has(n.id)) &&
      !(maxPerZone !== null && (cluster.perZone.get(n.snapshot.zone) ?? 0) >= maxPerZone);

    let chosen: NaiveNode | undefined;
    for (const role of ['worker', 'standby'] as const) {
      let candidates = nodes.filter((n) => (n.snapshot.role === 'standby') === (role === 'standby') && passes(n));
      if (candidates.length === 0) continue;
      if (zoned) {
        const held = (zone: string): number => cluster.perZone.get(zone) ?? 0;
        let zone = (candidates[0] as NaiveNode).snapshot.zone;
        for (const n of candidates) {
          const z = n.snapshot.zone;
          if (held(z) < held(zone) || (held(z) === held(zone) && compare(z, zone) < 0)) zone = z;
        }
        candidates = candidates.filter((n) => n.snapshot.zone === zone);
      }
      chosen = pick(strategy, candidates, cursor, prng);
      break;
    }

    if (chosen === undefined) {
      const refusal = whyNot(agent, wants, nodes, cluster, strategy, antiAffinity, maxPerZone);
      unplaced.push({ agentId: agent.agentId, ...refusal });
      continue;
    }
    chosen.cpu += agent.resources.cpu;
    chosen.memoryMb += agent.resources.memoryMb;
    chosen.agents += 1;
    record(cluster, chosen);
    if (strategy === 'round-robin') cursor = assignedLast = chosen.id;
    assignments.push({ agentId: agent.agentId, nodeId: chosen.id });
  }
  return { assignments, unplaced, cursor: assignedLast ?? input.cursor ?? null };
}

interface NaiveNode {
  readonly snapshot: NodeSnapshot;
  readonly id: string;
  /** Reserved so far: the snapshot's usage plus what this batch placed. */
  cpu: number;
  memoryMb: number;
  agents: number;
  readonly critical: boolean;
  /** 1 = idle, 0 = saturated. */
  readonly healthScore: number;
}

interface ClusterPlacements {
  readonly nodes: Set<string>;
  readonly perZone: Map<string, number>;
}

const TOLERANCE = 1e-9;
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** An agent's required services and labels, each once, in name order. */
interface Wants {
  readonly services: readonly string[];
  readonly labels: readonly (readonly [string, string])[];
}
const wantsOf = (agent: PlacementRequest): Wants => ({
  services: [...new Set(agent.requiredServices ?? [])].sort(compare),
  labels: Object.entries(agent.requiredLabels ?? {}).sort(([a], [b]) => compare(a, b)),
});
const offersServices = (n: NaiveNode, wants: Wants): boolean => wants.services.every((s) => n.snapshot.services.includes(s));
const carriesLabels = (n: NaiveNode, wants: Wants): boolean => wants.labels.every(([k, v]) => n.snapshot.labels[k] === v);

const slotFree = (n: NaiveNode): boolean => n.agents + 1 <= n.snapshot.capacity.maxAgents;
const cpuFree = (n: NaiveNode, agent: PlacementRequest): boolean => n.cpu + agent.resources.cpu <= n.snapshot.capacity.cpu + TOLERANCE;
const memoryFree = (n: NaiveNode, agent: PlacementRequest): boolean => n.memoryMb + agent.resources.memoryMb <= n.snapshot.capacity.memoryMb + TOLERANCE;
const hasRoom = (n: NaiveNode, agent: PlacementRequest): boolean => slotFree(n) && cpuFree(n, agent) && memoryFree(n, agent);

/** Measured utilisation in % as a share in [0, 1]; an unreadable value counts as full. */
const measured = (percent: number): number => (Number.isFinite(percent) ? Math.min(1, Math.max(0, percent / 100)) : 1);

/** What each scored strategy minimises. */
function scoreOf(strategy: PlacementStrategy, n: NaiveNode): number {
  const { capacity, health } = n.snapshot;
  const slotShare = n.agents / capacity.maxAgents;
  switch (strategy) {
    case 'least-loaded':
      return (Math.max(n.cpu / capacity.cpu, measured(health.cpu)) + Math.max(n.memoryMb / capacity.memoryMb, measured(health.memory)) + slotShare) / 3;
    case 'least-agents':
      return n.agents;
    case 'weighted':
      return (n.agents + 1) / capacity.cpu;
    case 'health-based':
      return 0.7 * (1 - n.healthScore) + 0.3 * slotShare;
    default:
      throw new Error(`${strategy} is not a scored strategy`);
  }
}

/** The strategy's choice among candidates (non-empty, in nodeId order). */
function pick(strategy: PlacementStrategy, candidates: readonly NaiveNode[], cursor: string | null, prng: Prng): NaiveNode {
  if (strategy === 'round-robin') return candidates.find((n) => cursor === null || n.id > cursor) ?? (candidates[0] as NaiveNode);
  if (strategy === 'random') return candidates[prng.nextInt(candidates.length)] as NaiveNode;
  let best = candidates[0] as NaiveNode;
  let bestScore = scoreOf(strategy, best);
  for (const n of candidates) {
    const score = scoreOf(strategy, n);
    // Candidates come in nodeId order, so on equal score and priority the earlier one stays.
    if (score < bestScore || (score === bestScore && n.snapshot.priority > best.snapshot.priority)) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

interface Refusal {
  readonly reason: UnplacedReason;
  readonly constraint?: BindingConstraint;
  readonly message: string;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** Why nothing passes: the first filter, in the specified order, that leaves no node standing. */
function whyNot(
  agent: PlacementRequest,
  wants: Wants,
  nodes: readonly NaiveNode[],
  cluster: ClusterPlacements,
  strategy: PlacementStrategy,
  antiAffinity: boolean,
  maxPerZone: number | null,
): Refusal {
  const online = nodes.filter((n) => n.snapshot.status === 'online');
  if (online.length === 0) {
    if (nodes.length === 0) return { reason: 'no_schedulable_nodes', constraint: 'node_status', message: 'no node is registered' };
    const statuses = [...new Set(nodes.map((n) => n.snapshot.status))].sort(compare);
    const counts = statuses.map((s) => `${nodes.filter((n) => n.snapshot.status === s).length} ${s}`);
    return { reason: 'no_schedulable_nodes', constraint: 'node_status', message: `no node is online and schedulable (not cordoned, draining, suspect or offline): ${counts.join(', ')}` };
  }
  const withServices = online.filter((n) => offersServices(n, wants));
  if (withServices.length === 0) {
    return { reason: 'missing_services', constraint: 'services', message: `no schedulable node offers ${wants.services.join(', ')}` };
  }
  const withLabels = withServices.filter((n) => carriesLabels(n, wants));
  if (withLabels.length === 0) {
    return { reason: 'missing_labels', constraint: 'labels', message: `no schedulable node carries ${wants.labels.map(([k, v]) => `${k}=${v}`).join(', ')}` };
  }
  const matching = withLabels.filter((n) => !(strategy === 'health-based' && n.critical));
  if (matching.length === 0) {
    return { reason: 'no_healthy_nodes', constraint: 'health', message: 'every matching node is critical (the health-based strategy skips critical nodes)' };
  }
  const withRoom = matching.filter((n) => hasRoom(n, agent));
  if (withRoom.length === 0) return noRoom(agent, matching);
  const underZoneCap = withRoom.filter((n) => maxPerZone === null || (cluster.perZone.get(n.snapshot.zone) ?? 0) < maxPerZone);
  if (underZoneCap.length === 0) {
    return { reason: 'zone_limit', constraint: 'zone_spread', message: `every zone with room already holds ${maxPerZone} agents of this cluster (maxPerZone)` };
  }
  if (antiAffinity) {
    return { reason: 'anti_affinity', constraint: 'anti_affinity', message: 'every node with room already hosts an agent of this cluster (anti-affinity)' };
  }
  return { reason: 'insufficient_capacity', message: 'no node fits' };
}

/** Every matching node lacks room: which room (slots, CPU or memory), with the numbers. */
function noRoom(agent: PlacementRequest, matching: readonly NaiveNode[]): Refusal {
  const { cpu, memoryMb } = agent.resources;
  const total = matching.length;
  const noSlot = matching.filter((n) => !slotFree(n)).length;
  const noCpu = matching.filter((n) => !cpuFree(n, agent)).length;
  const noMemory = matching.filter((n) => !memoryFree(n, agent)).length;
  const mostCpu = matching.reduce((most, n) => Math.max(most, n.snapshot.capacity.cpu - n.cpu), 0);
  const mostMemory = matching.reduce((most, n) => Math.max(most, n.snapshot.capacity.memoryMb - n.memoryMb), 0);
  const need = `${round(cpu)} CPU and ${round(memoryMb)} MiB`;
  const cpuLeft = `the most any has is ${round(mostCpu)}`;
  const memoryLeft = `the most any has is ${round(mostMemory)} MiB`;
  if (noSlot === total) {
    const taken = matching.reduce((sum, n) => sum + n.agents, 0);
    const slots = matching.reduce((sum, n) => sum + n.snapshot.capacity.maxAgents, 0);
    const which = total === 1 ? 'the one matching node is at its' : `all ${total} matching nodes are at their`;
    const roomy = noCpu === 0 && noMemory === 0 ? `; CPU and memory are not the limit (${need} would fit)` : '';
    return {
      reason: 'insufficient_capacity',
      constraint: 'agent_slots',
      message: `no matching node has a free agent slot: ${which} max_agents (${taken} of ${slots} slots taken)${roomy}`,
    };
  }
  if (noCpu === total) return { reason: 'insufficient_capacity', constraint: 'cpu', message: `no matching node has ${round(cpu)} CPU free (${cpuLeft})` };
  if (noMemory === total) return { reason: 'insufficient_capacity', constraint: 'memory', message: `no matching node has ${round(memoryMb)} MiB of memory free (${memoryLeft})` };
  // Each node lacks something, not all the same thing: name what rules out the most (slots, then CPU, on a tie).
  const constraint: BindingConstraint = noSlot >= noCpu && noSlot >= noMemory ? 'agent_slots' : noCpu >= noMemory ? 'cpu' : 'memory';
  const nodesWord = total === 1 ? '1 matching node' : `${total} matching nodes`;
  return {
    reason: 'insufficient_capacity',
    constraint,
    message: `no matching node has room for ${need} more: of ${nodesWord}, ${noSlot} at their max_agents, ${noCpu} short of CPU (${cpuLeft}), ${noMemory} short of memory (${memoryLeft})`,
  };
}
