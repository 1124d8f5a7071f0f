import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { registryRoutes, type RequestIdentity } from '@flotilla/contracts';
import {
  newId,
  planReconciliation,
  type AgentRecord,
  type ClusterCommand,
  type ExistingCluster,
  type ReconcileAction,
  type ReconcileLimits,
} from '@flotilla/domain';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { Fence, FencedOutError } from '@flotilla/leadership';
import { Messaging, type RequestMeta } from '@flotilla/messaging';
import type { Config } from '@flotilla/config';
import { CONFIG, LOGGER, PG_POOL } from '@flotilla/platform';
import { NODE_STATUS_EVENTS, nodeStatusAfter } from '@flotilla/projections';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { placeRequestFor, type PlacementMove } from '../clusters/placement-request.js';
import { EVENT_STORE } from '../infrastructure/tokens.js';
import { CLOCK, FENCE, type Clock } from './tokens.js';

/** How long desired agents may stay unplaced before the cluster is degraded with the reason. */
export const PLACEMENT_GRACE_MS = 10_000;
/** A stop that no node confirms within this is recorded as done (the node is gone or lost it). */
export const STOP_TIMEOUT_MS = 15_000;
/** An agent placed but not started within this is failed, and its slot is spawned anew. */
export const START_TIMEOUT_MS = 60_000;
/** Every known cluster is planned again this often, for the time-based rules (timeouts). */
const SWEEP_MS = 2_000;
/** Plans per cluster per pass: each pass carries out what the last one changed (spawned → place). */
const MAX_PASSES = 4;

interface NodeView {
  status: string;
  adminStatus: string;
}

/**
 * Makes every cluster's actual agents match its desired ones. Runs in one replica (a lease).
 *
 * Planning is pure (`planReconciliation` in the domain) and works from memory: cluster states from
 * the command handler's cache (kept current by the log), node statuses folded from the node
 * streams, both starting from the read models and their checkpoints read in one snapshot so that
 * no event falls between them. A cluster is planned when its events (or its nodes' events) arrive
 * and on a periodic sweep for the timeouts, so a cluster with nothing to do costs no I/O at all.
 *
 * Every command it issues carries its term, and the fence refuses them once a newer reconciler
 * has written: a paused leader cannot write late. Crash safety across two services: agent ids are
 * recorded on the cluster stream (AgentSpawned) before the registry is asked to place them, so a
 * retry after a crash places the same ids and the registry answers with the placements it made.
 */
@Injectable()
export class Reconciler {
  private readonly known = new Set<string>();
  private readonly nodes = new Map<string, NodeView>();
  private readonly dirty = new Set<string>();
  private wake: (() => void) | undefined;
  private unplacedSince = new Map<string, number>();
  /** When this reconciler first saw each cluster spawning (a new leader starts the clock anew). */
  private readonly spawningSince = new Map<string, number>();
  /** Why the registry last refused to place some of each cluster's agents. */
  private readonly unplacedReasons = new Map<string, string>();
  private term = 0;
  private readonly limits: ReconcileLimits;

