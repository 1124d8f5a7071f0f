import { Inject, Injectable } from '@nestjs/common';
import { registryRoutes, type PlacementAgent, type RequestIdentity } from '@flotilla/contracts';
import {
  isLive,
  missingAgents,
  newId,
  type AgentRecord,
  type ClusterCommand,
  type ExistingCluster,
} from '@flotilla/domain';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { Fence, FencedOutError } from '@flotilla/leadership';
import { Messaging, type RequestMeta } from '@flotilla/messaging';
import type { Config } from '@flotilla/config';
import { CONFIG, LOGGER } from '@flotilla/platform';
import type { ReadModelOrm } from '@flotilla/projections';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { EVENT_STORE, READ_MODELS } from '../infrastructure/tokens.js';
import { FENCE } from './tokens.js';

/** How long desired agents may stay unplaced before the cluster is degraded with the reason. */
export const PLACEMENT_GRACE_MS = 10_000;
/** A stop that no node confirms within this is recorded as done (the node is gone or lost it). */
export const STOP_TIMEOUT_MS = 15_000;
/** An agent placed but not started within this is failed, and its slot is spawned anew. */
export const START_TIMEOUT_MS = 60_000;
const SWEEP_MS = 2_000;

const ageMs = (since: string, at: number) => at - Date.parse(since);

/**
 * Makes every cluster's actual agents match its desired ones. Runs in one replica (a lease);
 * every command it issues carries its term, and the fence refuses them once a newer reconciler
 * has written. Driven by the log (a cluster's or node's event marks clusters dirty) and by a
 * periodic sweep for timeouts and anything missed.
 *
 * Crash safety across two services: agent ids are recorded on the cluster stream (AgentSpawned)
 * before the registry is asked to place them, so a retry after a crash places the same ids and
 * the registry answers with the placements it already made.
 */
@Injectable()
export class Reconciler {
  private readonly dirty = new Set<string>();
  private unplacedSince = new Map<string, number>();
  /** When this reconciler first saw each cluster spawning (a new leader starts the clock anew). */
  private readonly spawningSince = new Map<string, number>();
  /** Why the registry last refused to place some of each cluster's agents. */
  private readonly unplacedReasons = new Map<string, string>();
  private term = 0;

