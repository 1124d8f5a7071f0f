import { PLACEMENT_STRATEGIES, type PlacementStrategy } from '../blueprint/blueprint.schema.js';
import { ValidationError } from '../errors.js';
import { nodeHealth } from '../health/health.js';
import { createPrng, type Prng } from '../random.js';
import { IndexHeap } from './index-heap.js';
import type { Assignment, BindingConstraint, NodeSnapshot, PlaceInput, PlaceResult, PlacementRequest, Unplaced, UnplacedReason } from './placement.types.js';

/*
 * Batch placement in O((agents + nodes) · log nodes) for the usual case.
 *
 * Agents are grouped into classes (required services + labels + resource size). Per class and
 * tier (worker nodes first, standby nodes only when no worker node fits) a pool indexes the nodes
 * that pass the static filters: a lazy min-heap for the scored strategies, an array for random,
 * a sorted ring for round-robin. Usage only grows during a batch, so:
 *   - a node that cannot fit a class now never will: the pool drops it for good ("dead");
 *   - a heap key (a load score) only grows: a stale entry is re-keyed when it reaches the top;
 *   - a node refused for one cluster only (anti-affinity, zone cap) is set aside for that one
 *     agent and restored afterwards ("temp");
 *   - once a cluster's agent of some class cannot be placed, later agents of the same cluster
 *     and class cannot either: they are refused without another search, and the reason is
 *     diagnosed again only when an assignment since has changed the usage it names.
 * Zone spreading keeps one pool per zone and picks the zone with the fewest agents of the cluster.
 */

const OK = 0;
const TEMP = 1;
const DEAD = 2;
type Fit = typeof OK | typeof TEMP | typeof DEAD;
type Check = (node: number) => Fit;

/** Nodes as parallel arrays, indexed in nodeId order (the round-robin order). */
export interface Fleet {
  readonly n: number;
  readonly nodes: readonly NodeSnapshot[];
  readonly ids: readonly string[];
  readonly indexOf: ReadonlyMap<string, number>;
  readonly zones: readonly string[];
  readonly zoneOf: Int32Array;
  readonly schedulable: Uint8Array;
  readonly standby: Uint8Array;
  readonly critical: Uint8Array;
  readonly capCpu: Float64Array;
  readonly capMem: Float64Array;
  readonly capAgents: Float64Array;
  readonly usedCpu: Float64Array;
  readonly usedMem: Float64Array;
  readonly usedAgents: Float64Array;
  readonly measCpu: Float64Array;
  readonly measMem: Float64Array;
  readonly healthPenalty: Float64Array;
  /** Tie-break order: priority (high first), then nodeId. */
  readonly tieRank: Int32Array;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const pct = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x / 100)) : 1);

export function buildFleet(input: readonly NodeSnapshot[]): Fleet {
  const nodes = [...input].sort((a, b) => byString(a.nodeId, b.nodeId));
  const n = nodes.length;
  const ids = nodes.map((x) => x.nodeId);
  const zones = [...new Set(nodes.map((x) => x.zone))].sort(byString);
  const zoneIndex = new Map(zones.map((z, i) => [z, i]));
  const f = {
    n,
    nodes,
    ids,
    indexOf: new Map(ids.map((id, i) => [id, i])),
    zones,
    zoneOf: new Int32Array(n),
    schedulable: new Uint8Array(n),
    standby: new Uint8Array(n),
    critical: new Uint8Array(n),
    capCpu: new Float64Array(n),
    capMem: new Float64Array(n),
    capAgents: new Float64Array(n),
    usedCpu: new Float64Array(n),
    usedMem: new Float64Array(n),
    usedAgents: new Float64Array(n),
    measCpu: new Float64Array(n),
    measMem: new Float64Array(n),
    healthPenalty: new Float64Array(n),
    tieRank: new Int32Array(n),
  };
  nodes.forEach((node, i) => {
    f.zoneOf[i] = zoneIndex.get(node.zone) as number;
    f.schedulable[i] = node.status === 'online' ? 1 : 0;
    f.standby[i] = node.role === 'standby' ? 1 : 0;
    f.capCpu[i] = node.capacity.cpu;
    f.capMem[i] = node.capacity.memoryMb;
    f.capAgents[i] = node.capacity.maxAgents;
    f.usedCpu[i] = node.used.cpu;
    f.usedMem[i] = node.used.memoryMb;
    f.usedAgents[i] = node.used.agents;
    f.measCpu[i] = pct(node.health.cpu);
    f.measMem[i] = pct(node.health.memory);
    const health = nodeHealth({ ...node.health, cores: node.capacity.cpu });
    f.critical[i] = health.status === 'critical' ? 1 : 0;
    f.healthPenalty[i] = 1 - health.score;
  });
  const order = nodes.map((_, i) => i).sort((a, b) => (nodes[b]?.priority ?? 0) - (nodes[a]?.priority ?? 0) || a - b);
  order.forEach((node, rank) => (f.tieRank[node] = rank));
  return f;
}

