import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { CommandHandler } from '@flotilla/application';
import type { Config } from '@flotilla/config';
import { registryRoutes as r, type RouteRequestParsed, parseMoment } from '@flotilla/contracts';
import type { NatsRequestContext } from '@flotilla/messaging';
import { CONFIG } from '@flotilla/platform';
import { commandContext, nowIso, requirePlatform, visibleTo } from '../infrastructure/request-context.js';
import { TenantClusters } from '../infrastructure/tenant-clusters.js';
import { DirectoryFeed } from '../nodes/directory-feed.js';
import { NodeDirectory } from '../nodes/node-directory.js';
import { NodeHistory } from '../nodes/node-history.js';
import { previewPlacement } from './placement-planner.js';
import { computeStats } from '../nodes/node-views.js';
import {
  REGISTRY_SETTINGS_STREAM,
  registrySettingsDecider,
} from '../settings/registry-settings.decider.js';
import { PlacementService } from './placement.service.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

/** Placement and release (the orchestrator's reconciler calls these), assignments, stats and the default strategy. */
@Controller()
export class PlacementController {
  constructor(
    private readonly placement: PlacementService,
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly commands: CommandHandler,
    private readonly tenants: TenantClusters,
    private readonly history: NodeHistory,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @MessagePattern(r.place.subject)
  place(@Payload() req: Req<'place'>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'place agents');
    return this.placement.place(req, commandContext(ctx.meta, { clusterId: req.cluster_id }));
  }

  /** A placement decided and not made: nothing reserved, nothing recorded. */
  @MessagePattern(r.previewPlace.subject)
  previewPlace(@Payload() req: Req<'previewPlace'>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'preview a placement');
    return this.placement.preview(req);
  }

  @MessagePattern(r.release.subject)
  async release(@Payload() req: Req<'release'>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'release agents');
    const released = await this.placement.release(
      req.cluster_id,
      req.agent_ids,
      req.node_id,
      req.reason,
      commandContext(ctx.meta, { clusterId: req.cluster_id }),
    );
    return { released };
  }

  /** Where agents run now, or (with `at`) where the log had them then. */
  @MessagePattern(r.assignments.subject)
  async assignments(@Payload() req: Req<'assignments'>, @Ctx() ctx: NatsRequestContext) {
    const past = req.at !== undefined ? await this.history.at(parseMoment(req.at)) : null;
    if (!past) await this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
    const directory = past?.directory ?? this.directory;
    const rows: {
      agent_id: string;
      cluster_id: string;
      node_id: string;
      status: 'assigned';
      assigned_at: string;
    }[] = [];
    const clusters = await this.tenants.visible(ctx.meta);
    for (const entry of directory.entries()) {
      if (req.node_id && entry.nodeId !== req.node_id) continue;
      if (!visibleTo(ctx.meta, entry.state.tenantId)) continue;
      for (const a of Object.values(entry.state.assignments)) {
        if (req.cluster_id && a.clusterId !== req.cluster_id) continue;
        if (clusters && !clusters.has(a.clusterId)) continue;
        rows.push({
          agent_id: a.agentId,
          cluster_id: a.clusterId,
          node_id: entry.nodeId,
          status: 'assigned',
          assigned_at: a.at,
        });
      }
    }
    rows.sort((a, b) =>
      a.assigned_at < b.assigned_at
        ? -1
        : a.assigned_at > b.assigned_at
          ? 1
          : a.agent_id < b.agent_id
            ? -1
            : 1,
    );
    return { assignments: rows.slice(req.offset, req.offset + req.limit), total: rows.length, ...(past ? { as_of: past.asOf } : {}) };
  }

  @MessagePattern(r.stats.subject)
  async stats(@Ctx() ctx: NatsRequestContext) {
    await this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
    const visible = [...this.directory.entries()].filter((e) =>
      visibleTo(ctx.meta, e.state.tenantId),
    );
    return computeStats(visible, this.directory.settings.strategy);
  }

  /** Switches the default strategy: an event on the registry's settings stream, so it survives restarts. */
  @MessagePattern(r.setStrategy.subject)
  async setStrategy(@Payload() req: Req<'setStrategy'>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'switch the placement strategy');
    await this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
    if (req.dry_run) {
      // The switch moves nothing; the plan shows how the agents placed now would be spread under it.
      const decided = await this.commands.preview(
        registrySettingsDecider,
        REGISTRY_SETTINGS_STREAM,
        { type: 'SetDefaultStrategy', data: { strategy: req.strategy }, metadata: { now: nowIso() } },
        commandContext(ctx.meta),
      );
      const agents = [...this.directory.entries()].flatMap((entry) =>
        Object.values(entry.state.assignments).map((a) => ({
          agentId: a.agentId,
          clusterId: a.clusterId,
          resources: { cpu: a.resources.cpu, memoryMb: a.resources.memoryMb },
          from: entry.nodeId,
        })),
      );
      const plan = previewPlacement(this.directory, agents, req.strategy, { fresh: true, planner: { cursor: null, seed: 0 } });
      return {
        dry_run: true,
        result: { strategy: decided.state.strategy, position: null },
        planned: decided.events.map((e) => ({ type: e.type, tenant_id: e.tenantId, data: e.data })),
        plan,
      };
    }
    const result = await this.commands.handle(
      registrySettingsDecider,
      REGISTRY_SETTINGS_STREAM,
      { type: 'SetDefaultStrategy', data: { strategy: req.strategy }, metadata: { now: nowIso() } },
      commandContext(ctx.meta),
    );
    this.directory.applySettingsState(result.state, result.revision);
    return { strategy: result.state.strategy, position: result.position?.toString() ?? null };
  }
}
