import { describe, expect, it } from '@jest/globals';
import { resolveBlueprint } from '../blueprint/blueprint.resolve.js';
import type { ResolvedBlueprint } from '../blueprint/blueprint.types.js';
import { fold } from '../decider.js';
import { RuleViolationError } from '../errors.js';
import { smallBlueprint } from '../testing/blueprints.js';
import { thrownBy } from '../testing/decider-spec.js';
import type { ClusterCommand } from './cluster.commands.js';
import { clusterDecider } from './cluster.decider.js';
import type { ClusterEvent } from './cluster.events.js';
import { hierarchy, runningWorkers, type HierarchyNode } from './cluster.queries.js';
import type { ExistingCluster } from './cluster.state.js';
import { planReconciliation } from './reconciliation.js';
import { activeSmallCluster, clusterEvents } from './testing/cluster-events.js';

const NOW = '2026-03-01T10:00:00.000Z';
const base = smallBlueprint({ targetWorkers: 3 });
const v1 = resolveBlueprint(base);
/** Version 2 changes the workers' runtime (and nothing else). */
const v2 = resolveBlueprint({
  ...base,
  metadata: { ...base.metadata, version: '2.0.0' },
  agents: base.agents.map((a) => (a.role === 'worker' ? { ...a, runtime: { kind: 'builtin' as const, handler: 'echo' } } : a)),
});
const ev = clusterEvents({ at: NOW, blueprint: v1 });
const active: ClusterEvent[] = activeSmallCluster(ev);

const cmd = (type: ClusterCommand['type'], data: Record<string, unknown> = {}): ClusterCommand => ({ type, data, metadata: { now: NOW } }) as ClusterCommand;
const upgrade = (blueprint: ResolvedBlueprint, maxSurge = 1, maxUnavailable = 0, extra: Record<string, unknown> = {}) => cmd('StartRollout', { blueprint, maxSurge, maxUnavailable, ...extra });
const stateOf = (history: readonly ClusterEvent[]) => fold(clusterDecider, history) as ExistingCluster;

/** A log the test appends to through the decider, as the services would. */
function cluster(history: ClusterEvent[] = [...active]) {
  let n = 0;
  const log = [...history];
  const run = (command: ClusterCommand) => {
    const events = clusterDecider.decide(command, stateOf(log));
    log.push(...events);
    return events;
  };
  return {
    log,
    run,
    state: () => stateOf(log),
    /** What the reconciler does for a due wave: new ids for its slots. */
    wave: () => {
      const plan = planReconciliation(stateOf(log), new Map([['node-1', 'online']]), Date.parse(NOW), { stopTimeoutMs: 1e9, startTimeoutMs: 1e9, spawnTimeoutMs: 1e9 }).find((a) => a.kind === 'wave');
      if (!plan || plan.kind !== 'wave') return null;
      return run(cmd('SpawnRolloutWave', { wave: plan.wave, agents: plan.agents.map((d) => ({ agentId: `a-new${n++}`, name: d.name, ordinal: d.ordinal })) }));
    },
    /** The node starts an agent. */
    start: (agentId: string) => [...run(cmd('RecordAgentPlaced', { agentId, nodeId: 'node-1' })), ...run(cmd('RecordAgentStarted', { agentId, nodeId: 'node-1' }))],
    /** The node confirms the stops it was asked for. */
    stopAll: () => Object.values(stateOf(log).agents).filter((a) => a.state === 'stopping').flatMap((a) => run(cmd('RecordAgentStopped', { agentId: a.agentId }))),
  };
}

const types = (events: readonly ClusterEvent[]) => events.map((e) => e.type);
const newAgentsOf = (events: readonly ClusterEvent[]) => events.filter((e) => e.type === 'AgentSpawned').map((e) => (e.data as { agentId: string }).agentId);