  constructor(
    private readonly clusters: ClustersService,
    private readonly messaging: Messaging,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(FENCE) private readonly fence: Fence,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG) config: Config,
  ) {
    this.limits = { stopTimeoutMs: STOP_TIMEOUT_MS, startTimeoutMs: START_TIMEOUT_MS, spawnTimeoutMs: config.CLUSTER_SPAWN_TIMEOUT_MS };
  }

  async run(signal: AbortSignal, term: number): Promise<void> {
    this.term = term;
    // Claim the fence at once: from here on any write carrying an older term is refused, even if
    // the deposed leader never learns that it was deposed.
    await this.fence.admit('reconciler', term);
    this.logger.info({ term }, 'reconciler leading');
    const from = await this.loadFleet();
    const watching = this.watch(signal, from);
    try {
      let lastSweep = 0;
      while (!signal.aborted) {
        if (this.clock() - lastSweep >= SWEEP_MS) {
          lastSweep = this.clock();
          for (const id of this.known) this.dirty.add(id);
        }
        const ids = [...this.dirty];
        this.dirty.clear();
        for (const id of ids) {
          if (signal.aborted) break;
          try {
            await this.reconcile(id);
          } catch (err) {
            // Superseded: a newer reconciler leads. The loop ends, and the runner reports it.
            if (err instanceof FencedOutError) throw err;
            this.logger.warn({ err, clusterId: id }, 'reconcile failed; retrying on the next pass');
          }
        }
        if (this.dirty.size === 0) await this.sleep(Math.max(0, SWEEP_MS - (this.clock() - lastSweep)), signal);
      }
    } finally {
      await watching;
    }
  }

  /**
   * The clusters to look after and the nodes' statuses, from the read models, with the log
   * position both reflect (their checkpoints, read in the same snapshot): the watch starts there.
   */
  private async loadFleet(): Promise<bigint> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const checkpoints = await client.query<{ position: string }>(`SELECT position FROM projection_checkpoints WHERE name = ANY($1::text[])`, [['clusters', 'cluster_nodes']]);
      const clusters = await client.query<{ id: string }>(`SELECT id FROM clusters WHERE status <> 'decommissioned'`);
      const nodes = await client.query<{ id: string; status: string; admin_status: string | null }>(`SELECT id, status, admin_status FROM cluster_nodes`);
      await client.query('COMMIT');
      this.known.clear();
      for (const r of clusters.rows) this.known.add(r.id);
      this.nodes.clear();
      for (const r of nodes.rows) this.nodes.set(r.id, { status: r.status, adminStatus: r.admin_status ?? 'active' });
      return checkpoints.rows.length < 2 ? 0n : checkpoints.rows.map((r) => BigInt(r.position)).reduce((a, b) => (a < b ? a : b));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Follows the log: cluster events mark their cluster; node events update the node and mark its clusters. */
  private async watch(signal: AbortSignal, after: bigint): Promise<void> {
    while (!signal.aborted) {
      try {
        const sub = this.store.subscribeToAll({ after, signal, categories: ['cluster', 'node'] });
        for await (const page of sub.pages()) {
          const nodes = new Set<string>();
          for (const e of page) this.noteEvent(e, nodes);
          if (nodes.size) for (const id of await this.clustersOnNodes(nodes)) this.dirty.add(id);
          after = page[page.length - 1]!.position;
          this.wake?.();
        }
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err }, 'reconciler watch failed; following the log again');
        await delay(500, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private noteEvent(e: StoredEvent, nodes: Set<string>): void {
    if (e.streamId.startsWith('cluster-')) {
      const id = e.streamId.slice('cluster-'.length);
      this.known.add(id);
      this.dirty.add(id);
      return;
    }
    const nodeId = e.streamId.slice('node-'.length);
    if (e.type === 'NodeRegistered') this.nodes.set(nodeId, { status: 'online', adminStatus: 'active' });
    else if (NODE_STATUS_EVENTS.has(e.type)) this.nodes.set(nodeId, nodeStatusAfter(this.nodes.get(nodeId) ?? { status: 'online', adminStatus: 'active' }, e.type));
    if (typeof e.data['clusterId'] === 'string') this.dirty.add(e.data['clusterId']);
    else nodes.add(nodeId);
  }

  private async clustersOnNodes(nodeIds: ReadonlySet<string>): Promise<string[]> {
    const out: string[] = [];
    for (const id of this.known) {
      const state = await this.clusters.state(id);
      if (state.status !== 'none' && Object.values(state.agents).some((a) => a.nodeId !== undefined && nodeIds.has(a.nodeId))) out.push(id);
    }
    return out;
  }

  private statuses(): Map<string, string> {
    return new Map([...this.nodes].map(([id, n]) => [id, n.status]));
  }

  async reconcile(clusterId: string): Promise<void> {
    const done = new Set<string>();
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const state = await this.clusters.state(clusterId);
      if (state.status === 'none' || state.status === 'decommissioned') {
        this.known.delete(clusterId);
        this.spawningSince.delete(clusterId);
        this.unplacedReasons.delete(clusterId);
        return;
      }
      const now = this.clock();
      if (state.status === 'spawning') {
        if (!this.spawningSince.has(clusterId)) this.spawningSince.set(clusterId, now);
      } else this.spawningSince.delete(clusterId);
      const since = this.spawningSince.get(clusterId);
      const why = this.unplacedReasons.get(clusterId);
      const actions = planReconciliation(state, this.statuses(), now, this.limits, {
        ...(since !== undefined ? { spawningSince: since } : {}),
        ...(why ? { unplacedReason: why } : {}),
      });
      let changed = false;
      for (const action of actions) {
        // Requests to the registry go out once per reconcile, even when a later pass plans them again.
        const key = requestKey(action);
        if (key && done.has(key)) continue;
        if (key) done.add(key);
        if (await this.carryOut(state, action, now)) changed = true;
      }
      if (!changed) return;
    }
  }

  /** Carries out one planned step; true when it changed the cluster (a command was recorded). */
  private async carryOut(state: ExistingCluster, action: ReconcileAction, now: number): Promise<boolean> {
    switch (action.kind) {
      case 'spawn':
        await this.exec(state, { type: 'SpawnAgents', data: { agents: action.agents.map((d) => ({ agentId: newId('agent'), name: d.name, ordinal: d.ordinal })) }, metadata: this.stamp() });
        return true;
      case 'wave':
        await this.exec(state, {
          type: 'SpawnRolloutWave',
          data: { wave: action.wave, agents: action.agents.map((d) => ({ agentId: newId('agent'), name: d.name, ordinal: d.ordinal })) },
          metadata: this.stamp(),
        });
        return true;
      case 'orphan':
        await this.exec(state, { type: 'RecordAgentOrphaned', data: { agentId: action.agentId, nodeId: action.nodeId }, metadata: this.stamp() });
        return true;
      case 'place':
        return this.place(state, action.agents, undefined, now);
      case 'replace':
        return this.place(state, action.agents, { from: action.fromNodeId, keepSource: false }, now);
      case 'drain':
        await this.requestPlacement(state, [action.agent], { from: action.fromNodeId, keepSource: true }).catch((err: unknown) =>
          this.logger.warn({ err, agentId: action.agent.agentId }, 'drain move not placed yet'),
        );
        return false;
      case 'release':
        await this.release(state.clusterId, action.agentIds, action.reason);
        return false;
      case 'stopped':
        await this.exec(state, { type: 'RecordAgentStopped', data: { agentId: action.agentId, reason: action.reason }, metadata: this.stamp() });
        return true;
      case 'fail':
        // Its slot gets a new agent on the next pass, and the registry releases it (the node stops
        // whatever is left of it, the capacity frees).
        await this.exec(state, { type: 'RecordAgentFailed', data: { agentId: action.agentId, reason: action.reason }, metadata: this.stamp() });
        if (action.release) await this.release(state.clusterId, [action.agentId], action.reason);
        return true;
      case 'degrade':
        await this.exec(state, { type: 'MarkClusterDegraded', data: { reason: action.reason }, metadata: this.stamp() });
        this.spawningSince.delete(state.clusterId);
        return true;
      default: {
        const never: never = action;
        throw new Error(`unknown reconcile action ${JSON.stringify(never)}`);
      }
    }
  }

  private stamp(): { now: string } {
    return { now: new Date(this.clock()).toISOString() };
  }

  private meta(state: ExistingCluster): RequestMeta {
    const identity: RequestIdentity = { actor: 'reconciler', tenantId: state.tenantId, role: 'service' };
    return { subject: 'reconciler', identity, correlationId: undefined, idempotencyKey: undefined, traceparent: undefined };
  }

  private async exec(state: ExistingCluster, command: ClusterCommand): Promise<void> {
    // Refused (in the append's own transaction) once a newer reconciler has written: a paused
    // leader cannot write late.
    await this.clusters.command(state.clusterId, command, this.meta(state), { fence: { role: 'reconciler', term: this.term } });
  }

  private async release(clusterId: string, agentIds: readonly string[], reason: string): Promise<void> {
    await this.messaging
      .request(registryRoutes.release, { cluster_id: clusterId, agent_ids: [...agentIds], reason })
      .catch((err: unknown) => this.logger.warn({ err, clusterId, reason }, 'release not acknowledged yet'));
  }

  private async requestPlacement(state: ExistingCluster, agents: readonly AgentRecord[], move?: PlacementMove) {
    return this.messaging.request(registryRoutes.place, placeRequestFor(state, agents, move));
  }

  /** Asks the registry to place agents and records where they went; true when something was recorded. */
  private async place(state: ExistingCluster, agents: readonly AgentRecord[], move: PlacementMove | undefined, now: number): Promise<boolean> {
    let reply;
    try {
      reply = await this.requestPlacement(state, agents, move);
    } catch (err) {
      this.logger.warn({ err, clusterId: state.clusterId }, 'placement request failed');
      return this.degradeIfStuck(state, agents, `placement unavailable: ${(err as Error).message}`, now);
    }
    let changed = false;
    for (const a of reply.assignments) {
      const agent = state.agents[a.agent_id];
      if (!agent) continue;
      if (agent.state === 'pending') {
        await this.exec(state, { type: 'RecordAgentPlaced', data: { agentId: a.agent_id, nodeId: a.node_id }, metadata: this.stamp() });
        changed = true;
      } else if (agent.state === 'orphaned' && agent.nodeId && agent.nodeId !== a.node_id) {
        await this.exec(state, { type: 'RecordAgentReplaced', data: { agentId: a.agent_id, fromNodeId: agent.nodeId, toNodeId: a.node_id }, metadata: this.stamp() });
        changed = true;
      }
      this.unplacedSince.delete(a.agent_id);
    }
    if (!reply.unplaced.length) {
      this.unplacedReasons.delete(state.clusterId);
      return changed;
    }
    const reasons = [...new Set(reply.unplaced.map((u) => u.reason))].join('; ');
    this.unplacedReasons.set(state.clusterId, `${reply.unplaced.length} cannot be placed: ${reasons}`);
    const stuck = agents.filter((a) => reply.unplaced.some((u) => u.agent_id === a.agentId));
    return (await this.degradeIfStuck(await this.clusters.state(state.clusterId) as ExistingCluster, stuck, `${reply.unplaced.length} agent(s) cannot be placed: ${reasons}`, now)) || changed;
  }

  private async degradeIfStuck(state: ExistingCluster, agents: readonly AgentRecord[], reason: string, now: number): Promise<boolean> {
    let oldest = now;
    for (const a of agents) {
      const since = this.unplacedSince.get(a.agentId) ?? now;
      this.unplacedSince.set(a.agentId, since);
      oldest = Math.min(oldest, since);
    }
    if (this.unplacedSince.size > 10_000) this.unplacedSince = new Map([...this.unplacedSince].slice(-5000));
    // Only a serving cluster degrades (the domain refuses the others: a spawning cluster that
    // cannot be placed stays spawning, and its spawn timeout tells the operator why).
    const serving = state.status === 'active' || state.status === 'scaling_up' || state.status === 'scaling_down';
    if (now - oldest < PLACEMENT_GRACE_MS || !serving) return false;
    await this.exec(state, { type: 'MarkClusterDegraded', data: { reason }, metadata: this.stamp() });
    return true;
  }

  private async sleep(ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
    this.wake = undefined;
  }
}

/** Requests to the registry are sent once per reconcile; commands are planned again after each pass. */
function requestKey(action: ReconcileAction): string | null {
  switch (action.kind) {
    case 'drain':
      return `drain:${action.agent.agentId}`;
    case 'release':
      return `release:${[...action.agentIds].sort().join(',')}`;
    case 'place':
      return `place:${action.agents.map((a) => a.agentId).sort().join(',')}`;
    case 'replace':
      return `replace:${action.fromNodeId}:${action.agents.map((a) => a.agentId).sort().join(',')}`;
    default:
      return null;
  }
}