  constructor(
    private readonly clusters: ClustersService,
    private readonly messaging: Messaging,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  async run(signal: AbortSignal, term: number): Promise<void> {
    this.term = term;
    this.logger.info({ term }, 'reconciler leading');
    const watching = this.watch(signal);
    let lastSweep = 0;
    while (!signal.aborted) {
      if (Date.now() - lastSweep >= SWEEP_MS) {
        lastSweep = Date.now();
        for (const id of await this.activeClusters()) this.dirty.add(id);
      }
      const ids = [...this.dirty];
      this.dirty.clear();
      for (const id of ids) {
        if (signal.aborted) break;
        try {
          await this.reconcile(id);
        } catch (err) {
          if (err instanceof FencedOutError) {
            this.logger.warn({ err }, 'a newer reconciler leads; stopping');
            return;
          }
          this.logger.warn({ err, clusterId: id }, 'reconcile failed; retrying on the next pass');
        }
      }
      await sleep(this.dirty.size ? 0 : 100, signal);
    }
    await watching;
  }

  /** Marks clusters dirty as their events (or their nodes' events) are stored. */
  private async watch(signal: AbortSignal): Promise<void> {
    try {
      const sub = this.store.subscribeToAll({ after: await this.store.headPosition(), signal });
      for await (const batch of sub.pages()) {
        const nodes = new Set<string>();
        for (const e of batch) this.noteEvent(e, nodes);
        if (nodes.size) for (const id of await this.clustersOnNodes([...nodes])) this.dirty.add(id);
      }
    } catch (err) {
      if (!signal.aborted)
        this.logger.warn({ err }, 'reconciler watch ended; the sweep keeps going');
    }
  }

  private noteEvent(e: StoredEvent, nodes: Set<string>): void {
    if (e.streamId.startsWith('cluster-')) this.dirty.add(e.streamId.slice('cluster-'.length));
    else if (e.streamId.startsWith('node-')) {
      if (typeof e.data['clusterId'] === 'string') this.dirty.add(e.data['clusterId']);
      else nodes.add(e.streamId.slice('node-'.length));
    }
  }

  private async activeClusters(): Promise<string[]> {
    const rows = await this.orm.em
      .fork()
      .execute<{ id: string }[]>(`SELECT id FROM clusters WHERE status <> 'decommissioned'`);
    return rows.map((r) => r.id);
  }

  private async clustersOnNodes(nodeIds: string[]): Promise<string[]> {
    const rows = await this.orm.em
      .fork()
      .execute<{ cluster_id: string }[]>(
        `SELECT DISTINCT cluster_id FROM cluster_agents WHERE node_id IN (?) AND state NOT IN ('stopped', 'failed')`,
        [nodeIds],
      );
    return rows.map((r) => r.cluster_id);
  }

  private async nodeStatuses(nodeIds: string[]): Promise<Map<string, string>> {
    if (nodeIds.length === 0) return new Map();
    const rows = await this.orm.em
      .fork()
      .execute<{ id: string; status: string }[]>(
        `SELECT id, status FROM cluster_nodes WHERE id IN (?)`,
        [nodeIds],
      );
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  private meta(state: ExistingCluster): RequestMeta {
    const identity: RequestIdentity = {
      actor: 'reconciler',
      tenantId: state.tenantId,
      role: 'service',
    };
    return {
      subject: 'reconciler',
      identity,
      correlationId: undefined,
      idempotencyKey: undefined,
      traceparent: undefined,
    };
  }

  private async exec(state: ExistingCluster, command: ClusterCommand): Promise<ExistingCluster> {
    // Refused once a newer reconciler (a later term) has written: a paused leader cannot write late.
    await this.fence.admit('reconciler', this.term);
    await this.clusters.command(state.clusterId, command, this.meta(state), false, {
      fencingTerm: this.term,
    });
    return (await this.clusters.state(state.clusterId)) as ExistingCluster;
  }

  async reconcile(clusterId: string): Promise<void> {
    let state = await this.clusters.state(clusterId);
    if (state.status === 'none' || state.status === 'decommissioned') {
      this.spawningSince.delete(clusterId);
      this.unplacedReasons.delete(clusterId);
      return;
    }
    const at = Date.now();
    const stamp = () => ({ now: new Date().toISOString() });

    // 1. Spawn the desired agents that nobody holds yet (ids chosen here, before placement).
    const missing = missingAgents(state);
    if (missing.length) {
      state = await this.exec(state, {
        type: 'SpawnAgents',
        data: {
          agents: missing.map((d) => ({
            agentId: newId('agent'),
            name: d.name,
            ordinal: d.ordinal,
          })),
        },
        metadata: stamp(),
      });
    }

    const agents = Object.values(state.agents);
    const nodeIds = [...new Set(agents.filter((a) => isLive(a) && a.nodeId).map((a) => a.nodeId!))];
    const nodeStatus = await this.nodeStatuses(nodeIds);

    // 2. Agents on nodes that went offline are orphaned (the registry says so in its log).
    for (const a of agents) {
      if (!a.nodeId || !isLive(a) || a.state === 'orphaned' || a.state === 'pending') continue;
      const status = nodeStatus.get(a.nodeId);
      if (status === 'offline' || status === 'deregistered') {
        state = await this.exec(state, {
          type: 'RecordAgentOrphaned',
          data: { agentId: a.agentId, nodeId: a.nodeId },
          metadata: stamp(),
        });
      }
    }

    // 3. Place pending agents; re-place orphans elsewhere.
    const pending = Object.values(state.agents).filter((a) => a.state === 'pending');
    if (pending.length) state = await this.place(state, pending, undefined, at);
    const orphans = Object.values(state.agents).filter((a) => a.state === 'orphaned');
    for (const [from, group] of groupBy(orphans, (a) => a.nodeId ?? '')) {
      if (from) state = await this.place(state, group, { from, keepSource: false }, at);
    }

    // 4. Drain: start a replacement elsewhere first; the old instance stops once it runs.
    for (const a of Object.values(state.agents)) {
      if (a.state === 'idle' && a.nodeId && nodeStatus.get(a.nodeId) === 'draining') {
        await this.requestPlacement(state, [a], { from: a.nodeId, keepSource: true }).catch(
          (err: unknown) =>
            this.logger.warn({ err, agentId: a.agentId }, 'drain move not placed yet'),
        );
      }
    }

    // 5. Stops: tell the registry (idempotent); record stops nobody will confirm.
    const stopping = Object.values(state.agents).filter((a) => a.state === 'stopping');
    if (stopping.length) {
      await this.messaging
        .request(registryRoutes.release, {
          cluster_id: clusterId,
          agent_ids: stopping.map((a) => a.agentId),
          reason: 'stop requested',
        })
        .catch((err: unknown) =>
          this.logger.warn({ err, clusterId }, 'release not acknowledged yet'),
        );
      for (const a of stopping) {
        const gone =
          !a.nodeId || ['offline', 'deregistered', undefined].includes(nodeStatus.get(a.nodeId));
        if (gone || ageMs(a.since, at) > STOP_TIMEOUT_MS) {
          state = await this.exec(state, {
            type: 'RecordAgentStopped',
            data: {
              agentId: a.agentId,
              reason: gone
                ? 'its node is gone'
                : `no stop confirmation within ${STOP_TIMEOUT_MS / 1000} s`,
            },
            metadata: stamp(),
          });
        }
      }
    }

    // 6. Agents that never started are failed; their slots get new agents on the next pass, and
    // the registry releases them (the node stops whatever is left of them, the capacity frees).
    const timedOut: string[] = [];
    for (const a of Object.values(state.agents)) {
      if (a.state === 'starting' && ageMs(a.since, at) > START_TIMEOUT_MS) {
        state = await this.exec(state, {
          type: 'RecordAgentFailed',
          data: { agentId: a.agentId, reason: `did not start within ${START_TIMEOUT_MS / 1000} s` },
          metadata: stamp(),
        });
        if (a.nodeId) timedOut.push(a.agentId);
      }
    }
    if (timedOut.length) {
      await this.messaging
        .request(registryRoutes.release, {
          cluster_id: clusterId,
          agent_ids: timedOut,
          reason: `did not start within ${START_TIMEOUT_MS / 1000} s`,
        })
        .catch((err: unknown) =>
          this.logger.warn({ err, clusterId }, 'release of agents that never started not acknowledged'),
        );
    }
    // 7. A cluster that does not come up in time is degraded with the reason; it becomes active
    // (ClusterRecovered) once every desired agent runs.
    await this.spawnTimeout(state, at);
  }

  private async spawnTimeout(state: ExistingCluster, at: number): Promise<void> {
    if (state.status !== 'spawning') {
      this.spawningSince.delete(state.clusterId);
      return;
    }
    const since = this.spawningSince.get(state.clusterId) ?? at;
    this.spawningSince.set(state.clusterId, since);
    const limit = this.config.CLUSTER_SPAWN_TIMEOUT_MS;
    if (at - since < limit) return;
    const waiting = Object.values(state.agents).filter((a) => isLive(a) && a.state !== 'idle');
    const byState = [...groupBy(waiting, (a) => a.state)].map(([s, list]) => `${list.length} ${s}`).join(', ');
    const why = this.unplacedReasons.get(state.clusterId);
    const reason = `not active after ${Math.round(limit / 1000)} s: ${byState || 'agents not yet spawned'}${why ? ` (${why})` : ''}`;
    await this.exec(state, { type: 'MarkClusterDegraded', data: { reason }, metadata: { now: new Date().toISOString() } });
    this.spawningSince.delete(state.clusterId);
  }

  private async requestPlacement(
    state: ExistingCluster,
    agents: AgentRecord[],
    move?: { from: string; keepSource: boolean },
  ) {
    const placement = state.blueprint.cluster.placement;
    const toPlace: PlacementAgent[] = agents.map((a) => ({
      agent_id: a.agentId,
      name: a.name,
      role: a.role,
      capabilities: [...a.capabilities],
      runtime: { ...a.runtime },
      resources: { cpu: a.resources.cpu, memory_mb: a.resources.memoryMb },
    }));
    return this.messaging.request(registryRoutes.place, {
      cluster_id: state.clusterId,
      tenant_id: state.tenantId,
      ...(placement.strategy ? { strategy: placement.strategy } : {}),
      constraints: {
        required_services: [...placement.requiredServices],
        required_labels: { ...placement.requiredLabels },
        zone_spread: placement.zoneSpread,
        ...(placement.maxPerZone ? { max_per_zone: placement.maxPerZone } : {}),
        anti_affinity: placement.antiAffinity,
      },
      agents: toPlace,
      ...(move ? { move_from: move.from, keep_source: move.keepSource } : {}),
    });
  }

  private async place(
    state: ExistingCluster,
    agents: AgentRecord[],
    move: { from: string; keepSource: boolean } | undefined,
    at: number,
  ): Promise<ExistingCluster> {
    let reply;
    try {
      reply = await this.requestPlacement(state, agents, move);
    } catch (err) {
      this.logger.warn({ err, clusterId: state.clusterId }, 'placement request failed');
      return this.degradeIfStuck(
        state,
        agents,
        `placement unavailable: ${(err as Error).message}`,
        at,
      );
    }
    for (const a of reply.assignments) {
      const agent = state.agents[a.agent_id];
      if (!agent) continue;
      if (agent.state === 'pending') {
        state = await this.exec(state, {
          type: 'RecordAgentPlaced',
          data: { agentId: a.agent_id, nodeId: a.node_id },
          metadata: { now: new Date().toISOString() },
        });
      } else if (agent.state === 'orphaned' && agent.nodeId && agent.nodeId !== a.node_id) {
        state = await this.exec(state, {
          type: 'RecordAgentReplaced',
          data: { agentId: a.agent_id, fromNodeId: agent.nodeId, toNodeId: a.node_id },
          metadata: { now: new Date().toISOString() },
        });
      }
      this.unplacedSince.delete(a.agent_id);
    }
    if (!reply.unplaced.length) this.unplacedReasons.delete(state.clusterId);
    if (reply.unplaced.length) {
      const reasons = [...new Set(reply.unplaced.map((u) => u.reason))].join('; ');
      this.unplacedReasons.set(state.clusterId, `${reply.unplaced.length} cannot be placed: ${reasons}`);
      const stuck = agents.filter((a) => reply.unplaced.some((u) => u.agent_id === a.agentId));
      state = await this.degradeIfStuck(
        state,
        stuck,
        `${reply.unplaced.length} agent(s) cannot be placed: ${reasons}`,
        at,
      );
    }
    return state;
  }

  private async degradeIfStuck(
    state: ExistingCluster,
    agents: AgentRecord[],
    reason: string,
    at: number,
  ): Promise<ExistingCluster> {
    let oldest = at;
    for (const a of agents) {
      const since = this.unplacedSince.get(a.agentId) ?? at;
      this.unplacedSince.set(a.agentId, since);
      oldest = Math.min(oldest, since);
    }
    if (this.unplacedSince.size > 10_000)
      this.unplacedSince = new Map([...this.unplacedSince].slice(-5000));
    // Only a serving cluster degrades (the domain refuses the others: a spawning cluster that
    // cannot be placed stays spawning, and its agents' start timeouts tell the operator why).
    const serving =
      state.status === 'active' || state.status === 'scaling_up' || state.status === 'scaling_down';
    if (at - oldest < PLACEMENT_GRACE_MS || !serving) return state;
    return this.exec(state, {
      type: 'MarkClusterDegraded',
      data: { reason },
      metadata: { now: new Date().toISOString() },
    });
  }
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