describe('rolling upgrades', () => {
  it('replaces the agents whose spec changes, one wave at a time, starting each new agent before its old one stops', () => {
    const c = cluster();
    const started = c.run(upgrade(v2, 1, 0));
    expect(types(started)).toEqual(['RolloutStarted']);
    expect(started[0]!.data).toMatchObject({ rollout: 1, fromVersion: '1.0.0', toVersion: '2.0.0', slots: ['worker#0', 'worker#1', 'worker#2'], maxSurge: 1, maxUnavailable: 0, undo: false });
    expect(c.state()).toMatchObject({ blueprintVersion: '2.0.0', rollout: { status: 'rolling', total: 3 } });
    const serving: number[] = [];
    for (let wave = 1; wave <= 3; wave++) {
      const spawned = c.wave()!;
      expect(types(spawned)).toEqual(['RolloutWaveStarted', 'AgentSpawned']);
      expect(spawned[1]!.data).toMatchObject({ name: 'worker', ordinal: wave - 1, blueprintVersion: '2.0.0', replaces: `a-w${wave - 1}`, specHash: v2.agents.find((a) => a.name === 'worker')!.specHash });
      expect(c.wave()).toBeNull(); // one wave at a time
      // The hierarchy shows the slot's running agent while its replacement starts.
      const flat = (n: HierarchyNode): HierarchyNode[] => [n, ...n.children.flatMap(flat)];
      expect(flat(hierarchy(c.state())!).find((n) => n.name === 'worker' && n.ordinal === wave - 1)).toMatchObject({ agentId: `a-w${wave - 1}`, state: 'idle' });
      serving.push(runningWorkers(c.state()).length);
      const ran = c.start(newAgentsOf(spawned)[0]!);
      serving.push(runningWorkers(c.state()).filter((a) => a.specHash === v2.agents.find((x) => x.name === 'worker')!.specHash).length);
      expect(types(ran)).toEqual(wave < 3 ? ['AgentPlaced', 'AgentStarted', 'RolloutWaveCompleted', 'AgentStopRequested'] : ['AgentPlaced', 'AgentStarted', 'RolloutWaveCompleted', 'AgentStopRequested', 'RolloutCompleted']);
      expect(ran.find((e) => e.type === 'AgentStopRequested')!.data).toMatchObject({ agentId: `a-w${wave - 1}`, reason: expect.stringContaining(`wave ${wave}`) });
      c.stopAll();
      serving.push(runningWorkers(c.state()).length);
    }
    // Never fewer than the target of 3 serving with max_unavailable 0.
    expect(Math.min(...serving.filter((_, i) => i % 3 !== 1))).toBe(3);
    expect(c.state().rollout).toMatchObject({ status: 'completed', waves: 3, pending: [], replaced: 3 });
    expect(c.log.at(-2)!).toMatchObject({ type: 'RolloutCompleted', data: { rollout: 1, version: '2.0.0', waves: 3, replaced: 3 } });
    expect(c.state().status).toBe('active');
    expect(runningWorkers(c.state()).every((a) => a.blueprintVersion === '2.0.0')).toBe(true);
  });

  it('with max_surge 0 stops up to max_unavailable old agents first', () => {
    const c = cluster();
    c.run(upgrade(v2, 0, 2));
    const spawned = c.wave()!;
    expect(types(spawned)).toEqual(['RolloutWaveStarted', 'AgentSpawned', 'AgentStopRequested', 'AgentSpawned', 'AgentStopRequested']);
    expect(spawned[0]!.data).toMatchObject({ wave: 1, slots: [{ slot: 'worker#0', mode: 'stop_first' }, { slot: 'worker#1', mode: 'stop_first' }] });
    c.stopAll();
    expect(runningWorkers(c.state())).toHaveLength(1); // 3 − max_unavailable
    expect(c.state().status).toBe('active');
    for (const id of newAgentsOf(spawned)) c.start(id);
    const last = c.wave()!;
    expect(types(c.start(newAgentsOf(last)[0]!))).toContain('RolloutCompleted');
  });

  it('a new agent that fails stops the rollout, keeps the old agents serving, and undo goes back to the previous version', () => {
    const c = cluster();
    c.run(upgrade(v2, 2, 0));
    const spawned = c.wave()!;
    const [bad, other] = newAgentsOf(spawned);
    c.start(other!);
    const failed = c.run(cmd('RecordAgentFailed', { agentId: bad!, reason: "the runtime cannot start: API key env 'X' is not set" }));
    expect(types(failed)).toEqual(['AgentFailed', 'RolloutFailed', 'AgentStopRequested']);
    expect(failed[1]!.data).toMatchObject({ rollout: 1, wave: 1, agentId: bad, reason: expect.stringContaining('API key') });
    expect(failed[2]!.data).toMatchObject({ agentId: other });
    c.stopAll();
    const s = c.state();
    expect(s.status).toBe('active'); // not degraded: every slot is still held
    expect(s.rollout).toMatchObject({ status: 'failed' });
    expect(runningWorkers(s).map((a) => a.agentId)).toEqual(['a-w0', 'a-w1', 'a-w2']);
    expect(c.wave()).toBeNull();
    expect((thrownBy(() => c.run(cmd('ResumeRollout'))) as RuleViolationError).rule).toBe('rollout_not_paused');

    const undone = c.run(cmd('UndoRollout'));
    expect(types(undone)).toEqual(['RolloutStarted', 'RolloutCompleted']);
    expect(undone[0]!.data).toMatchObject({ rollout: 2, fromVersion: '2.0.0', toVersion: '1.0.0', undo: true, slots: [] });
    expect(c.state()).toMatchObject({ blueprintVersion: '1.0.0', rollout: { status: 'completed', undo: true } });
  });

  it('undo after some waves replaces the upgraded agents again with the previous spec', () => {
    const c = cluster();
    c.run(upgrade(v2, 1, 0, { pauseAfter: 1 }));
    const first = c.wave()!;
    const ran = c.start(newAgentsOf(first)[0]!);
    expect(types(ran).slice(-1)).toEqual(['RolloutPaused']);
    expect(ran.at(-1)!.data).toMatchObject({ wave: 1, reason: expect.stringContaining('pause_after') });
    c.stopAll();
    expect(c.wave()).toBeNull();
    const undone = c.run(cmd('UndoRollout', { reason: 'canary error rate' }));
    expect(undone[0]!.data).toMatchObject({ toVersion: '1.0.0', undo: true, slots: ['worker#0'], reason: 'canary error rate' });
    const back = c.wave()!;
    expect(back[1]!.data).toMatchObject({ ordinal: 0, blueprintVersion: '1.0.0', specHash: v1.agents.find((a) => a.name === 'worker')!.specHash });
    expect(types(c.start(newAgentsOf(back)[0]!))).toEqual(['AgentPlaced', 'AgentStarted', 'RolloutWaveCompleted', 'AgentStopRequested', 'RolloutCompleted']);
  });

  it('pause holds the next wave and resume releases it; an agent respawned before its slot is replaced keeps the old spec', () => {
    const c = cluster();
    c.run(upgrade(v2, 1, 0));
    expect(types(c.run(cmd('PauseRollout', { reason: 'looking at it' })))).toEqual(['RolloutPaused']);
    expect(c.run(cmd('PauseRollout'))).toEqual([]);
    expect(c.wave()).toBeNull();
    // worker#2 dies while paused: its respawn runs version 1.0.0's spec.
    c.run(cmd('RecordAgentFailed', { agentId: 'a-w2', reason: 'crashed' }));
    c.run(cmd('SpawnAgents', { agents: [{ agentId: 'a-w2b', name: 'worker', ordinal: 2 }] }));
    expect(c.state().agents['a-w2b']).toMatchObject({ blueprintVersion: '1.0.0', specHash: v1.agents.find((a) => a.name === 'worker')!.specHash });
    c.start('a-w2b');
    expect(types(c.run(cmd('ResumeRollout')))).toEqual(['RolloutResumed']);
    expect(c.wave()).not.toBeNull();
  });

  it('refuses another blueprint, a changed worker pool, and a second rollout; the same one again records nothing', () => {
    const c = cluster();
    const other = resolveBlueprint({ ...base, metadata: { ...base.metadata, id: 'other' } });
    expect(thrownBy(() => c.run(upgrade(other)))).toMatchObject({ issues: [{ path: 'blueprint' }] });
    const pool = resolveBlueprint({ ...base, metadata: { ...base.metadata, version: '3.0.0' }, agents: [...base.agents, { name: 'helper', role: 'worker' as const, reportsTo: 'lead', runtime: { kind: 'builtin' as const, handler: 'echo' } }] });
    expect((thrownBy(() => c.run(upgrade(pool))) as RuleViolationError).rule).toBe('rollout_pool_changed');
    expect(thrownBy(() => c.run(upgrade(v2, 0, 0)))).toMatchObject({ issues: [{ path: 'maxSurge' }] });
    c.run(upgrade(v2));
    expect(c.run(upgrade(v2))).toEqual([]);
    expect((thrownBy(() => c.run(upgrade(v1))) as RuleViolationError).rule).toBe('rollout_in_progress');
    expect(cluster().run(upgrade(v1))).toEqual([]);
  });
});
