// The first run: `npm start` then the seeds' walkthrough (create the marketing example, scale it
// up). Every example blueprint must run at its own maxWorkers on the one local node out of the
// box, or the walkthrough ends with a degraded cluster ("no matching node has room").
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseBlueprint, resolveBlueprint } from '@flotilla/domain';
import { LOCAL_NODE_CAPACITY } from './node-env.ts';

const dir = path.join(import.meta.dirname, '..', '..', '..', 'examples', 'blueprints');

describe('the first run: the example blueprints on the default local node', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it.each(files)('%s runs at its maxWorkers on one local node', (file) => {
    // Resolved as the orchestrator resolves it: defaults filled in, each agent with its resources.
    const bp = resolveBlueprint(parseBlueprint(fs.readFileSync(path.join(dir, file), 'utf8')));
    const size = (a: (typeof bp.agents)[number]) => a.resources;
    const fixed = bp.agents.filter((a) => a.role !== 'worker');
    const workers = bp.agents.filter((a) => a.role === 'worker');
    // Workers are split by weight between the worker kinds; count each at the largest size.
    const worker = workers.reduce((m, a) => ({ cpu: Math.max(m.cpu, size(a).cpu), memoryMb: Math.max(m.memoryMb, size(a).memoryMb) }), { cpu: 0, memoryMb: 0 });
    const n = workers.length ? bp.cluster.maxWorkers : 0;
    const need = {
      cpu: fixed.reduce((s, a) => s + (a.count ?? 1) * size(a).cpu, 0) + n * worker.cpu,
      memoryMb: fixed.reduce((s, a) => s + (a.count ?? 1) * size(a).memoryMb, 0) + n * worker.memoryMb,
      agents: fixed.reduce((s, a) => s + (a.count ?? 1), 0) + n,
    };
    expect(need.cpu).toBeLessThanOrEqual(LOCAL_NODE_CAPACITY.cpu);
    expect(need.memoryMb).toBeLessThanOrEqual(LOCAL_NODE_CAPACITY.memoryMb);
    expect(need.agents).toBeLessThanOrEqual(LOCAL_NODE_CAPACITY.maxAgents);
  });
});
