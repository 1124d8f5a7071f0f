import { describe, expect, it } from '@jest/globals';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import { fold } from '../decider.js';
import { marketingResolved, smallBlueprint } from '../testing/blueprints.js';
import type { ClusterCommand } from './cluster.commands.js';
import { clusterDecider } from './cluster.decider.js';
import type { ClusterEvent } from './cluster.events.js';
import { agentCounts, desiredAgents, type HierarchyNode, hierarchy, missingAgents, runningWorkers, workerPool } from './cluster.queries.js';

const NOW = '2026-03-01T10:00:00.000Z';
const cmd = (type: ClusterCommand['type'], data: object): ClusterCommand => ({ type, data, metadata: { now: NOW } }) as ClusterCommand;
function run(commands: ClusterCommand[]): ClusterEvent[] {
  const events: ClusterEvent[] = [];
  for (const c of commands) events.push(...clusterDecider.decide(c, fold(clusterDecider, events)));
  return events;
}

describe('cluster queries', () => {
  const marketing = marketingResolved();
  const created = run([cmd('CreateCluster', { clusterId: 'mkt', tenantId: 'acme', name: 'Marketing', blueprint: marketing })]);

  it('desiredAgents: fixed agents by count, then the worker pool split by weight', () => {
    const desired = desiredAgents(fold(clusterDecider, created));
    expect(desired.filter((d) => d.role !== 'worker').map((d) => `${d.name}#${d.ordinal}`)).toEqual([
      'campaign-director#0',
      'content-lead#0',
      'growth-lead#0',
      'copywriter#0',
      'copywriter#1',
      'seo-specialist#0',
      'social-media-specialist#0',
      'analytics-specialist#0',
    ]);
    // Weights 2 (content) and 1 (research): content, content, research, content, content, research.
    expect(desired.filter((d) => d.role === 'worker').map((d) => `${d.name}#${d.ordinal}`)).toEqual([
      'content-worker#0',
      'content-worker#1',
      'research-worker#2',
      'content-worker#3',
      'content-worker#4',
      'research-worker#5',
    ]);
    expect(workerPool(marketing.agents, 0)).toEqual([]);
  });

  it('missingAgents: desired minus live agents, failed slots included', () => {
    const bp = resolveBlueprint(smallBlueprint());
    const h = run([
      cmd('CreateCluster', { clusterId: 'c1', tenantId: 'acme', name: 'C1', blueprint: bp }),
      cmd('SpawnAgents', { agents: [{ agentId: 'a-boss', name: 'boss', ordinal: 0 }, { agentId: 'a-w0', name: 'worker', ordinal: 0 }] }),
      cmd('RecordAgentFailed', { agentId: 'a-w0', reason: 'x' }),
    ]);
    const state = fold(clusterDecider, h);
    expect(missingAgents(state).map((d) => `${d.name}#${d.ordinal}`)).toEqual(['lead#0', 'expert#0', 'worker#0', 'worker#1']);
    expect(agentCounts(state)).toEqual({ desired: 5, running: 0, live: 1, desiredWorkers: 2, runningWorkers: 0 });
    expect(missingAgents(clusterDecider.initialState())).toEqual([]);
  });

  it('hierarchy: supervisor → leads → specialists → workers, missing positions included', () => {
    const h = run([
      cmd('CreateCluster', { clusterId: 'mkt', tenantId: 'acme', name: 'Marketing', blueprint: marketing }),
      cmd('SpawnAgents', { agents: [{ agentId: 'a-dir', name: 'campaign-director', ordinal: 0 }, { agentId: 'a-cw0', name: 'content-worker', ordinal: 0 }] }),
      cmd('RecordAgentStarted', { agentId: 'a-dir', nodeId: 'node-1' }),
    ]);
    const tree = hierarchy(fold(clusterDecider, h)) as HierarchyNode;
    expect(tree).toMatchObject({ name: 'campaign-director', role: 'supervisor', agentId: 'a-dir', state: 'idle', nodeId: 'node-1' });
    const names = (n: HierarchyNode): string[] => n.children.map((c) => `${c.name}#${c.ordinal}`);
    expect(names(tree)).toEqual(['content-lead#0', 'growth-lead#0']);
    const content = tree.children[0] as HierarchyNode;
    expect(names(content)).toEqual(['copywriter#0', 'copywriter#1', 'seo-specialist#0', 'content-worker#0', 'content-worker#1', 'content-worker#3', 'content-worker#4']);
    expect(content.state).toBe('missing');
    expect(content.children.find((c) => c.name === 'content-worker' && c.ordinal === 0)).toMatchObject({ agentId: 'a-cw0', state: 'pending' });
    expect(names(tree.children[1] as HierarchyNode)).toEqual(['social-media-specialist#0', 'analytics-specialist#0', 'research-worker#2', 'research-worker#5']);
    const count = (n: HierarchyNode): number => 1 + n.children.reduce((s, c) => s + count(c), 0);
    expect(count(tree)).toBe(14);
    expect(hierarchy(clusterDecider.initialState())).toBeNull();
  });

  it('hierarchy shows workers on their way out as not desired', () => {
    const bp = resolveBlueprint(smallBlueprint());
    const h = run([
      cmd('CreateCluster', { clusterId: 'c1', tenantId: 'acme', name: 'C1', blueprint: bp }),
      cmd('SpawnAgents', { agents: [['a-boss', 'boss'], ['a-lead', 'lead'], ['a-expert', 'expert'], ['a-w0', 'worker'], ['a-w1', 'worker', 1]].map(([agentId, name, ordinal]) => ({ agentId, name, ordinal: ordinal ?? 0 })) }),
      ...['a-boss', 'a-lead', 'a-expert', 'a-w0', 'a-w1'].map((agentId) => cmd('RecordAgentStarted', { agentId, nodeId: 'node-1' })),
      cmd('ScaleCluster', { targetWorkers: 1, reason: 'quiet', source: 'manual' }),
    ]);
    const state = fold(clusterDecider, h);
    const lead = hierarchy(state)?.children[0] as HierarchyNode;
    expect(lead.children.map((c) => [c.name, c.ordinal, c.state, c.desired])).toEqual([
      ['expert', 0, 'idle', true],
      ['worker', 0, 'idle', true],
      ['worker', 1, 'stopping', false],
    ]);
    expect(runningWorkers(state).map((a) => a.agentId)).toEqual(['a-w0']);
  });
});