// Resources are summed in floating point: compare with a tolerance (as the node decider does).
const EPSILON = 1e-9;

export function fitsResources(f: Fleet, i: number, cpu: number, mem: number): boolean {
  return (
    (f.usedAgents[i] as number) + 1 <= (f.capAgents[i] as number) &&
    (f.usedCpu[i] as number) + cpu <= (f.capCpu[i] as number) + EPSILON &&
    (f.usedMem[i] as number) + mem <= (f.capMem[i] as number) + EPSILON
  );
}

/** The score each scored strategy minimises; every one only grows as a node takes agents. */
export function scoreFunction(f: Fleet, strategy: PlacementStrategy): ((i: number) => number) | null {
  switch (strategy) {
    case 'least-loaded':
      // CPU, memory and agent share combined; measured utilisation counts when above the reserved share.
      return (i) =>
        (Math.max((f.usedCpu[i] as number) / (f.capCpu[i] as number), f.measCpu[i] as number) +
          Math.max((f.usedMem[i] as number) / (f.capMem[i] as number), f.measMem[i] as number) +
          (f.usedAgents[i] as number) / (f.capAgents[i] as number)) /
        3;
    case 'least-agents':
      return (i) => f.usedAgents[i] as number;
    case 'weighted':
      // Stride scheduling: agents in proportion to CPU capacity.
      return (i) => ((f.usedAgents[i] as number) + 1) / (f.capCpu[i] as number);
    case 'health-based':
      return (i) => 0.7 * (f.healthPenalty[i] as number) + 0.3 * ((f.usedAgents[i] as number) / (f.capAgents[i] as number));
    default:
      return null;
  }
}

interface Pool {
  take(check: Check): number;
}

class HeapPool implements Pool {
  private readonly heap: IndexHeap;
  private readonly score: (i: number) => number;
  private readonly scratch: number[] = [];

  constructor(members: readonly number[], score: (i: number) => number, rank: Int32Array) {
    this.score = score;
    this.heap = new IndexHeap(members.length, rank);
    for (const i of members) this.heap.load(i, score(i));
    this.heap.heapify();
  }

  take(check: Check): number {
    const heap = this.heap;
    const temps = this.scratch;
    let found = -1;
    while (heap.size > 0) {
      const i = heap.peekId();
      const current = this.score(i);
      if (current > heap.peekKey()) {
        // Another agent landed here since this entry was keyed: re-key it lazily.
        heap.pop();
        heap.push(i, current);
        continue;
      }
      const fit = check(i);
      if (fit === OK) {
        found = i;
        break;
      }
      heap.pop();
      if (fit === TEMP) temps.push(i);
    }
    for (const i of temps) heap.push(i, this.score(i));
    temps.length = 0;
    return found;
  }
}

/** Uniform choice among members; [0, size) candidates, then set-aside, then dropped for good. */
class RandomPool implements Pool {
  private readonly members: Int32Array;
  private size: number;
  private readonly prng: Prng;

  constructor(members: readonly number[], prng: Prng) {
    this.members = Int32Array.from(members);
    this.size = members.length;
    this.prng = prng;
  }

  take(check: Check): number {
    const m = this.members;
    let temp = 0;
    let found = -1;
    while (this.size > 0) {
      const r = this.prng.nextInt(this.size);
      const i = m[r] as number;
      const fit = check(i);
      if (fit === OK) {
        found = i;
        break;
      }
      const last = this.size - 1;
      m[r] = m[last] as number;
      m[last] = i;
      this.size--;
      if (fit === TEMP) {
        temp++;
      } else if (temp > 0) {
        // Keep the set-aside region contiguous: swap the dead entry past it.
        const end = last + temp;
        m[last] = m[end] as number;
        m[end] = i;
      }
    }
    this.size += temp;
    return found;
  }
}

