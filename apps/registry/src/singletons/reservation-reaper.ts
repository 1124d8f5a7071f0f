import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { Fence } from '@flotilla/leadership';
import { CONFIG, LOGGER } from '@flotilla/platform';
import type { ReadModelOrm } from '@flotilla/projections';
import type { Logger } from '@flotilla/telemetry';
import { sleep } from '../infrastructure/concurrency.js';
import { nowIso, systemContext } from '../infrastructure/request-context.js';
import { FENCE, READ_MODELS } from '../infrastructure/tokens.js';
import { DirectoryFeed } from '../nodes/directory-feed.js';
import { NodeCommands } from '../nodes/node-commands.service.js';
import { NodeDirectory, type NodeEntry } from '../nodes/node-directory.js';

export const RESERVATION_REAPER_ROLE = 'reservation-reaper';

/** Cluster-agent states in which the cluster still wants the agent where it is. */
const LIVE_STATES = new Set(['pending', 'starting', 'idle', 'busy', 'orphaned', 'stopping']);

/** An agent as the orchestrator's read model (`cluster_agents`, from the cluster streams) has it. */
export interface ClusterAgentRow {
  readonly id: string;
  readonly node_id: string | null;
  readonly state: string;
}

export interface StaleAssignment {
  readonly nodeId: string;
  readonly agentId: string;
  readonly clusterId: string;
  readonly ageMs: number;
}

/** Assignments old enough to need a confirmation (and not confirmed by their node's fresh heartbeat). */
export function agedAssignments(
  entries: Iterable<NodeEntry>,
  nowMs: number,
  ttlMs: number,
): StaleAssignment[] {
  const out: StaleAssignment[] = [];
  for (const entry of entries) {
    for (const a of Object.values(entry.state.assignments)) {
      const ageMs = nowMs - Date.parse(a.at);
      if (ageMs > ttlMs)
        out.push({ nodeId: entry.nodeId, agentId: a.agentId, clusterId: a.clusterId, ageMs });
    }
  }
  return out;
}

/**
 * Which aged assignments nobody confirms. The cluster's view decides when it has one: the
 * assignment is confirmed while the cluster holds the agent live on that node, or live anywhere
 * while the node reports running it (a move make-before-break, before the cluster recorded the
 * move). An agent the cluster has failed or stopped is not confirmed even if a node still runs
 * it (that node is told to stop it by the release). Without a cluster row (the agent was placed
 * by a caller other than the orchestrator) the node's report alone confirms it.
 */
export function unconfirmed(
  aged: readonly StaleAssignment[],
  directory: NodeDirectory,
  rows: ReadonlyMap<string, ClusterAgentRow>,
  nowMs: number,
  freshMs: number,
): StaleAssignment[] {
  return aged.filter((a) => {
    const entry = directory.get(a.nodeId);
    const reading = entry?.reading;
    const heard = entry?.lastHeartbeatMs;
    const reportedByNode =
      !!reading &&
      heard !== null &&
      heard !== undefined &&
      nowMs - heard <= freshMs &&
      reading.agents.some((r) => r.agentId === a.agentId);
    const row = rows.get(a.agentId);
    if (!row) return !reportedByNode;
    if (!LIVE_STATES.has(row.state)) return true;
    return !(row.node_id === a.nodeId || reportedByNode);
  });
}

/**
 * Keeps placements from leaking capacity (DESIGN, "Two services, two streams"). The registry
 * records an assignment before the orchestrator records the placement on the cluster stream; a
 * crash in between, a reconciler that gave up on an agent (failed it after its start timeout),
 * or a move whose source release was lost would otherwise hold a node's capacity for good.
 *
 * Mechanism: every assignment older than RESERVATION_TTL_MS must be confirmed, either by the
 * cluster (the orchestrator's `cluster_agents` read model says the agent lives on that node) or
 * by the node (its latest heartbeat lists the agent), see `unconfirmed`. What neither confirms
 * is released (ReleaseAgent, reason "reservation expired"), so the node agent stops it if it
 * runs and the capacity returns. The TTL is well above the orchestrator's placement-to-start path
 * (a few seconds) and its projection lag, and the reconciler re-places any agent it still wants
 * (placement is idempotent by agent id), so a premature release heals itself.
 */
@Injectable()
export class ReservationReaper {
  constructor(
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly nodes: NodeCommands,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal, term: number): Promise<void> {
    await this.feed.whenReady(60_000, signal);
    // Claim the fence at once; every release then carries it into its append.
    await this.fence.admit(RESERVATION_REAPER_ROLE, term);
    const ttl = this.config.RESERVATION_TTL_MS;
    const every = Math.min(5000, Math.max(250, Math.floor(ttl / 3)));
    while (!signal.aborted) {
      await this.sweep(term, signal);
      await sleep(every, signal);
    }
  }

  /** One pass: release what nobody confirms. Returns what it released. */
  async sweep(term: number, signal?: AbortSignal): Promise<StaleAssignment[]> {
    const now = Date.now();
    const aged = agedAssignments(this.directory.entries(), now, this.config.RESERVATION_TTL_MS);
    if (aged.length === 0) return [];
    const rows = await this.clusterAgents(aged.map((a) => a.agentId));
    const expired = unconfirmed(
      aged,
      this.directory,
      rows,
      Date.now(),
      this.config.NODE_OFFLINE_AFTER_MS,
    );
    const released: StaleAssignment[] = [];
    for (const a of expired) {
      if (signal?.aborted) break;
      const result = await this.nodes.execute(
        a.nodeId,
        {
          type: 'ReleaseAgent',
          data: {
            agentId: a.agentId,
            reason: `reservation expired: neither node '${a.nodeId}' nor cluster '${a.clusterId}' confirmed it within ${Math.round(this.config.RESERVATION_TTL_MS / 1000)} s`,
          },
          metadata: { now: nowIso() },
        },
        systemContext(RESERVATION_REAPER_ROLE, { role: RESERVATION_REAPER_ROLE, term }),
      );
      if (result.events.length > 0) released.push(a);
    }
    if (released.length > 0)
      this.logger.warn(
        {
          released: released.length,
          agents: released.slice(0, 20).map((a) => `${a.agentId}@${a.nodeId}`),
        },
        'released unconfirmed assignments',
      );
    return released;
  }

  private async clusterAgents(agentIds: readonly string[]): Promise<Map<string, ClusterAgentRow>> {
    const out = new Map<string, ClusterAgentRow>();
    const em = this.orm.em.fork();
    for (let i = 0; i < agentIds.length; i += 500) {
      const chunk = agentIds.slice(i, i + 500);
      const rows = await em.execute<ClusterAgentRow[]>(
        'SELECT id, node_id, state FROM cluster_agents WHERE id IN (?)',
        [chunk],
      );
      for (const row of rows) out.set(row.id, row);
    }
    return out;
  }
}
