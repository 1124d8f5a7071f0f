import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { CLUSTER_LIMITS, ValidationError } from '@flotilla/domain';
import * as contracts from './index.js';
import { orchestratorRoutes } from './orchestrator.js';
import { registryRoutes } from './registry.js';
import type { Route } from './route.js';
import { parseOrThrow } from './validation.js';

/** Every route any service answers, whichever group it belongs to (a new group is included too). */
const ROUTES: readonly Route[] = Object.entries(contracts)
  .filter(([name]) => name.endsWith('Routes'))
  .flatMap(([, group]) => Object.values(group as Record<string, Route>));

interface Def {
  readonly type: string;
  readonly [key: string]: unknown;
}
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** Paths of the objects in a schema that would let an unknown key through (stripped or kept). */
function openObjects(schema: unknown, path = '', seen = new Set<unknown>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const catchall = def['catchall'] as z.ZodType | undefined;
      const open = catchall === undefined || defOf(catchall).type !== 'never' ? [path || '(root)'] : [];
      const shape = def['shape'] as Record<string, unknown>;
      return [...open, ...Object.entries(shape).flatMap(([k, v]) => openObjects(v, path ? `${path}.${k}` : k, seen))];
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return openObjects(def['innerType'], path, seen);
    case 'array':
      return openObjects(def['element'], `${path}[]`, seen);
    case 'union':
      return (def['options'] as unknown[]).flatMap((o) => openObjects(o, path, seen));
    case 'record':
      return openObjects(def['valueType'], `${path}{}`, seen);
    case 'pipe':
      return openObjects(def['in'], path, seen);
    case 'lazy':
      return openObjects((def['getter'] as () => unknown)(), path, seen);
    default:
      return [];
  }
}