/** Members in nodeId order; the next one after the shared cursor, wrapping, skipping dead ones. */
class RoundRobinPool implements Pool {
  private readonly members: Int32Array;
  /** Union-find "next alive" pointers over positions; parent[m] is the sentinel. */
  private readonly parent: Int32Array;
  private alive: number;
  private readonly cursor: { index: number };

  constructor(members: readonly number[], cursor: { index: number }) {
    this.members = Int32Array.from(members);
    const m = members.length;
    this.parent = new Int32Array(m + 1);
    for (let i = 0; i <= m; i++) this.parent[i] = i;
    this.alive = m;
    this.cursor = cursor;
  }

  private find(x: number): number {
    const p = this.parent;
    let r = x;
    while (p[r] !== r) r = p[r] as number;
    while (p[x] !== r) {
      const next = p[x] as number;
      p[x] = r;
      x = next;
    }
    return r;
  }

  take(check: Check): number {
    const m = this.members.length;
    if (this.alive === 0) return -1;
    // First position whose node comes after the cursor.
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.members[mid] as number) <= this.cursor.index) lo = mid + 1;
      else hi = mid;
    }
    let at = this.find(lo);
    if (at === m) at = this.find(0);
    let tempsSeen = 0;
    while (at < m) {
      const node = this.members[at] as number;
      const fit = check(node);
      if (fit === OK) return node;
      if (fit === DEAD) {
        this.parent[at] = at + 1;
        if (--this.alive === 0) return -1;
      } else if (++tempsSeen >= this.alive) {
        return -1;
      }
      let next = this.find(at + 1);
      if (next === m) next = this.find(0);
      at = next;
    }
    return -1;
  }
}

interface ClassPools {
  global: Pool | null;
  zones: (Pool | null)[] | null;
  /** Zones with at least one member, in name order. */
  zoneList: number[];
}

interface PlacementClass {
  readonly key: string;
  readonly services: readonly string[];
  readonly labels: readonly (readonly [string, string])[];
  readonly eligible: Uint8Array;
  readonly cpu: number;
  readonly mem: number;
  /** [worker tier, standby tier] */
  readonly tiers: [ClassPools, ClassPools];
}

interface ClusterTrack {
  readonly nodes: Set<number>;
  readonly zoneCounts: Int32Array;
}

function validate(input: PlaceInput): void {
  const issues = [];
  if (!(PLACEMENT_STRATEGIES as readonly string[]).includes(input.strategy)) {
    issues.push({ path: 'strategy', message: `expected one of ${PLACEMENT_STRATEGIES.join(', ')}` });
  }
  const max = input.constraints?.maxPerZone;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && max >= 1)) {
    issues.push({ path: 'constraints.maxPerZone', message: 'expected a positive integer' });
  }
  input.agents.forEach((a, i) => {
    const r = a.resources;
    if (!r || !(r.cpu >= 0) || !(r.memoryMb >= 0) || !Number.isFinite(r.cpu) || !Number.isFinite(r.memoryMb)) {
      issues.push({ path: `agents[${i}].resources`, message: 'expected {cpu, memoryMb} as non-negative numbers' });
    }
  });
  if (issues.length > 0) throw ValidationError.of(issues, 'placement');
}

/**
 * Places agents on nodes: filters first (online, capacity, services, labels, zone spread,
 * anti-affinity; standby nodes only when no worker node fits), then the strategy picks among
 * what is left. Pure: the same input (and seed) gives the same result.
 */
