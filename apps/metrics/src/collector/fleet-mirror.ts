import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type pg from 'pg';
import type { EventStore, StoredEvent } from '@flotilla/eventstore';
import { HealthService, LOGGER, PG_POOL } from '@flotilla/platform';
import { clusterAgentsProjection, clustersProjection, codecFor, type ClusterAgentRow, type ClusterRow, type Projection, type ReadModelOrm } from '@flotilla/projections';
import type { Logger } from '@flotilla/telemetry';
import { EVENT_STORE, READ_MODELS } from '../tokens.js';

/** The read models mirrored here, with their rows in memory. */
const MIRRORED: readonly Projection[] = [clustersProjection, clusterAgentsProjection];

/**
 * The clusters and their agents, in memory: the `clusters` and `cluster_agents` read models,
 * loaded once (rows and checkpoints in one snapshot) and kept current by applying the log's
 * cluster events with the projections' own `evolve` functions. Snapshotting a thousand clusters
 * then costs no query per cluster, and the same fold as the read models means the two never
 * disagree in shape.
 */
@Injectable()
export class FleetMirror implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly rows = new Map<Projection, Map<string, Record<string, unknown>>>();
  private readonly agentsByCluster = new Map<string, Map<string, ClusterAgentRow>>();
  private readonly controller = new AbortController();
  private following: Promise<void> = Promise.resolve();
  private ready = false;
  private markReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    @Inject(READ_MODELS) private readonly orm: ReadModelOrm,
    @Inject(LOGGER) private readonly logger: Logger,
    health: HealthService,
  ) {
    health.register('fleet_mirror', async () => {
      if (!this.ready) throw new Error('still loading the clusters');
    });
  }

  onApplicationBootstrap(): void {
    this.following = this.follow(this.controller.signal);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.controller.abort();
    await this.following;
  }

  whenReady(): Promise<void> {
    return this.readyPromise;
  }

  /** Clusters that are not decommissioned. */
  clusters(): ClusterRow[] {
    return [...(this.rows.get(clustersProjection)?.values() ?? [])].filter((r) => r['status'] !== 'decommissioned') as unknown as ClusterRow[];
  }

  cluster(id: string): ClusterRow | undefined {
    return this.rows.get(clustersProjection)?.get(id) as unknown as ClusterRow | undefined;
  }

  /**
   * The node the log places an agent on, null when it has none, undefined when the mirror does
   * not know the agent (or is still loading): what a node's telemetry about it is checked against.
   */
  nodeOf(clusterId: string, agentId: string): string | null | undefined {
    if (!this.ready) return undefined;
    const row = this.agentsByCluster.get(clusterId)?.get(agentId);
    return row ? (row.nodeId ?? null) : undefined;
  }

  /** The cluster's agents that are not stopped. */
  agents(clusterId: string): ClusterAgentRow[] {
    return [...(this.agentsByCluster.get(clusterId)?.values() ?? [])].filter((a) => a.state !== 'stopped');
  }

  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const after = await this.load();
        this.ready = true;
        this.markReady();
        const sub = this.store.subscribeToAll({ after, signal, categories: ['cluster'], batchSize: 1000 });
        for await (const page of sub.pages()) for (const event of page) this.apply(event);
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err }, 'fleet mirror lost the log; loading it again');
        await delay(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /** Rows and the checkpoints they reflect, in one snapshot; returns where to follow the log from. */
  private async load(): Promise<bigint> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows: checkpoints } = await client.query<{ position: string }>(`SELECT position FROM projection_checkpoints WHERE name = ANY($1::text[])`, [MIRRORED.map((p) => p.name)]);
      this.rows.clear();
      this.agentsByCluster.clear();
      for (const projection of MIRRORED) {
        const loaded = await codecFor(this.orm, projection).loadAll(client, projection === clusterAgentsProjection ? `state <> 'stopped'` : `status <> 'decommissioned'`);
        this.rows.set(projection, loaded);
        if (projection === clusterAgentsProjection) for (const row of loaded.values()) this.index(row as unknown as ClusterAgentRow);
      }
      await client.query('COMMIT');
      // A projection that never ran has no checkpoint (0): the log is then read from its start.
      return checkpoints.length < MIRRORED.length ? 0n : checkpoints.map((r) => BigInt(r.position)).reduce((a, b) => (a < b ? a : b));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private apply(event: StoredEvent): void {
    for (const projection of MIRRORED) {
      if (!projection.handles.has(event.type)) continue;
      const key = projection.keyOf(event);
      if (key === null) continue;
      const rows = this.rows.get(projection)!;
      const row = (rows.get(key) ?? null) as { position: string } | null;
      // The same rule as the projector: an event at or below a row's position is already in it.
      if (row && BigInt(row.position) >= event.position) continue;
      const next = projection.evolve(row, event) as Record<string, unknown> | null;
      // Stopped agents and decommissioned clusters are forgotten: memory follows the live fleet.
      const gone = !next || (projection === clusterAgentsProjection ? next['state'] === 'stopped' : next['status'] === 'decommissioned');
      if (gone) {
        rows.delete(key);
        if (projection === clusterAgentsProjection && row) this.agentsByCluster.get(String((row as Record<string, unknown>)['clusterId']))?.delete(key);
        if (projection === clustersProjection) {
          for (const agentId of this.agentsByCluster.get(key)?.keys() ?? []) this.rows.get(clusterAgentsProjection)!.delete(agentId);
          this.agentsByCluster.delete(key);
        }
      } else {
        rows.set(key, next);
        if (projection === clusterAgentsProjection) this.index(next as unknown as ClusterAgentRow);
      }
    }
  }

  private index(agent: ClusterAgentRow): void {
    let byId = this.agentsByCluster.get(agent.clusterId);
    if (!byId) this.agentsByCluster.set(agent.clusterId, (byId = new Map()));
    byId.set(agent.id, agent);
  }
}
