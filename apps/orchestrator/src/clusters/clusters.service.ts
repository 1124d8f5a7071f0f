import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import { CommandHandler, readModelsReached, type CommandResult } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import {
  registryRoutes,
  spansAllTenants,
  type ClusterView,
  type orchestratorRoutes,
  type PlacementPreview,
  type PlannedEvent,
  type RouteRequestParsed,
  type RouteResponse,
} from '@flotilla/contracts';
import {
  blueprintDecider,
  blueprintStream,
  clusterDecider,
  clusterStream,
  isLive,
  missingAgents,
  newId,
  NotFoundError,
  resolveBlueprint,
  rolloutInProgress,
  RuleViolationError,
  unreplacedSlots,
  validateBlueprint,
  type Blueprint,
  type ClusterCommand,
  type ClusterState,
  type Environment,
  type ExistingCluster,
} from '@flotilla/domain';
import type { AppendFence, EventStore } from '@flotilla/eventstore';
import { Messaging, type RequestMeta } from '@flotilla/messaging';
import { CONFIG, PG_POOL } from '@flotilla/platform';
import { ORCHESTRATOR_PROJECTIONS } from '@flotilla/projections';
import { TypeID } from 'typeid-js';
import { commandContext, identityOf, now, owningTenant } from '../infrastructure/request-context.js';
import { EVENT_STORE } from '../infrastructure/tokens.js';
import { clusterViewFromState, rolloutViewOf } from './cluster.views.js';
import { placeRequestFor } from './placement-request.js';
import { ClusterQueries } from './cluster-queries.service.js';

export interface CommandReply<T> {
  readonly result: T;
  readonly position: string | null;
  readonly events: string[];
  readonly duplicate: boolean;
  /**
   * With `wait`: the command is stored at `position` but the read models did not show it within
   * READ_YOUR_WRITES_TIMEOUT_MS (the gateway answers 202 Accepted). Never an error: it succeeded.
   */
  readonly read_models_behind: boolean;
  /** A dry run: nothing was stored, `planned` is what would have been. */
  readonly dry_run?: true;
  readonly planned?: PlannedEvent[];
  /** A dry run that would place agents: where each would go, and what would fit nowhere and why. */
  readonly plan?: PlacementPreview;
}

export interface CommandOptions {
  /** Answer only once the read models show the events (read-your-writes). */
  readonly wait?: boolean;
  /** A singleton leader's lease (reconciler, circuit breakers, autoscaler): checked with the append. */
  readonly fence?: AppendFence;
  /** Decide with every check of the real command and answer what it would append; store nothing. */
  readonly dryRun?: boolean;
}

const PROJECTION_NAMES = ORCHESTRATOR_PROJECTIONS.map((p) => p.name);

/**
 * Cluster commands: each loads the aggregate, runs the domain decider and appends through the
 * one command handler; replies carry the log position of their events, and with `wait` they
 * return only once the read models show them (read-your-writes).
 */
@Injectable()
export class ClustersService {
  constructor(
    private readonly commands: CommandHandler,
    private readonly queries: ClusterQueries,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
    private readonly messaging: Messaging,
  ) {}

  async create(
    req: {
      cluster_id?: string | undefined;
      blueprint_id: string;
      blueprint_version?: string | undefined;
      name: string;
      description?: string | undefined;
      type?: ClusterView['type'] | undefined;
      target_workers?: number | undefined;
      environment?: Environment | undefined;
      wait: boolean;
      dry_run?: boolean | undefined;
    },
    meta: RequestMeta,
  ): Promise<CommandReply<ClusterView>> {
    const identity = identityOf(meta);
    const document = await this.blueprintDocument(
      req.blueprint_id,
      req.blueprint_version,
      identity.tenantId,
      identity.role,
    );
    const blueprint = resolveBlueprint(
      document,
      req.environment ? { environment: req.environment } : {},
    );
    await this.checkBackupCluster(blueprint.cluster.backupCluster, owningTenant(meta));
    const fixed = blueprint.agents.filter((a) => a.role !== 'worker').reduce((n, a) => n + a.count, 0);
    await this.checkQuota(owningTenant(meta), 1, fixed + (req.target_workers ?? blueprint.cluster.targetWorkers));
    const clusterId =
      req.cluster_id ??
      (meta.idempotencyKey
        ? idFromKey('cluster', owningTenant(meta), meta.idempotencyKey)
        : newId('cluster'));
    return this.execute(
      clusterId,
      {
        type: 'CreateCluster',
        data: {
          clusterId,
          tenantId: owningTenant(meta),
          name: req.name,
          ...(req.description !== undefined ? { description: req.description } : {}),
          ...(req.type ? { type: req.type } : {}),
          blueprint,
          ...(req.target_workers !== undefined ? { targetWorkers: req.target_workers } : {}),
        },
        metadata: { now: now() },
      },
      meta,
      { wait: req.wait, dryRun: req.dry_run === true },
    );
  }

