import { createHash } from 'node:crypto';
import { clusterDecider, slotKey, type AgentRecord, type ClusterEvent, type ClusterState } from '@flotilla/domain';
import type { StoredEvent } from '@flotilla/eventstore';
import { clusterAgentsProjection, clustersProjection, type ClusterAgentRow, type ClusterRow } from '@flotilla/projections';

/**
 * One cluster as it was after one event of its stream, folded with the same decider and the same
 * projections that feed the live views: the decider's state (the hierarchy reads it), the
 * `clusters` row and the `cluster_agents` rows. Mutable while folding, for speed: a long
 * history under autoscaling holds thousands of agents, and copying them for every event would
 * make a fold quadratic.
 */
export class ClusterFold {
  private constructor(
    readonly clusterId: string,
    public revision: bigint,
    public position: bigint,
    public occurredAt: Date | null,
    public state: ClusterState,
    public cluster: ClusterRow | null,
    readonly agents: Map<string, ClusterAgentRow>,
    /** The position of the snapshot the fold started from (null: from the stream's start). */
    readonly base: bigint | null,
  ) {}

  static empty(clusterId: string): ClusterFold {
    return new ClusterFold(clusterId, -1n, 0n, null, clusterDecider.initialState(), null, new Map(), null);
  }

  private sinceCompaction = 0;

  /** Folds one event of the cluster's stream, in stream order. */
  apply(e: StoredEvent): void {
    this.state = clusterDecider.evolve(this.state, { type: e.type, data: e.data } as unknown as ClusterEvent);
    // The decider copies its agents on every agent event; under autoscaling most of them are
    // long stopped. Dropping the superseded ones every so often keeps a long fold linear.
    if (++this.sinceCompaction >= COMPACT_EVERY) {
      this.sinceCompaction = 0;
      this.state = withoutSupersededAgents(this.state);
    }
    if (clustersProjection.handles.has(e.type) && clustersProjection.keyOf(e) !== null) {
      this.cluster = clustersProjection.evolve(this.cluster, e) as ClusterRow | null;
    }
    const agentKey = clusterAgentsProjection.handles.has(e.type) ? clusterAgentsProjection.keyOf(e) : null;
    if (agentKey !== null) {
      const next = clusterAgentsProjection.evolve(this.agents.get(agentKey) ?? null, e) as ClusterAgentRow | null;
      if (next) this.agents.set(agentKey, next);
      else this.agents.delete(agentKey);
    }
    this.revision = e.revision;
    this.position = e.position;
    this.occurredAt = e.occurredAt;
  }

  /**
   * What a snapshot keeps, bounded by the agents alive rather than by the length of the history:
   * the `cluster_agents` rows of stopped agents are left out (a stopped row never changes again,
   * so a read finds it in the read model, by its position), and of the decider's stopped agents
   * only the latest of each slot stays, the one the hierarchy can still show.
   */
  toSnapshot(): SnapshotState {
    const state = withoutSupersededAgents(this.state);
    return {
      revision: this.revision.toString(),
      position: this.position.toString(),
      occurredAt: this.occurredAt?.toISOString() ?? null,
      state,
      cluster: this.cluster,
      agents: [...this.agents.values()].filter((a) => a.state !== 'stopped'),
    };
  }

  static fromSnapshot(clusterId: string, s: SnapshotState): ClusterFold {
    const agents = new Map(s.agents.map((row) => [row.id, reviveDates(row) as ClusterAgentRow]));
    return new ClusterFold(
      clusterId,
      BigInt(s.revision),
      BigInt(s.position),
      s.occurredAt ? new Date(s.occurredAt) : null,
      s.state,
      s.cluster ? (reviveDates(s.cluster) as ClusterRow) : null,
      agents,
      BigInt(s.position),
    );
  }
}

export interface SnapshotState {
  readonly revision: string;
  readonly position: string;
  readonly occurredAt: string | null;
  readonly state: ClusterState;
  readonly cluster: ClusterRow | null;
  readonly agents: readonly ClusterAgentRow[];
}

/** Every how many events a fold drops the decider's superseded agents. */
const COMPACT_EVERY = 250;

/**
 * The decider's state without the stopped agents the reads can no longer show: of each slot's
 * stopped agents only the latest stays (the hierarchy shows it while the slot has no live
 * agent); live, failed and every other agent stays as it is.
 */
export function withoutSupersededAgents(state: ClusterState): ClusterState {
  if (state.status === 'none') return state;
  const keep = new Map<string, AgentRecord>();
  const latestStopped = new Map<string, AgentRecord>();
  for (const agent of Object.values(state.agents)) {
    if (agent.state !== 'stopped') keep.set(agent.agentId, agent);
    else {
      const slot = slotKey(agent.name, agent.ordinal);
      const current = latestStopped.get(slot);
      if (!current || agent.since > current.since) latestStopped.set(slot, agent);
    }
  }
  if (keep.size + latestStopped.size === Object.keys(state.agents).length) return state;
  for (const agent of latestStopped.values()) keep.set(agent.agentId, agent);
  return { ...state, agents: Object.fromEntries(keep) };
}

/** Rows hold Dates; JSON holds their ISO strings. The row fields that are dates end in `At`. */
function reviveDates(row: object): object {
  const out: Record<string, unknown> = { ...row };
  for (const [key, value] of Object.entries(out)) {
    if (key.endsWith('At') && typeof value === 'string') out[key] = new Date(value);
  }
  return out;
}

/**
 * The version a snapshot is stored under: a snapshot folded by other code is never read. The
 * format number is raised by hand when what a snapshot holds changes; the fingerprint of the
 * three folds catches an edit of theirs that forgot to.
 */
const SNAPSHOT_FORMAT = 1;
export const SNAPSHOT_VERSION = `${SNAPSHOT_FORMAT}-${createHash('sha256')
  .update([clusterDecider.evolve, clustersProjection.evolve, clusterAgentsProjection.evolve].map(String).join('\n'))
  .digest('hex')
  .slice(0, 12)}`;

/** The agents of a moment a live read would list: live ones, or also stopped ones when asked. */
export function isListed(row: ClusterAgentRow, opts: { state?: string | undefined; includeStopped: boolean }): boolean {
  if (opts.state) return row.state === opts.state;
  return opts.includeStopped || row.state !== 'stopped';
}