function issuesOf(fn: () => unknown): readonly { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

describe('unknown request fields are refused, naming them', () => {
  it('every request schema of every route is strict at every level', () => {
    expect(ROUTES.length).toBeGreaterThan(40);
    const open = ROUTES.flatMap((r) => openObjects(r.request).map((p) => `${r.subject}: ${p}`));
    expect(open).toEqual([]);
  });

  it('names each unknown field by its path, nested ones included', () => {
    const issues = issuesOf(() =>
      parseOrThrow(registryRoutes.registerNode.request, {
        hostname: 'h',
        address: '10.0.0.1',
        capacity: { cpu: 1, memory_mb: 512, max_agents: 2, gpu: 1 },
        colour: 'blue',
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['capacity.gpu', 'colour']);
    expect(issues.every((i) => /unknown field/.test(i.message))).toBe(true);
  });

  it('refuses a misspelt field instead of ignoring it (target_worker for target_workers)', () => {
    const issues = issuesOf(() => parseOrThrow(orchestratorRoutes.scaleCluster.request, { id: 'cluster-x', target_worker: 3 }));
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['target_worker']));
  });
});

describe("seed bodies are accepted as they are", () => {
  it("takes seed 002's node registration (id, hostname, ip_address, port, max_agents, services), capacity defaulted", () => {
    const parsed = parseOrThrow(registryRoutes.registerNode.request, {
      id: 'node-2',
      hostname: 'worker1',
      ip_address: '10.0.0.2',
      port: 8152,
      max_agents: 20,
      services: ['wrapper', 'database'],
    });
    expect(parsed).toMatchObject({
      node_id: 'node-2',
      hostname: 'worker1',
      address: '10.0.0.2:8152',
      services: ['wrapper', 'database'],
      capacity: { max_agents: 20, cpu: 10, memory_mb: 10240 },
    });
  });

  it('still takes the node agent’s own registration, and refuses two different ids or addresses', () => {
    const own = parseOrThrow(registryRoutes.registerNode.request, {
      node_id: 'node-a',
      hostname: 'h',
      address: '10.0.0.3',
      capacity: { cpu: 4, memory_mb: 4096, max_agents: 8 },
    });
    expect(own).toMatchObject({ node_id: 'node-a', address: '10.0.0.3', capacity: { cpu: 4, memory_mb: 4096, max_agents: 8 } });
    const both = issuesOf(() => parseOrThrow(registryRoutes.registerNode.request, { id: 'node-a', node_id: 'node-b', hostname: 'h', ip_address: '10.0.0.1', address: '10.0.0.2' }));
    expect(both.map((i) => i.path).sort()).toEqual(['address', 'node_id']);
    const conflicting = issuesOf(() => parseOrThrow(registryRoutes.registerNode.request, { hostname: 'h', address: '10.0.0.2', max_agents: 3, capacity: { cpu: 1, memory_mb: 512, max_agents: 4 } }));
    expect(conflicting.map((i) => i.path)).toEqual(['max_agents']);
    expect(issuesOf(() => parseOrThrow(registryRoutes.registerNode.request, { hostname: 'h' })).map((i) => i.path)).toEqual(['address']);
  });

  it('creates a cluster under a client-chosen `id` (cluster_id stays an alias)', () => {
    expect(parseOrThrow(orchestratorRoutes.createCluster.request, { id: 'marketing-prod', blueprint_id: 'marketing-v1', name: 'M' })).toMatchObject({ cluster_id: 'marketing-prod' });
    expect(parseOrThrow(orchestratorRoutes.createCluster.request, { cluster_id: 'marketing-prod', blueprint_id: 'marketing-v1', name: 'M' })).toMatchObject({ cluster_id: 'marketing-prod' });
    const both = issuesOf(() => parseOrThrow(orchestratorRoutes.createCluster.request, { id: 'a-cluster', cluster_id: 'b-cluster', blueprint_id: 'marketing-v1', name: 'M' }));
    expect(both.map((i) => i.path)).toEqual(['cluster_id']);
  });
});

describe('a limit lives in one place', () => {
  const create = (over: Record<string, unknown>) => ({ blueprint_id: 'marketing-v1', name: 'm', ...over });

  it('the cluster requests take their limits from the cluster schemas of the domain (CLUSTER_LIMITS, 10,000 workers)', () => {
    const { createCluster, updateCluster, scaleCluster } = orchestratorRoutes;
    const ok = (r: Route, v: unknown) => r.request.safeParse(v).success;
    expect(ok(createCluster, create({ description: 'd'.repeat(CLUSTER_LIMITS.description) }))).toBe(true);
    expect(ok(createCluster, create({ description: 'd'.repeat(CLUSTER_LIMITS.description + 1) }))).toBe(false);
    expect(ok(createCluster, create({ name: 'n'.repeat(CLUSTER_LIMITS.name + 1) }))).toBe(false);
    expect(ok(createCluster, create({ name: '   ' }))).toBe(false);
    expect(ok(updateCluster, { id: 'c-1', max_workers: 10_000 })).toBe(true);
    expect(ok(updateCluster, { id: 'c-1', max_workers: 10_001 })).toBe(false);
    expect(ok(scaleCluster, { id: 'c-1', target_workers: 1, reason: 'r'.repeat(CLUSTER_LIMITS.reason) })).toBe(true);
    expect(ok(scaleCluster, { id: 'c-1', target_workers: 1, reason: 'r'.repeat(CLUSTER_LIMITS.reason + 1) })).toBe(false);
  });
});

describe('each route says once who may call it and what its reply is', () => {
  it('has an access level, and the command envelope exactly where the reply is {result, position, events, duplicate}', () => {
    for (const r of ROUTES) {
      expect([r.subject, contracts.ACCESS_LEVELS.includes(r.access)]).toEqual([r.subject, true]);
      const shape = defOf(r.response).type === 'object' ? Object.keys((defOf(r.response)['shape'] as object) ?? {}) : [];
      const envelope = ['result', 'position', 'events', 'duplicate'].every((k) => shape.includes(k));
      expect([r.subject, r.commandReply]).toEqual([r.subject, envelope]);
    }
    // Every mutation a person can ask for through the gateway decides and appends: its reply is the envelope,
    // except the task intake (202 with the task) and the fleet and key operations, which answer with their view.
    expect(ROUTES.filter((r) => r.commandReply).map((r) => r.subject).sort()).toEqual(
      [
        'orchestrator.blueprints.deprecate',
        'orchestrator.blueprints.register',
        'orchestrator.budgets.record',
        'orchestrator.clusters.create',
        'orchestrator.clusters.decommission',
        'orchestrator.clusters.hibernate',
        'orchestrator.clusters.reactivate',
        'orchestrator.clusters.rollout.pause',
        'orchestrator.clusters.rollout.resume',
        'orchestrator.clusters.rollout.undo',
        'orchestrator.clusters.scale',
        'orchestrator.clusters.update',
        'orchestrator.clusters.upgrade',
        'orchestrator.scaling.apply',
      ].sort(),
    );
  });

  it('takes dry_run exactly on the cluster and placement commands a person asks for, and each of those accepts it', () => {
    const dry = ROUTES.filter((r) => r.dryRun);
    expect(dry.map((r) => r.subject).sort()).toEqual(
      [
        'orchestrator.clusters.create',
        'orchestrator.clusters.decommission',
        'orchestrator.clusters.hibernate',
        'orchestrator.clusters.reactivate',
        'orchestrator.clusters.rollout.pause',
        'orchestrator.clusters.rollout.resume',
        'orchestrator.clusters.rollout.undo',
        'orchestrator.clusters.scale',
        'orchestrator.clusters.update',
        'orchestrator.clusters.upgrade',
        'registry.nodes.drain',
        'registry.strategy.set',
      ].sort(),
    );
    for (const r of dry.filter((x) => x.service === 'orchestrator')) expect([r.subject, r.commandReply]).toEqual([r.subject, true]);
    const scale = contracts.orchestratorRoutes.scaleCluster.request;
    expect(scale.safeParse({ id: 'c-1', target_workers: 1, dry_run: 'true' }).data).toMatchObject({ dry_run: true });
    expect(scale.safeParse({ id: 'c-1', target_workers: 1 }).data).toMatchObject({ dry_run: false });
  });
});
