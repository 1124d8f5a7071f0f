import type { ClusterDiff } from '@flotilla/contracts';
import type { StoredEvent } from '@flotilla/eventstore';
import type { ClusterAgentRow, ClusterRow } from '@flotilla/projections';
import type { ClusterFold } from './cluster-fold.js';
import { clusterViewFromRow } from './cluster.views.js';

type AgentChange = ClusterDiff['agents'][number];
type FieldChange = ClusterDiff['changes'][number];

/** The fields of a cluster's view that its own events set (counts and health are measured, not recorded). */
const FIELDS = [
  'status',
  'name',
  'description',
  'blueprint_version',
  'min_workers',
  'max_workers',
  'target_workers',
  'desired_agents',
  'circuit',
  'degraded_reason',
  'backup_cluster',
  'policy',
] as const;

function fieldsOf(row: ClusterRow | null): Record<string, unknown> {
  if (!row) return {};
  const view = clusterViewFromRow(row, { running: 0, runningWorkers: 0 }, null) as Record<string, unknown>;
  return Object.fromEntries(FIELDS.map((f) => [f, view[f]]));
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What changed between the moment `fold` holds and the end of `events` (the stream's next events,
 * in order): each cluster field whose value differs at the end, each agent whose state or node
 * differs, each with the positions of the events that touched it. `fold` is advanced to the end.
 * A field changed and changed back is not a change; its events are in `events` all the same.
 */
export function diffFold(fold: ClusterFold, events: readonly StoredEvent[]): Pick<ClusterDiff, 'changes' | 'agents'> {
  const initialFields = fieldsOf(fold.cluster);
  const fieldEvents = new Map<string, string[]>();
  const initialAgents = new Map<string, ClusterAgentRow | null>();
  const agentEvents = new Map<string, string[]>();

  for (const e of events) {
    const before = fieldsOf(fold.cluster);
    const agentId = typeof e.data['agentId'] === 'string' ? e.data['agentId'] : null;
    if (agentId !== null && !initialAgents.has(agentId)) initialAgents.set(agentId, fold.agents.get(agentId) ?? null);
    const agentBefore = agentId === null ? null : (fold.agents.get(agentId) ?? null);
    fold.apply(e);
    const after = fieldsOf(fold.cluster);
    for (const f of FIELDS) {
      if (!same(before[f], after[f])) fieldEvents.set(f, [...(fieldEvents.get(f) ?? []), e.position.toString()]);
    }
    if (agentId !== null && fold.agents.get(agentId) !== agentBefore) {
      agentEvents.set(agentId, [...(agentEvents.get(agentId) ?? []), e.position.toString()]);
    }
  }

  const finalFields = fieldsOf(fold.cluster);
  const changes: FieldChange[] = [];
  for (const f of FIELDS) {
    if (!fieldEvents.has(f) || same(initialFields[f], finalFields[f])) continue;
    changes.push({ field: f, from: initialFields[f] ?? null, to: finalFields[f] ?? null, events: fieldEvents.get(f)! });
  }

  const agents: AgentChange[] = [];
  for (const [agentId, positions] of agentEvents) {
    const from = initialAgents.get(agentId) ?? null;
    const to = fold.agents.get(agentId) ?? null;
    const kinds = agentChanges(from, to);
    if (kinds.length === 0 || !to) continue;
    agents.push({
      agent_id: agentId,
      name: to.name,
      role: to.role,
      ordinal: to.ordinal,
      changes: kinds,
      from_state: from?.state ?? null,
      to_state: to.state,
      from_node: from?.nodeId ?? null,
      to_node: to.nodeId ?? null,
      events: positions,
    });
  }
  return { changes, agents };
}

function agentChanges(from: ClusterAgentRow | null, to: ClusterAgentRow | null): AgentChange['changes'] {
  if (!to) return [];
  const kinds: AgentChange['changes'] = [];
  if (!from) kinds.push('added');
  if (to.state === 'stopped' && from?.state !== 'stopped') kinds.push('stopped');
  if (to.state === 'failed' && from?.state !== 'failed') kinds.push('failed');
  if (from?.nodeId && to.nodeId && from.nodeId !== to.nodeId) kinds.push('moved');
  if (from && kinds.length === 0 && from.state !== to.state) kinds.push('state');
  return kinds;
}
