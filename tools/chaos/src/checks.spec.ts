import { describe, expect, it } from '@jest/globals';
import { checkAcknowledgedCommands, checkAgents, checkRecovery, checkEventsInStream, checkReadModels, checkTasks, DOUBLE_RUN_SAMPLES, diffRows, renderReport, sampleDoubleRuns, type KeyedEvent } from './checks.ts';
import { mulberry32 } from './random.ts';

const ev = (key: string, revision: number, type: string, position: number, streamId = 'cluster-a'): KeyedEvent => ({ key, streamId, revision, type, position: String(position) });

describe('checkAcknowledgedCommands', () => {
  it('passes when each acknowledged command appended its events once', () => {
    const r = checkAcknowledgedCommands(
      [
        { key: 'k1', what: 'create', status: 201, eventTypes: ['ClusterCreated', 'AgentSpawned'], position: '11' },
        { key: 'k2', what: 'scale', status: 200, eventTypes: [], position: null },
      ],
      [ev('k1', 0, 'ClusterCreated', 10), ev('k1', 1, 'AgentSpawned', 11)],
    );
    expect(r.pass).toBe(true);
  });

  it('finds a missing, a duplicated and a mismatched command', () => {
    const r = checkAcknowledgedCommands(
      [
        { key: 'gone', what: 'update', status: 200, eventTypes: ['ClusterUpdated'], position: '5' },
        { key: 'twice', what: 'update', status: 200, eventTypes: ['ClusterUpdated'], position: '6' },
        { key: 'other', what: 'update', status: 200, eventTypes: ['ClusterUpdated'], position: '9' },
      ],
      [ev('twice', 3, 'ClusterUpdated', 6), ev('twice', 4, 'ClusterUpdated', 7), ev('other', 5, 'ClusterScaled', 9)],
    );
    expect(r.pass).toBe(false);
    expect(r.figures).toContain('missing 1, duplicated 1, mismatched 1');
  });
});

describe('checkReadModels', () => {
  it('compares rows as multisets', () => {
    expect(diffRows(['a', 'b', 'b'], ['b', 'a', 'b'])).toEqual({ onlyLive: [], onlyRebuilt: [] });
    expect(diffRows(['a', 'b', 'b'], ['b', 'c'])).toEqual({ onlyLive: ['a', 'b'], onlyRebuilt: ['c'] });
    expect(checkReadModels([{ table: 't', live: ['x'], rebuilt: ['x'] }]).pass).toBe(true);
    expect(checkReadModels([{ table: 't', live: ['x'], rebuilt: ['y'] }]).pass).toBe(false);
  });
});

describe('checkTasks', () => {
  it('accepts a task known completed from its announcement once its record is gone', () => {
    const r = checkTasks([
      { id: 't1', recordStatus: 'completed', completedAttempts: [1], finalFailures: 0, deadLetters: 0 },
      { id: 't2', recordStatus: null, completedAttempts: [1, 1], finalFailures: 0, deadLetters: 0 },
      { id: 't3', recordStatus: 'dead_lettered', completedAttempts: [], finalFailures: 1, deadLetters: 1 },
    ]);
    expect(r.pass).toBe(true);
    expect(r.figures).toContain('2 completed, 1 dead-lettered (1 known from announcements only)');
  });

  it('fails on a lost, an unfinished and a twice-run task', () => {
    const r = checkTasks([
      { id: 'lost', recordStatus: null, completedAttempts: [], finalFailures: 0, deadLetters: 0 },
      { id: 'stuck', recordStatus: 'queued', completedAttempts: [], finalFailures: 0, deadLetters: 0 },
      { id: 'twice', recordStatus: 'completed', completedAttempts: [1, 2], finalFailures: 0, deadLetters: 0 },
    ]);
    expect(r.pass).toBe(false);
    expect(r.figures).toContain('lost 1, unfinished 1, failed 0, twice 1');
  });

  it('counts a task that ran twice under the same attempt number (queued again after the store was lost) as twice', () => {
    const r = checkTasks([
      { id: 'again', recordStatus: 'completed', completedAttempts: [1, 1], timedCompletions: 2, finalFailures: 0, deadLetters: 0, beforeWipe: true },
      { id: 'once', recordStatus: 'completed', completedAttempts: [1, 1], timedCompletions: 1, finalFailures: 0, deadLetters: 0, beforeWipe: true },
    ]);
    expect(r.pass).toBe(false);
    expect(r.figures).toContain('twice 1');
    expect(r.problems.join('\n')).toContain('again: ended more than once');
  });
});

