import { createPrng } from '../../random.js';
import { buildFleet, diagnose, fitsResources, scoreFunction, type Diagnosis } from '../placement.js';
import type { Assignment, NodeSnapshot, PlaceInput, PlaceResult, Unplaced } from '../placement.types.js';

/**
 * The obvious O(agents × nodes) placement: for every agent, scan every node, keep the feasible
 * ones and pick the best. Same filters, scores and tie-breaks as place(), so for every strategy
 * but random it must return exactly the same result: the reference the fast version is tested
 * against, and the baseline the benchmark measures it against. Not part of the library build.
 */
export function naivePlace(input: PlaceInput): PlaceResult {
  const f = buildFleet(input.nodes);
  const strategy = input.strategy;
  const constraints = input.constraints ?? { zoneSpread: false, antiAffinity: false };
  const maxPerZone = constraints.maxPerZone ?? null;
  const zoned = constraints.zoneSpread || maxPerZone !== null;
  const score = scoreFunction(f, strategy);
  const prng = createPrng(input.seed ?? 0);
  let cursor = -1;
  if (input.cursor != null) for (let i = 0; i < f.n; i++) if ((f.ids[i] as string) <= input.cursor) cursor = i;

  const tracks = new Map<string, { nodes: Set<number>; zoneCounts: Int32Array }>();
  const track = (id: string) => {
    let t = tracks.get(id);
    if (!t) tracks.set(id, (t = { nodes: new Set(), zoneCounts: new Int32Array(f.zones.length) }));
    return t;
  };
  const existing = new Map<string, string>();
  for (const e of input.existing ?? []) {
    existing.set(e.agentId, e.nodeId);
    const i = f.indexOf.get(e.nodeId);
    if (i === undefined) continue;
    const t = track(e.clusterId);
    t.nodes.add(i);
    t.zoneCounts[f.zoneOf[i] as number]++;
  }

  const assignments: Assignment[] = [];
  const unplaced: Unplaced[] = [];
  const seen = new Set<string>();
  // As place() documents: once an agent of a cluster and class fits nowhere, later ones of the
  // same cluster and class fit nowhere either (usage only grows), and get the same diagnosis.
  const failures = new Map<string, Diagnosis>();
  for (const agent of input.agents) {
    if (seen.has(agent.agentId)) {
      unplaced.push({ agentId: agent.agentId, reason: 'duplicate_agent', message: `agent '${agent.agentId}' appears twice in the batch` });
      continue;
    }
    seen.add(agent.agentId);
    const prior = existing.get(agent.agentId);
    if (prior !== undefined) {
      assignments.push({ agentId: agent.agentId, nodeId: prior });
      continue;
    }
    const services = [...new Set(agent.requiredServices ?? [])].sort();
    const labels = Object.entries(agent.requiredLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    const { cpu, memoryMb: mem } = agent.resources;
    const t = track(agent.clusterId);
    const feasible = (i: number, tier: number): boolean => {
      const node = f.nodes[i] as NodeSnapshot;
      return (
        f.schedulable[i] === 1 &&
        f.standby[i] === tier &&
        services.every((s) => node.services.includes(s)) &&
        labels.every(([k, v]) => node.labels[k] === v) &&
        !(strategy === 'health-based' && f.critical[i] === 1) &&
        fitsResources(f, i, cpu, mem) &&
        !(constraints.antiAffinity && t.nodes.has(i)) &&
        !(maxPerZone !== null && (t.zoneCounts[f.zoneOf[i] as number] as number) >= maxPerZone)
      );
    };
    let chosen = -1;
    for (const tier of [0, 1]) {
      let candidates: number[] = [];
      for (let i = 0; i < f.n; i++) if (feasible(i, tier)) candidates.push(i);
      if (candidates.length === 0) continue;
      if (zoned) {
        let best = -1;
        for (const i of candidates) {
          const z = f.zoneOf[i] as number;
          if (best < 0 || (t.zoneCounts[z] as number) < (t.zoneCounts[best] as number) || ((t.zoneCounts[z] as number) === (t.zoneCounts[best] as number) && z < best)) best = z;
        }
        candidates = candidates.filter((i) => f.zoneOf[i] === best);
      }
      if (score) {
        for (const i of candidates) {
          if (chosen < 0 || score(i) < score(chosen) || (score(i) === score(chosen) && (f.tieRank[i] as number) < (f.tieRank[chosen] as number))) chosen = i;
        }
      } else if (strategy === 'random') {
        chosen = candidates[prng.nextInt(candidates.length)] as number;
      } else {
        chosen = candidates.find((i) => i > cursor) ?? (candidates[0] as number);
      }
      break;
    }
    if (chosen < 0) {
      const key = `${agent.clusterId}\u0000${JSON.stringify([services, labels])}|${cpu}|${mem}`;
      const why = failures.get(key) ?? diagnose(f, { services, labels, cpu, mem }, t, constraints.antiAffinity, maxPerZone, strategy);
      failures.set(key, why);
      unplaced.push({ agentId: agent.agentId, ...why });
      continue;
    }
    f.usedCpu[chosen] = (f.usedCpu[chosen] as number) + cpu;
    f.usedMem[chosen] = (f.usedMem[chosen] as number) + mem;
    f.usedAgents[chosen] = (f.usedAgents[chosen] as number) + 1;
    t.nodes.add(chosen);
    t.zoneCounts[f.zoneOf[chosen] as number]++;
    if (strategy === 'round-robin') cursor = chosen;
    assignments.push({ agentId: agent.agentId, nodeId: f.ids[chosen] as string });
  }
  const lastCursor = strategy === 'round-robin' && cursor >= 0 ? (f.ids[cursor] ?? null) : (input.cursor ?? null);
  return { assignments, unplaced, cursor: lastCursor };
}
