import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  orchestratorRoutes as r,
  type HierarchyNode,
  type RouteRequestParsed,
} from '@flotilla/contracts';
import { hierarchy, type HierarchyNode as DomainNode } from '@flotilla/domain';
import type { NatsRequestContext } from '@flotilla/messaging';
import { now, tenantScope } from '../infrastructure/request-context.js';
import { ClusterQueries } from './cluster-queries.service.js';
import { ClustersService } from './clusters.service.js';
import { renderManifest } from './manifest.js';
import { ScalingSimulations } from './scaling-simulation.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

function toHierarchyView(node: DomainNode): HierarchyNode {
  return {
    name: node.name,
    role: node.role,
    ordinal: node.ordinal,
    agent_id: node.agentId,
    state: node.state,
    node_id: node.nodeId,
    desired: node.desired,
    children: node.children.map(toHierarchyView),
  };
}

@Controller()
export class ClustersController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly queries: ClusterQueries,
    private readonly simulations: ScalingSimulations,
  ) {}

  /** Hibernate, reactivate, decommission, and a rollout's pause, resume and undo: the reason is the caller's, or the decider's default. */
  private lifecycle(
    type: 'HibernateCluster' | 'ReactivateCluster' | 'DecommissionCluster' | 'PauseRollout' | 'ResumeRollout' | 'UndoRollout',
    req: { id: string; reason?: string | undefined; wait: boolean; dry_run: boolean },
    ctx: NatsRequestContext,
  ) {
    const data = req.reason === undefined ? {} : { reason: req.reason };
    return this.clusters.command(req.id, { type, data, metadata: { now: now() } }, ctx.meta, { wait: req.wait, dryRun: req.dry_run });
  }

  @MessagePattern(r.createCluster.subject)
  create(@Payload() req: Req<'createCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.clusters.create(req, ctx.meta);
  }

  @MessagePattern(r.listClusters.subject)
  list(@Payload() req: Req<'listClusters'>, @Ctx() ctx: NatsRequestContext) {
    return this.queries.list({
      tenantId: tenantScope(ctx.meta),
      status: req.status,
      type: req.type,
      blueprintId: req.blueprint_id,
      limit: req.limit,
      offset: req.offset,
    });
  }

  @MessagePattern(r.getCluster.subject)
  get(@Payload() req: Req<'getCluster'>, @Ctx() ctx: NatsRequestContext) {
    if (req.at !== undefined) return this.queries.getAt(req.id, req.at, ctx.meta);
    return this.queries.get(req.id, tenantScope(ctx.meta));
  }

  @MessagePattern(r.updateCluster.subject)
  update(@Payload() req: Req<'updateCluster'>, @Ctx() ctx: NatsRequestContext) {
    const data = {
      ...(req.name !== undefined ? { name: req.name } : {}),
      ...(req.description !== undefined ? { description: req.description } : {}),
      ...(req.min_workers !== undefined ? { minWorkers: req.min_workers } : {}),
      ...(req.max_workers !== undefined ? { maxWorkers: req.max_workers } : {}),
      ...(req.policy !== undefined ? { policy: req.policy } : {}),
    };
    return this.clusters.command(
      req.id,
      { type: 'UpdateCluster', data, metadata: { now: now() } },
      ctx.meta,
      { wait: req.wait, dryRun: req.dry_run },
    );
  }

  @MessagePattern(r.scaleCluster.subject)
  scale(@Payload() req: Req<'scaleCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.clusters.command(
      req.id,
      {
        type: 'ScaleCluster',
        data: {
          targetWorkers: req.target_workers,
          reason: req.reason ?? 'manual scale',
          source: 'manual',
        },
        metadata: { now: now() },
      },
      ctx.meta,
      { wait: req.wait, dryRun: req.dry_run },
    );
  }

  @MessagePattern(r.upgradeCluster.subject)
  upgrade(@Payload() req: Req<'upgradeCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.clusters.upgrade(req, ctx.meta);
  }

  @MessagePattern(r.getRollout.subject)
  rollout(@Payload() req: Req<'getRollout'>, @Ctx() ctx: NatsRequestContext) {
    return this.clusters.rolloutStatus(req.id, ctx.meta);
  }

  @MessagePattern(r.pauseRollout.subject)
  pauseRollout(@Payload() req: Req<'pauseRollout'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('PauseRollout', req, ctx);
  }

  @MessagePattern(r.resumeRollout.subject)
  resumeRollout(@Payload() req: Req<'resumeRollout'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('ResumeRollout', req, ctx);
  }

  @MessagePattern(r.undoRollout.subject)
  undoRollout(@Payload() req: Req<'undoRollout'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('UndoRollout', req, ctx);
  }

  @MessagePattern(r.hibernateCluster.subject)
  hibernate(@Payload() req: Req<'hibernateCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('HibernateCluster', req, ctx);
  }

  @MessagePattern(r.reactivateCluster.subject)
  reactivate(@Payload() req: Req<'reactivateCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('ReactivateCluster', req, ctx);
  }

  @MessagePattern(r.decommissionCluster.subject)
  decommission(@Payload() req: Req<'decommissionCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.lifecycle('DecommissionCluster', req, ctx);
  }

  @MessagePattern(r.clusterAgents.subject)
  agents(@Payload() req: Req<'clusterAgents'>, @Ctx() ctx: NatsRequestContext) {
    if (req.at !== undefined) {
      return this.queries.agentsAt(req.id, req.at, { meta: ctx.meta, state: req.state, includeStopped: req.include_stopped });
    }
    return this.queries.agents(req.id, {
      tenantId: tenantScope(ctx.meta),
      state: req.state,
      includeStopped: req.include_stopped,
    });
  }

  /** The reporting tree is derived from the aggregate's state, where the domain builds it. */
  @MessagePattern(r.clusterHierarchy.subject)
  async hierarchy(@Payload() req: Req<'clusterHierarchy'>, @Ctx() ctx: NatsRequestContext) {
    if (req.at !== undefined) {
      const { state, as_of } = await this.queries.stateAt(req.id, req.at, ctx.meta);
      const root = hierarchy(state);
      return { cluster_id: req.id, root: root ? toHierarchyView(root) : null, as_of };
    }
    const state = await this.clusters.visibleState(req.id, ctx.meta);
    const root = hierarchy(state);
    return { cluster_id: req.id, root: root ? toHierarchyView(root) : null };
  }

  @MessagePattern(r.simulateCluster.subject)
  simulate(@Payload() req: Req<'simulateCluster'>, @Ctx() ctx: NatsRequestContext) {
    return this.simulations.simulate(req.id, { policy: req.policy as Record<string, unknown>, from: req.from, to: req.to }, ctx.meta);
  }

  @MessagePattern(r.clusterDiff.subject)
  diff(@Payload() req: Req<'clusterDiff'>, @Ctx() ctx: NatsRequestContext) {
    return this.queries.diff(req.id, req.from, req.to, ctx.meta);
  }

  @MessagePattern(r.clusterEvents.subject)
  events(@Payload() req: Req<'clusterEvents'>, @Ctx() ctx: NatsRequestContext) {
    return this.queries.events(req.id, {
      tenantId: tenantScope(ctx.meta),
      severity: req.severity,
      type: req.type,
      since: req.since,
      after: req.after,
      limit: req.limit,
      offset: req.offset,
    });
  }

  @MessagePattern(r.clusterManifest.subject)
  async manifest(@Payload() req: Req<'clusterManifest'>, @Ctx() ctx: NatsRequestContext) {
    const state = await this.clusters.visibleState(req.id, ctx.meta);
    return { cluster_id: req.id, markdown: renderManifest(state) };
  }
}