export function place(input: PlaceInput): PlaceResult {
  validate(input);
  const f = buildFleet(input.nodes);
  const strategy = input.strategy;
  const constraints = input.constraints ?? { zoneSpread: false, antiAffinity: false };
  const maxPerZone = constraints.maxPerZone ?? null;
  const zoned = constraints.zoneSpread || maxPerZone !== null;
  const antiAffinity = constraints.antiAffinity;
  const score = scoreFunction(f, strategy);
  const prng = createPrng(input.seed ?? 0);
  const cursorId = input.cursor ?? null;
  // Index of the last node at or before the cursor id: the next pick comes after it.
  const cursor = { index: cursorId === null ? -1 : upperBound(f.ids, cursorId) - 1 };
  let lastAssigned = -1;

  const eligibleBySignature = new Map<string, Uint8Array>();
  const classes = new Map<string, PlacementClass>();
  const clusters = new Map<string, ClusterTrack>();
  /** Per cluster and class: the refusal, and how many assignments had been made when it was diagnosed. */
  const failures = new Map<string, { why: Diagnosis; at: number }>();

  const track = (clusterId: string): ClusterTrack => {
    let t = clusters.get(clusterId);
    if (!t) {
      t = { nodes: new Set(), zoneCounts: new Int32Array(f.zones.length) };
      clusters.set(clusterId, t);
    }
    return t;
  };

  const existingByAgent = new Map<string, string>();
  for (const e of input.existing ?? []) {
    existingByAgent.set(e.agentId, e.nodeId);
    const i = f.indexOf.get(e.nodeId);
    if (i === undefined) continue;
    const t = track(e.clusterId);
    if (!t.nodes.has(i)) t.nodes.add(i);
    t.zoneCounts[f.zoneOf[i] as number]++;
  }

  const classOf = (agent: PlacementRequest): PlacementClass => {
    const services = [...new Set(agent.requiredServices ?? [])].sort(byString);
    const labels = Object.entries(agent.requiredLabels ?? {}).sort(([a], [b]) => byString(a, b));
    const sigKey = JSON.stringify([services, labels]);
    const key = `${sigKey}|${agent.resources.cpu}|${agent.resources.memoryMb}`;
    const known = classes.get(key);
    if (known) return known;
    let eligible = eligibleBySignature.get(sigKey);
    if (!eligible) {
      eligible = new Uint8Array(f.n);
      for (let i = 0; i < f.n; i++) {
        const node = f.nodes[i] as NodeSnapshot;
        eligible[i] =
          f.schedulable[i] === 1 &&
          services.every((s) => node.services.includes(s)) &&
          labels.every(([k, v]) => node.labels[k] === v) &&
          !(strategy === 'health-based' && f.critical[i] === 1)
            ? 1
            : 0;
      }
      eligibleBySignature.set(sigKey, eligible);
    }
    const empty = (): ClassPools => ({ global: null, zones: null, zoneList: [] });
    const created: PlacementClass = { key, services, labels, eligible, cpu: agent.resources.cpu, mem: agent.resources.memoryMb, tiers: [empty(), empty()] };
    classes.set(key, created);
    return created;
  };

  const newPool = (members: number[]): Pool =>
    score ? new HeapPool(members, score, f.tieRank) : strategy === 'random' ? new RandomPool(members, prng) : new RoundRobinPool(members, cursor);

  const membersOf = (c: PlacementClass, tier: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < f.n; i++) {
      if (c.eligible[i] === 1 && f.standby[i] === tier && fitsResources(f, i, c.cpu, c.mem)) out.push(i);
    }
    return out;
  };

  const globalPool = (c: PlacementClass, tier: 0 | 1): Pool => {
    const pools = c.tiers[tier];
    pools.global ??= newPool(membersOf(c, tier));
    return pools.global;
  };

  const zonePools = (c: PlacementClass, tier: 0 | 1): ClassPools => {
    const pools = c.tiers[tier];
    if (!pools.zones) {
      const byZone: number[][] = f.zones.map(() => []);
      for (const i of membersOf(c, tier)) byZone[f.zoneOf[i] as number]?.push(i);
      pools.zones = byZone.map((members) => (members.length > 0 ? newPool(members) : null));
      pools.zoneList = byZone.flatMap((members, z) => (members.length > 0 ? [z] : []));
    }
    return pools;
  };

  const assignments: Assignment[] = [];
  const unplaced: Unplaced[] = [];
  const seen = new Set<string>();

  for (const agent of input.agents) {
    if (seen.has(agent.agentId)) {
      unplaced.push({ agentId: agent.agentId, reason: 'duplicate_agent', message: `agent '${agent.agentId}' appears twice in the batch` });
      continue;
    }
    seen.add(agent.agentId);
    const already = existingByAgent.get(agent.agentId);
    if (already !== undefined) {
      // A retried placement: the agent keeps the node it already has.
      assignments.push({ agentId: agent.agentId, nodeId: already });
      continue;
    }
    const c = classOf(agent);
    const failureKey = `${agent.clusterId}\u0000${c.key}`;
    const failed = failures.get(failureKey);
    const t = track(agent.clusterId);
    if (failed) {
      // Still unplaceable (usage only grows), but the binding constraint and its numbers may
      // have moved with the assignments made since the refusal was diagnosed.
      if (failed.at !== assignments.length) {
        failed.why = diagnose(f, c, t, antiAffinity, maxPerZone, strategy);
        failed.at = assignments.length;
      }
      unplaced.push({ agentId: agent.agentId, ...failed.why });
      continue;
    }
    const check: Check = (i) => {
      if (!fitsResources(f, i, c.cpu, c.mem)) return DEAD;
      if (antiAffinity && t.nodes.has(i)) return TEMP;
      if (maxPerZone !== null && (t.zoneCounts[f.zoneOf[i] as number] as number) >= maxPerZone) return TEMP;
      return OK;
    };

    let chosen = -1;
    for (const tier of [0, 1] as const) {
      if (zoned) {
        const pools = zonePools(c, tier);
        const order = pools.zoneList
          .filter((z) => maxPerZone === null || (t.zoneCounts[z] as number) < maxPerZone)
          .sort((a, b) => (t.zoneCounts[a] as number) - (t.zoneCounts[b] as number) || a - b);
        for (const z of order) {
          chosen = (pools.zones?.[z] as Pool).take(check);
          if (chosen >= 0) break;
        }
      } else {
        chosen = globalPool(c, tier).take(check);
      }
      if (chosen >= 0) break;
    }

    if (chosen < 0) {
      const why = diagnose(f, c, t, antiAffinity, maxPerZone, strategy);
      failures.set(failureKey, { why, at: assignments.length });
      unplaced.push({ agentId: agent.agentId, ...why });
      continue;
    }
    f.usedCpu[chosen] = (f.usedCpu[chosen] as number) + c.cpu;
    f.usedMem[chosen] = (f.usedMem[chosen] as number) + c.mem;
    f.usedAgents[chosen] = (f.usedAgents[chosen] as number) + 1;
    t.nodes.add(chosen);
    t.zoneCounts[f.zoneOf[chosen] as number]++;
    if (strategy === 'round-robin') cursor.index = lastAssigned = chosen;
    assignments.push({ agentId: agent.agentId, nodeId: f.ids[chosen] as string });
  }

  // The node assigned last; a batch that assigns nothing leaves the cursor where it was.
  return { assignments, unplaced, cursor: lastAssigned >= 0 ? (f.ids[lastAssigned] as string) : cursorId };
}

function upperBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as string) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Why an agent fits nowhere: the reason code, the constraint that binds, and a sentence with the numbers. */
export interface Diagnosis {
  readonly reason: UnplacedReason;
  readonly constraint?: BindingConstraint;
  readonly message: string;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * Why an agent fits nowhere: the first filter that leaves no node standing, and when it is room,
 * which room (agent slots, CPU or memory), so that "every node is at its max_agents" is never
 * reported as a shortage of CPU and memory. O(nodes), once per cluster and class.
 */
export function diagnose(
  f: Fleet,
  c: { readonly services: readonly string[]; readonly labels: readonly (readonly [string, string])[]; readonly cpu: number; readonly mem: number },
  t: { readonly zoneCounts: Int32Array },
  antiAffinity: boolean,
  maxPerZone: number | null,
  strategy: PlacementStrategy,
): Diagnosis {
  const unschedulable = new Map<string, number>();
  let schedulable = 0;
  let services = 0;
  let labels = 0;
  let healthy = 0;
  let capacity = 0;
  let zone = 0;
  // Among the nodes that pass every static filter: how many each resource rules out.
  let noSlot = 0;
  let noCpu = 0;
  let noMem = 0;
  let slotsUsed = 0;
  let slotsTotal = 0;
  let mostCpu = 0;
  let mostMem = 0;
  for (let i = 0; i < f.n; i++) {
    const node = f.nodes[i] as NodeSnapshot;
    if (f.schedulable[i] !== 1) {
      unschedulable.set(node.status, (unschedulable.get(node.status) ?? 0) + 1);
      continue;
    }
    schedulable++;
    if (!c.services.every((s) => node.services.includes(s))) continue;
    services++;
    if (!c.labels.every(([k, v]) => node.labels[k] === v)) continue;
    labels++;
    if (strategy === 'health-based' && f.critical[i] === 1) continue;
    healthy++;
    const usedAgents = f.usedAgents[i] as number;
    slotsUsed += usedAgents;
    slotsTotal += f.capAgents[i] as number;
    mostCpu = Math.max(mostCpu, (f.capCpu[i] as number) - (f.usedCpu[i] as number));
    mostMem = Math.max(mostMem, (f.capMem[i] as number) - (f.usedMem[i] as number));
    const slotShort = usedAgents + 1 > (f.capAgents[i] as number);
    const cpuShort = (f.usedCpu[i] as number) + c.cpu > (f.capCpu[i] as number) + EPSILON;
    const memShort = (f.usedMem[i] as number) + c.mem > (f.capMem[i] as number) + EPSILON;
    if (slotShort) noSlot++;
    if (cpuShort) noCpu++;
    if (memShort) noMem++;
    if (slotShort || cpuShort || memShort) continue;
    capacity++;
    if (maxPerZone !== null && (t.zoneCounts[f.zoneOf[i] as number] as number) >= maxPerZone) continue;
    zone++;
  }
  if (schedulable === 0) {
    const states = [...unschedulable].sort(([a], [b]) => byString(a, b)).map(([status, n]) => `${n} ${status}`);
    return {
      reason: 'no_schedulable_nodes',
      constraint: 'node_status',
      message: f.n === 0 ? 'no node is registered' : `no node is online and schedulable (not cordoned, draining, suspect or offline): ${states.join(', ')}`,
    };
  }
  if (services === 0) return { reason: 'missing_services', constraint: 'services', message: `no schedulable node offers ${c.services.join(', ')}` };
  if (labels === 0) return { reason: 'missing_labels', constraint: 'labels', message: `no schedulable node carries ${c.labels.map(([k, v]) => `${k}=${v}`).join(', ')}` };
  if (healthy === 0) return { reason: 'no_healthy_nodes', constraint: 'health', message: 'every matching node is critical (the health-based strategy skips critical nodes)' };
  if (capacity === 0) {
    const need = `${round(c.cpu)} CPU and ${round(c.mem)} MiB`;
    const cpuLeft = `the most any has is ${round(mostCpu)}`;
    const memLeft = `the most any has is ${round(mostMem)} MiB`;
    if (noSlot === healthy) {
      const roomy = noCpu === 0 && noMem === 0 ? `; CPU and memory are not the limit (${need} would fit)` : '';
      return {
        reason: 'insufficient_capacity',
        constraint: 'agent_slots',
        message: `no matching node has a free agent slot: ${healthy === 1 ? 'the one matching node is at its' : `all ${healthy} matching nodes are at their`} max_agents (${slotsUsed} of ${slotsTotal} slots taken)${roomy}`,
      };
    }
    if (noCpu === healthy) return { reason: 'insufficient_capacity', constraint: 'cpu', message: `no matching node has ${round(c.cpu)} CPU free (${cpuLeft})` };
    if (noMem === healthy) return { reason: 'insufficient_capacity', constraint: 'memory', message: `no matching node has ${round(c.mem)} MiB of memory free (${memLeft})` };
    // Each node lacks something, not all the same thing: name the one that rules out the most.
    const constraint: BindingConstraint = noSlot >= noCpu && noSlot >= noMem ? 'agent_slots' : noCpu >= noMem ? 'cpu' : 'memory';
    return {
      reason: 'insufficient_capacity',
      constraint,
      message: `no matching node has room for ${need} more: of ${plural(healthy, 'matching node')}, ${noSlot} at their max_agents, ${noCpu} short of CPU (${cpuLeft}), ${noMem} short of memory (${memLeft})`,
    };
  }
  if (zone === 0) return { reason: 'zone_limit', constraint: 'zone_spread', message: `every zone with room already holds ${maxPerZone} agents of this cluster (maxPerZone)` };
  if (antiAffinity) return { reason: 'anti_affinity', constraint: 'anti_affinity', message: 'every node with room already hosts an agent of this cluster (anti-affinity)' };
  return { reason: 'insufficient_capacity', message: 'no node fits' };
}
