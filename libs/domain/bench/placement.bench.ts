/**
 * Placement benchmark: 100,000 agents on 10,000 nodes with every strategy, without constraints
 * and with zone spread + anti-affinity, plus the naive O(agents × nodes) least-loaded scan as a
 * baseline measured in the same run. Prints a JSON document, then a table.
 *
 *   npm run bench:placement                       (from the repository root)
 *   BENCH_AGENTS=20000 BENCH_NODES=2000 BENCH_BASELINE_AGENTS=2000 npm run bench:placement
 *
 * CPU time is process.cpuUsage() (user + system) around one place() call, after a warm-up run.
 * Erasable TypeScript only: Node runs it directly (type stripping) with the sources loaded
 * through scripts/source-hooks.ts.
 */
import os from 'node:os';
import '../scripts/source-hooks.ts';

type Strategy = 'round-robin' | 'least-loaded' | 'least-agents' | 'random' | 'weighted' | 'health-based';
interface Constraints {
  zoneSpread: boolean;
  antiAffinity: boolean;
  maxPerZone?: number | null;
}
interface Result {
  assignments: readonly { agentId: string; nodeId: string }[];
  unplaced: readonly { agentId: string; reason: string }[];
}
type PlaceFn = (input: { agents: readonly unknown[]; nodes: readonly unknown[]; strategy: Strategy; constraints?: Constraints; seed?: number }) => Result;

const { place } = (await import('../src/placement/placement.ts')) as { place: PlaceFn };
const { naivePlace } = (await import('../src/placement/testing/naive-placement.ts')) as { naivePlace: PlaceFn };
const { syntheticFleet } = (await import('../src/placement/testing/synthetic-fleet.ts')) as {
  syntheticFleet: (nodes: number, agents: number, seed?: string) => { nodes: unknown[]; agents: unknown[] };
};

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const NODES = envInt('BENCH_NODES', 10_000);
const AGENTS = envInt('BENCH_AGENTS', 100_000);
const BASELINE_AGENTS = Math.min(AGENTS, envInt('BENCH_BASELINE_AGENTS', 10_000));
const TARGET_MS = 1000;

const STRATEGIES: Strategy[] = ['round-robin', 'least-loaded', 'least-agents', 'random', 'weighted', 'health-based'];
const CONSTRAINTS: { name: string; constraints: Constraints }[] = [
  { name: 'none', constraints: { zoneSpread: false, antiAffinity: false } },
  { name: 'zone-spread+anti-affinity', constraints: { zoneSpread: true, antiAffinity: true } },
];

const fleet = syntheticFleet(NODES, AGENTS);
const warmup = syntheticFleet(1000, 5000, 'warm-up');

function measure(fn: () => Result): { result: Result; cpuMs: number; wallMs: number } {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const result = fn();
  const used = process.cpuUsage(cpu);
  return { result, cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - wall };
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

const results = [];
for (const strategy of STRATEGIES) {
  for (const { name, constraints } of CONSTRAINTS) {
    place({ agents: warmup.agents, nodes: warmup.nodes, strategy, constraints, seed: 1 });
    const { result, cpuMs, wallMs } = measure(() => place({ agents: fleet.agents, nodes: fleet.nodes, strategy, constraints, seed: 42 }));
    results.push({
      strategy,
      constraints: name,
      placed: result.assignments.length,
      unplaced: result.unplaced.length,
      cpuMs: round(cpuMs),
      wallMs: round(wallMs),
      cpuUsPerAgent: round((cpuMs * 1000) / AGENTS, 2),
      withinTarget: cpuMs < TARGET_MS,
    });
  }
}

// Baseline: the naive scan, on a slice when the full run would take minutes; per-agent cost is
// what compares. Both implementations place the same slice; their results must be identical.
const slice = fleet.agents.slice(0, BASELINE_AGENTS);
naivePlace({ agents: warmup.agents.slice(0, 500), nodes: warmup.nodes, strategy: 'least-loaded' });
const naive = measure(() => naivePlace({ agents: slice, nodes: fleet.nodes, strategy: 'least-loaded' }));
const fast = measure(() => place({ agents: slice, nodes: fleet.nodes, strategy: 'least-loaded' }));
const naivePerAgentUs = (naive.cpuMs * 1000) / BASELINE_AGENTS;
const fastFull = results.find((r) => r.strategy === 'least-loaded' && r.constraints === 'none');
const baseline = {
  implementation: 'naive least-loaded: scan every node for every agent, O(agents × nodes)',
  agents: BASELINE_AGENTS,
  nodes: NODES,
  cpuMs: round(naive.cpuMs),
  cpuUsPerAgent: round(naivePerAgentUs, 2),
  extrapolatedCpuMsForAllAgents: round((naivePerAgentUs * AGENTS) / 1000),
  fastSameSliceCpuMs: round(fast.cpuMs),
  identicalToFast: JSON.stringify(naive.result) === JSON.stringify(fast.result),
  speedupPerAgent: fastFull ? round(naivePerAgentUs / fastFull.cpuUsPerAgent, 0) : null,
};

const report = {
  benchmark: 'placement',
  node: process.version,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  nodes: NODES,
  agents: AGENTS,
  targetCpuMsPerStrategy: TARGET_MS,
  results,
  baseline,
  allWithinTarget: results.every((r) => r.withinTarget),
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n\n`);

const rows = [
  ['strategy', 'constraints', 'placed', 'unplaced', 'cpu ms', 'wall ms', 'cpu µs/agent', '< 1 s'],
  ...results.map((r) => [r.strategy, r.constraints, r.placed, r.unplaced, r.cpuMs, r.wallMs, r.cpuUsPerAgent, r.withinTarget ? 'yes' : 'NO']),
  [`naive least-loaded (${BASELINE_AGENTS} agents)`, 'none', baseline.agents, '', baseline.cpuMs, round(naive.wallMs), baseline.cpuUsPerAgent, ''],
].map((row) => row.map(String));
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
const line = (row: string[]): string => row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
process.stdout.write(`${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.slice(1).map(line).join('\n')}\n`);
process.stdout.write(
  `\nnaive baseline: ${baseline.cpuUsPerAgent} µs/agent → ~${round(baseline.extrapolatedCpuMsForAllAgents / 1000, 1)} s for ${AGENTS} agents; ` +
    `place() least-loaded: ${fastFull?.cpuUsPerAgent} µs/agent (${baseline.speedupPerAgent}× faster per agent); same result on the slice: ${baseline.identicalToFast}\n`,
);
if (!report.allWithinTarget) process.exitCode = 1;