describe('checkAgents', () => {
  const cluster = { id: 'c', status: 'active', desired: 2, agents: [{ id: 'a1', state: 'idle', nodeId: 'n1' }, { id: 'a2', state: 'idle', nodeId: 'n2' }] };

  it('passes when every desired agent runs once, on its node', () => {
    const r = checkAgents([cluster], [
      { nodeId: 'n1', agents: [{ agentId: 'a1', clusterId: 'c', state: 'idle' }] },
      { nodeId: 'n2', agents: [{ agentId: 'a2', clusterId: 'c', state: 'busy' }] },
    ]);
    expect(r.pass).toBe(true);
  });

  it('finds an agent on two nodes, a lost one and a stray one', () => {
    const r = checkAgents(
      [{ ...cluster, desired: 3 }],
      [
        { nodeId: 'n1', agents: [{ agentId: 'a1', clusterId: 'c', state: 'idle' }, { agentId: 'a2', clusterId: 'c', state: 'idle' }] },
        { nodeId: 'n2', agents: [{ agentId: 'a2', clusterId: 'c', state: 'idle' }, { agentId: 'zz', clusterId: 'gone', state: 'idle' }] },
      ],
    );
    expect(r.pass).toBe(false);
    expect(r.figures).toContain('lost 1, off their node 0, on two nodes 1 (during the run 0), stray 1');
  });
});

describe('sampleDoubleRuns', () => {
  it('counts an agent on two nodes only once it stays there for DOUBLE_RUN_SAMPLES samples', () => {
    const streaks = new Map<string, number>();
    const seen = new Map<string, string[]>();
    const both = [
      { nodeId: 'n1', agents: [{ agentId: 'a', clusterId: 'c', state: 'idle' }] },
      { nodeId: 'n2', agents: [{ agentId: 'a', clusterId: 'c', state: 'starting' }] },
    ];
    sampleDoubleRuns(both, streaks, seen);
    sampleDoubleRuns([both[1]!], streaks, seen); // moved: only on n2 now
    for (let i = 0; i < DOUBLE_RUN_SAMPLES - 1; i++) sampleDoubleRuns(both, streaks, seen);
    expect(seen.size).toBe(0);
    sampleDoubleRuns(both, streaks, seen);
    expect([...seen]).toEqual([['a', ['n1', 'n2']]]);
    expect(checkAgents([], [], seen).pass).toBe(false);
  });
});

describe('checkEventsInStream', () => {
  it('finds missing, duplicated and unknown messages', () => {
    const log = [{ id: 'e1', position: '1' }, { id: 'e2', position: '2' }, { id: 'e3', position: '3' }];
    expect(checkEventsInStream(log, [{ id: 'e1', seq: 1, position: '1' }, { id: 'e2', seq: 2, position: '2' }, { id: 'e3', seq: 3, position: '3' }]).pass).toBe(true);
    const r = checkEventsInStream(log, [{ id: 'e1', seq: 1, position: '1' }, { id: 'e1', seq: 2, position: '1' }, { id: 'x', seq: 3, position: '9' }]);
    expect(r.figures).toContain('missing 2, duplicated 1, unknown 1');
    expect(renderReport([r])).toMatch(/^FAIL/);
  });
});

describe('mulberry32', () => {
  it('replays the same sequence from the same seed', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe('checkRecovery', () => {
  const ok = { settled: true, unsettled: [], roles: [{ role: 'relay', leader: 'o-1', members: ['o-1'] }], tasks: [{ clusterId: 'c', status: 'completed' }], commandStatus: 200, afterWipe: { tasks: 10, commands: 3 } };

  it('passes when the system settled, every role is led and the probes succeed', () => {
    expect(checkRecovery(ok).pass).toBe(true);
  });

  it('fails on a leaderless role, a probe task that is not accepted, or a refused command', () => {
    expect(checkRecovery({ ...ok, roles: [{ role: 'relay', leader: null, members: ['o-1'] }] }).pass).toBe(false);
    expect(checkRecovery({ ...ok, tasks: [{ clusterId: 'c', status: 'not accepted (503)' }] }).pass).toBe(false);
    expect(checkRecovery({ ...ok, commandStatus: 503 }).pass).toBe(false);
    expect(checkRecovery({ ...ok, settled: false, unsettled: ['orchestrator down'] }).problems[0]).toContain('orchestrator down');
  });
});