  /**
   * A rolling upgrade to another version of the cluster's blueprint, resolved in the environment
   * the cluster was created in. The decider checks the rest (same blueprint, same worker pool, no
   * rollout in progress); the reconciler carries the waves out.
   */
  async upgrade(
    req: RouteRequestParsed<typeof orchestratorRoutes.upgradeCluster>,
    meta: RequestMeta,
  ): Promise<CommandReply<ClusterView>> {
    const state = await this.visibleState(req.id, meta);
    const document = await this.blueprintDocument(state.blueprintId, req.blueprint_version, state.tenantId, 'service');
    const environment = state.blueprint.environment;
    const blueprint = resolveBlueprint(document, environment !== 'base' ? { environment } : {});
    return this.execute(
      req.id,
      {
        type: 'StartRollout',
        data: {
          blueprint,
          maxSurge: req.max_surge,
          maxUnavailable: req.max_unavailable,
          ...(req.pause_after !== undefined ? { pauseAfter: req.pause_after } : {}),
          ...(req.reason !== undefined ? { reason: req.reason } : {}),
        },
        metadata: { now: now() },
      },
      meta,
      { wait: req.wait, dryRun: req.dry_run },
    );
  }

  /** The last rollout, from the aggregate (so it is never behind), with the agents per version. */
  async rolloutStatus(clusterId: string, meta: RequestMeta): Promise<RouteResponse<typeof orchestratorRoutes.getRollout>> {
    const state = await this.visibleState(clusterId, meta);
    const versions = new Map<string, { version: string; agents: number; running: number; workers_running: number }>();
    for (const a of Object.values(state.agents)) {
      if (!isLive(a)) continue;
      const version = a.blueprintVersion ?? 'unrecorded';
      const v = versions.get(version) ?? { version, agents: 0, running: 0, workers_running: 0 };
      v.agents++;
      if (a.state === 'idle') {
        v.running++;
        if (a.role === 'worker') v.workers_running++;
      }
      versions.set(version, v);
    }
    return {
      cluster_id: state.clusterId,
      blueprint_version: state.blueprintVersion,
      rollout: state.rollout ? rolloutViewOf(state.rollout) : null,
      versions: [...versions.values()].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0)),
      remaining: rolloutInProgress(state) ? unreplacedSlots(state).length : 0,
    };
  }

  /** Runs a command on an existing cluster the caller may see. */
  async command(clusterId: string, command: ClusterCommand, meta: RequestMeta, options: CommandOptions = {}): Promise<CommandReply<ClusterView>> {
    const state = await this.visibleState(clusterId, meta);
    if (command.type === 'ScaleCluster' && command.data.targetWorkers > state.targetWorkers) {
      await this.checkQuota(state.tenantId, 0, command.data.targetWorkers - state.targetWorkers);
    }
    return this.execute(clusterId, command, meta, options);
  }

  async state(clusterId: string): Promise<ClusterState> {
    return (await this.commands.load(clusterDecider, clusterStream(clusterId))).state;
  }

  async visibleState(clusterId: string, meta: RequestMeta): Promise<ExistingCluster> {
    const state = await this.state(clusterId);
    const identity = identityOf(meta);
    const admin = spansAllTenants(identity);
    if (state.status === 'none' || (!admin && state.tenantId !== identity.tenantId))
      throw NotFoundError.of('cluster', clusterId);
    return state;
  }

  /**
   * A backup cluster takes the tasks of the cluster it backs while that one's circuit breaker is
   * open, so it must be a cluster of the same tenant: otherwise one tenant's tasks (and their
   * payloads) would run on, and be readable by, another tenant. A backup that does not exist
   * and one of another tenant are refused alike (404), so the answer says nothing about other
   * tenants' cluster ids. The task router checks again when it forwards (TasksService).
   */
  private async checkBackupCluster(backupId: string | null, tenantId: string): Promise<void> {
    if (!backupId) return;
    const backup = await this.state(backupId);
    if (backup.status === 'none' || backup.tenantId !== tenantId) {
      throw new NotFoundError(`backup cluster '${backupId}' was not found`, {
        kind: 'cluster',
        id: backupId,
        path: 'cluster.backupCluster',
      });
    }
  }

  /**
   * Per-tenant quotas (TENANT_MAX_CLUSTERS, TENANT_MAX_AGENTS) against the read models: adding
   * `clusters` clusters and `agents` desired agents must stay within them.
   */
  private async checkQuota(tenantId: string, clusters: number, agents: number): Promise<void> {
    const usage = await this.queries.tenantUsage(tenantId);
    if (usage.clusters + clusters > this.config.TENANT_MAX_CLUSTERS) {
      throw new RuleViolationError('quota_clusters', `tenant '${tenantId}' has ${usage.clusters} clusters; its quota is ${this.config.TENANT_MAX_CLUSTERS}`, {
        tenant_id: tenantId,
        used: usage.clusters,
        quota: this.config.TENANT_MAX_CLUSTERS,
      });
    }
    if (usage.agents + agents > this.config.TENANT_MAX_AGENTS) {
      throw new RuleViolationError('quota_agents', `tenant '${tenantId}' would have ${usage.agents + agents} agents; its quota is ${this.config.TENANT_MAX_AGENTS}`, {
        tenant_id: tenantId,
        used: usage.agents,
        requested: agents,
        quota: this.config.TENANT_MAX_AGENTS,
      });
    }
  }

  private async execute(clusterId: string, command: ClusterCommand, meta: RequestMeta, options: CommandOptions): Promise<CommandReply<ClusterView>> {
    const { wait = false, fence, dryRun = false } = options;
    if (dryRun) return this.preview(clusterId, command, meta);
    const result: CommandResult<ClusterState> = await this.commands.handle(
      clusterDecider,
      clusterStream(clusterId),
      command,
      { ...commandContext(meta), ...(fence ? { fence } : {}) },
    );
    // The command is stored: from here on, nothing may turn the reply into an error.
    const behind =
      wait && result.position !== null
        ? !(await readModelsReached(this.pool, PROJECTION_NAMES, result.position, this.config.READ_YOUR_WRITES_TIMEOUT_MS))
        : false;
    const state = result.state;
    if (state.status === 'none') throw NotFoundError.of('cluster', clusterId);
    const health = await this.healthOf(clusterId);
    return {
      result: clusterViewFromState(state, health),
      position: result.position?.toString() ?? null,
      events: result.events.map((e) => e.type),
      duplicate: result.duplicate,
      read_models_behind: behind,
    };
  }

  /** The cluster's health score for a reply; none (null) when the read models cannot say. */
  private async healthOf(clusterId: string): Promise<number | null> {
    return (await this.queries.healthFor([clusterId]).catch(() => new Map<string, number | null>())).get(clusterId) ?? null;
  }

  /**
   * A dry run: the decision on the current state, with nothing appended and nothing reserved.
   * When the state it leads to wants agents placed, the plan says where they would go.
   */
  private async preview(clusterId: string, command: ClusterCommand, meta: RequestMeta): Promise<CommandReply<ClusterView>> {
    const decision = await this.commands.preview(clusterDecider, clusterStream(clusterId), command, commandContext(meta));
    if (decision.state.status === 'none') throw NotFoundError.of('cluster', clusterId);
    const [health, plan] = await Promise.all([this.healthOf(clusterId), this.placementPlan(decision.state, command.metadata.now)]);
    return {
      ...(plan ? { plan } : {}),
      result: clusterViewFromState(decision.state, health),
      position: null,
      events: decision.events.map((e) => e.type),
      duplicate: false,
      read_models_behind: false,
      dry_run: true,
      planned: decision.events.map((e) => ({ type: e.type, tenant_id: e.tenantId, data: e.data })),
    };
  }

  /**
   * What the reconciler would do next for the state a dry run leads to: spawn the desired agents
   * nobody holds (with provisional ids), then ask the registry to place every pending agent with
   * the cluster's constraints. The registry's preview decides exactly as the placement would,
   * reserving nothing. None when nothing would be placed (a scale-down: its stops are the events).
   */
  private async placementPlan(state: ClusterState, at: string): Promise<PlacementPreview | undefined> {
    if (state.status === 'none' || state.status === 'decommissioned') return undefined;
    let next: ClusterState = state;
    const missing = missingAgents(state);
    if (missing.length > 0) {
      const spawn: ClusterCommand = {
        type: 'SpawnAgents',
        data: { agents: missing.map((d) => ({ agentId: newId('agent'), name: d.name, ordinal: d.ordinal })) },
        metadata: { now: at },
      };
      for (const e of clusterDecider.decide(spawn, next)) next = clusterDecider.evolve(next, e);
    }
    if (next.status === 'none') return undefined;
    const pending = Object.values(next.agents).filter((a) => a.state === 'pending');
    if (pending.length === 0) return undefined;
    const reply = await this.messaging.request(registryRoutes.previewPlace, placeRequestFor(next, pending));
    const slot = new Map(pending.map((a) => [a.agentId, { name: a.name, ordinal: a.ordinal, role: a.role }]));
    return {
      strategy: reply.strategy,
      placements: reply.assignments.map((a) => ({
        agent_id: a.agent_id,
        cluster_id: next.clusterId,
        from_node: a.previous_node_id,
        to_node: a.node_id,
        ...slot.get(a.agent_id),
      })),
      unplaced: reply.unplaced.map((u) => {
        const s = slot.get(u.agent_id);
        return { agent_id: u.agent_id, cluster_id: next.clusterId, reason: u.reason, ...(s ? { name: s.name, ordinal: s.ordinal } : {}) };
      }),
    };
  }

  /** The blueprint document a cluster is created from: a given version, or the latest. */
  private async blueprintDocument(
    blueprintId: string,
    version: string | undefined,
    tenantId: string,
    role: string,
  ): Promise<Blueprint> {
    const { state } = await this.commands.load(blueprintDecider, blueprintStream(blueprintId));
    const visible =
      state.status !== 'none' &&
      (role === 'service' || tenantId === '*' || state.tenantId === tenantId);
    if (!visible) throw NotFoundError.of('blueprint', blueprintId);
    if (state.status === 'deprecated') {
      throw new RuleViolationError(
        'blueprint_deprecated',
        `blueprint '${blueprintId}' is deprecated: ${state.deprecatedReason}`,
        { blueprint_id: blueprintId },
      );
    }
    if (!version || version === state.latestVersion) return state.latest;
    if (!(version in state.versions))
      throw new NotFoundError(`blueprint '${blueprintId}' has no version ${version}`, {
        kind: 'blueprint_version',
        id: blueprintId,
        version,
      });
    const events = await this.store.readStream(blueprintStream(blueprintId));
    const published = events.find(
      (e) =>
        (e.type === 'BlueprintRegistered' || e.type === 'BlueprintVersionPublished') &&
        e.data['version'] === version,
    );
    if (!published)
      throw new NotFoundError(`blueprint '${blueprintId}' has no version ${version}`, {
        kind: 'blueprint_version',
        id: blueprintId,
        version,
      });
    return validateBlueprint(published.data['document']);
  }
}

/**
 * A create repeated with the same idempotency key must land on the same stream, so the id is
 * derived from (tenant, key): a TypeID whose UUID is a hash of them (not time-ordered, unlike
 * generated ids; a repeat then finds its first result in the stream).
 */
export function idFromKey(kind: 'cluster', tenantId: string, key: string): string {
  const hex = createHash('sha256')
    .update(`${tenantId}\u0000${key}`)
    .digest('hex')
    .slice(0, 32)
    .split('');
  hex[12] = '8'; // a UUIDv8 ("custom") version nibble
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const uuid = `${hex.slice(0, 8).join('')}-${hex.slice(8, 12).join('')}-${hex.slice(12, 16).join('')}-${hex.slice(16, 20).join('')}-${hex.slice(20).join('')}`;
  return TypeID.fromUUID(kind, uuid).toString();
}
