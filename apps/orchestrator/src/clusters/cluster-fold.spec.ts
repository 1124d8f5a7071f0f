import { describe, expect, it } from '@jest/globals';
import { clusterDecider, fold as foldEvents, hierarchy, type ClusterEvent } from '@flotilla/domain';
import type { StoredEvent } from '@flotilla/eventstore';
import { churnHistory } from '../testing/churn-history.js';
import { diffFold } from './cluster-diff.js';
import { ClusterFold } from './cluster-fold.js';
import { clusterViewFromRow } from './cluster.views.js';

const stored = (events: readonly ClusterEvent[]): StoredEvent[] =>
  events.map((e, i) => ({
    id: `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    type: e.type,
    streamId: 'cluster-churn',
    revision: BigInt(i),
    position: BigInt((i + 1) * 10),
    occurredAt: new Date(String((e.data as { at: string }).at)),
    data: e.data as unknown as Record<string, unknown>,
    metadata: { tenantId: 'default', actor: 'test', correlationId: 'c', causationId: null, traceparent: null, schemaVersion: 1 },
  }));

const HISTORY = stored(churnHistory({ clusterId: 'churn', events: 3000 }));

const foldOf = (events: readonly StoredEvent[], from = ClusterFold.empty('churn')) => {
  for (const e of events) from.apply(e);
  return from;
};
/** What the views read from a fold: the cluster row, the agents a live list shows, the hierarchy. */
const views = (f: ClusterFold) => ({
  cluster: clusterViewFromRow(f.cluster!, { running: 0, runningWorkers: 0 }, null),
  agents: [...f.agents.values()].filter((a) => a.state !== 'stopped').sort((a, b) => a.id.localeCompare(b.id)),
  hierarchy: hierarchy(f.state),
  position: f.position,
  revision: f.revision,
});

describe('ClusterFold: a cluster as it was after any event of its stream', () => {
  it.each([1, 250, 1000, 2999])('resumed from a snapshot taken after %i events (through JSON), it reaches the views of a fold from the start', (cut) => {
    const full = foldOf(HISTORY);
    const snapshot = JSON.parse(JSON.stringify(foldOf(HISTORY.slice(0, cut)).toSnapshot()));
    const resumed = foldOf(HISTORY.slice(cut), ClusterFold.fromSnapshot('churn', snapshot));
    expect(views(resumed)).toEqual(views(full));
    expect(resumed.base).toBe(HISTORY[cut - 1]!.position);
  });

  it('dropping superseded stopped agents on the way keeps the hierarchy the decider alone would show', () => {
    const events = churnHistory({ clusterId: 'churn', events: 3000 });
    for (const cut of [300, 1234, 3000]) {
      const raw = foldEvents(clusterDecider, events.slice(0, cut));
      expect(hierarchy(foldOf(HISTORY.slice(0, cut)).state)).toEqual(hierarchy(raw));
    }
  });

  it('a snapshot holds the agents alive and one stopped agent per slot, not the whole history', () => {
    const fold = foldOf(HISTORY);
    const stopped = [...fold.agents.values()].filter((a) => a.state === 'stopped').length;
    expect(stopped).toBeGreaterThan(200);
    const snapshot = fold.toSnapshot();
    expect(snapshot.agents.every((a) => a.state !== 'stopped')).toBe(true);
    expect(snapshot.state.status !== 'none' && Object.keys(snapshot.state.agents).length).toBeLessThanOrEqual(4);
  });
});

describe('diffFold: what changed between two moments', () => {
  // One cycle of the churn: scale up to 2 (a worker spawned and started), then back down to 1.
  const start = HISTORY.findIndex((e) => e.type === 'ScalingDecided');
  const upEnd = HISTORY.findIndex((e, i) => i > start && e.type === 'ClusterScaled') + 1;
  const cycleEnd = HISTORY.findIndex((e, i) => i >= upEnd && e.type === 'ClusterScaled') + 1;

  it('scaling up: the target and the new worker, each with the events that changed it', () => {
    const { changes, agents } = diffFold(foldOf(HISTORY.slice(0, start)), HISTORY.slice(start, upEnd));
    expect(changes.find((c) => c.field === 'target_workers')).toEqual({
      field: 'target_workers',
      from: 1,
      to: 2,
      events: [HISTORY.find((e, i) => i >= start && e.type === 'ClusterScalingStarted')!.position.toString()],
    });
    expect(agents).toEqual([
      expect.objectContaining({ agent_id: 'hand-c0', changes: ['added'], from_state: null, to_state: 'idle', to_node: 'node-a' }),
    ]);
    expect(agents[0]!.events).toHaveLength(3);
  });

  it('a whole cycle: the target changed and changed back is no change; the worker was added and stopped', () => {
    const { changes, agents } = diffFold(foldOf(HISTORY.slice(0, start)), HISTORY.slice(start, cycleEnd));
    expect(changes.map((c) => c.field)).not.toContain('target_workers');
    expect(agents).toEqual([expect.objectContaining({ agent_id: 'hand-c0', changes: ['added', 'stopped'], to_state: 'stopped' })]);
  });

  it('a worker that failed and was replaced on the other node has moved', () => {
    const failed = HISTORY.findIndex((e) => e.type === 'AgentFailed');
    const started = HISTORY.findIndex((e, i) => i > failed && e.type === 'AgentStarted') + 1;
    const { agents } = diffFold(foldOf(HISTORY.slice(0, failed)), HISTORY.slice(failed, started));
    expect(agents).toEqual([
      expect.objectContaining({ agent_id: 'hand-c9', changes: ['moved'], from_state: 'starting', to_state: 'idle', from_node: 'node-b', to_node: 'node-a' }),
    ]);
  });
});
