import { parseBlueprint } from '../blueprint/blueprint.parse.js';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import type { Blueprint } from '../blueprint/blueprint.schema.js';
import type { ResolvedBlueprint } from '../blueprint/blueprint.types.js';
import { readExample } from './files.js';

export const marketingBlueprint = (): Blueprint => parseBlueprint(readExample('marketing.yaml'));
export const marketingResolved = (): ResolvedBlueprint => resolveBlueprint(marketingBlueprint());

/** A small blueprint for decider tables: supervisor, one lead, one specialist, workers 1–5 (target 2). */
export function smallBlueprint(overrides: { keepFixedAgents?: boolean; minWorkers?: number; targetWorkers?: number; maxWorkers?: number } = {}): Blueprint {
  return {
    apiVersion: 'flotilla/v1',
    kind: 'Blueprint',
    metadata: { id: 'small-v1', name: 'Small', version: '1.0.0' },
    cluster: {
      type: 'team',
      minWorkers: overrides.minWorkers ?? 1,
      targetWorkers: overrides.targetWorkers ?? 2,
      maxWorkers: overrides.maxWorkers ?? 5,
      hibernation: { keepFixedAgents: overrides.keepFixedAgents ?? true },
    },
    agents: [
      { name: 'boss', role: 'supervisor', runtime: { kind: 'builtin', handler: 'echo' } },
      { name: 'lead', role: 'lead', runtime: { kind: 'builtin', handler: 'echo' } },
      { name: 'expert', role: 'specialist', reportsTo: 'lead', runtime: { kind: 'builtin', handler: 'echo' } },
      { name: 'worker', role: 'worker', reportsTo: 'lead', runtime: { kind: 'builtin', handler: 'sleep' } },
    ],
  };
}
