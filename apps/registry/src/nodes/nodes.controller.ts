import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { nodeIdentity, registryRoutes as r, type NodeView, type RouteRequestParsed, parseMoment } from '@flotilla/contracts';
import type { Config } from '@flotilla/config';
import { ForbiddenError, newId, NotFoundError, ValidationError, type NodeCommand } from '@flotilla/domain';
import type { NatsRequestContext, RequestMeta } from '@flotilla/messaging';
import { CONFIG } from '@flotilla/platform';
import { commandContext, nowIso, requirePlatform, visibleTo } from '../infrastructure/request-context.js';
import { DirectoryFeed } from './directory-feed.js';
import { HeartbeatListener } from './heartbeat.listener.js';
import { NodeCommands } from './node-commands.service.js';
import { NodeDirectory, type NodeEntry } from './node-directory.js';
import { TenantClusters } from '../infrastructure/tenant-clusters.js';
import { previewPlacement } from '../placement/placement-planner.js';
import { NodeHistory } from './node-history.js';
import { toNodeView, viewStatus } from './node-views.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

/** The request as its node's own: the node and the acting identity from the per-node subject. */
function ownNode(meta: RequestMeta): RequestMeta & { readonly node: string } {
  const node = meta.node;
  if (!node) throw new ForbiddenError('a per-node request names no node in its subject', { subject: meta.subject });
  return { ...meta, node, identity: nodeIdentity(node) };
}

/** Node registration, heartbeats over request/reply, queries, and the operator's node commands. */
@Controller()
export class NodesController {
  constructor(
    private readonly directory: NodeDirectory,
    private readonly feed: DirectoryFeed,
    private readonly nodes: NodeCommands,
    private readonly heartbeats: HeartbeatListener,
    private readonly tenants: TenantClusters,
    private readonly history: NodeHistory,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @MessagePattern(r.registerNode.subject)
  register(@Payload() req: Req<'registerNode'>, @Ctx() ctx: NatsRequestContext): Promise<NodeView> {
    requirePlatform(ctx.meta, 'register a node');
    return this.registerAs(req.node_id ?? newId('node'), req, ctx.meta);
  }

  /**
   * A node agent registering its own node: the node is the subject's
   * (`registry.nodes.register.<nodeId>`, which only that node's NATS user may publish), and so
   * is the actor; an id in the body naming another node is refused.
   */
  @MessagePattern(r.registerOwnNode.subject)
  registerOwn(@Payload() req: Req<'registerOwnNode'>, @Ctx() ctx: NatsRequestContext): Promise<NodeView> {
    const meta = ownNode(ctx.meta);
    if (req.node_id !== undefined && req.node_id !== meta.node)
      throw ValidationError.of([{ path: 'node_id', message: `a node agent registers its own node '${meta.node}' only` }], 'registry.nodes.register request');
    return this.registerAs(meta.node, req, meta);
  }

  /** A node agent marking its own node (the subject's) draining as it shuts down. */
  @MessagePattern(r.drainOwnNode.subject)
  drainOwn(@Payload() req: Req<'drainOwnNode'>, @Ctx() ctx: NatsRequestContext) {
    const meta = ownNode(ctx.meta);
    return this.command('drain a node', meta.node, { type: 'DrainNode', data: { reason: req.reason }, metadata: { now: nowIso() } }, meta);
  }

  private async registerAs(nodeId: string, req: Req<'registerNode'>, meta: RequestMeta): Promise<NodeView> {
    const ctx = { meta };
    await this.ready();
    await this.nodes.execute(
      nodeId,
      {
        type: 'RegisterNode',
        data: {
          nodeId,
          hostname: req.hostname,
          address: req.address,
          region: req.region,
          zone: req.zone,
          labels: req.labels,
          services: req.services,
          capacity: {
            cpu: req.capacity.cpu,
            memoryMb: req.capacity.memory_mb,
            maxAgents: req.capacity.max_agents,
          },
          role: req.role,
          priority: req.priority,
        },
        metadata: { now: nowIso() },
      },
      commandContext(ctx.meta),
    );
    // A node that registers is alive, whether or not its registration changed anything.
    this.directory.touch(nodeId, Date.now());
    if (req.resume_own_drain && this.entry(nodeId, ctx.meta).state.admin !== 'none') {
      await this.nodes.execute(
        nodeId,
        { type: 'UncordonNode', data: {}, metadata: { now: nowIso() } },
        commandContext(ctx.meta),
      );
    }
    return toNodeView(this.entry(nodeId, ctx.meta), Date.now());
  }

  /** HTTP-only nodes heartbeat here (node agents publish on core NATS instead). */
  @MessagePattern(r.heartbeat.subject)
  async heartbeat(@Payload() req: Req<'heartbeat'>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'heartbeat for a node');
    await this.ready();
    const entry = this.heartbeats.acceptRequest(req, Date.now());
    if (!entry) throw NotFoundError.of('node', req.node_id);
    return { status: viewStatus(entry) };
  }

  /** The nodes now, or (with `at`) as the log had them then (no readings: those are not in the log). */
  @MessagePattern(r.listNodes.subject)
  async list(@Payload() req: Req<'listNodes'>, @Ctx() ctx: NatsRequestContext) {
    const past = req.at !== undefined ? await this.history.at(parseMoment(req.at)) : null;
    if (!past) await this.ready();
    const now = Date.now();
    const matching: NodeEntry[] = [];
    for (const entry of (past?.directory ?? this.directory).entries()) {
      if (!visibleTo(ctx.meta, entry.state.tenantId)) continue;
      const status = viewStatus(entry);
      if (req.status ? status !== req.status : status === 'deregistered') continue;
      if (req.role && entry.state.role !== req.role) continue;
      if (req.zone && entry.state.zone !== req.zone) continue;
      matching.push(entry);
    }
    matching.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    const clusters = await this.tenants.visible(ctx.meta);
    return {
      nodes: matching.slice(req.offset, req.offset + req.limit).map((e) => toNodeView(e, now, clusters)),
      total: matching.length,
      ...(past ? { as_of: past.asOf } : {}),
    };
  }

  @MessagePattern(r.getNode.subject)
  async get(@Payload() req: Req<'getNode'>, @Ctx() ctx: NatsRequestContext): Promise<NodeView> {
    if (req.at !== undefined) {
      const past = await this.history.at(parseMoment(req.at));
      return { ...toNodeView(this.entry(req.id, ctx.meta, past.directory), Date.now(), await this.tenants.visible(ctx.meta)), as_of: past.asOf };
    }
    await this.ready();
    return toNodeView(this.entry(req.id, ctx.meta), Date.now(), await this.tenants.visible(ctx.meta));
  }

  @MessagePattern(r.deregisterNode.subject)
  deregister(@Payload() req: Req<'deregisterNode'>, @Ctx() ctx: NatsRequestContext) {
    return this.command(
      'deregister a node',
      req.id,
      {
        type: 'DeregisterNode',
        data: { reason: 'deregistered by operator', force: req.force },
        metadata: { now: nowIso() },
      },
      ctx.meta,
    );
  }

  /** Starts a drain: the orchestrator moves each agent away make-before-break; the node is drained once empty. */
  @MessagePattern(r.drainNode.subject)
  async drain(@Payload() req: Req<'drainNode'>, @Ctx() ctx: NatsRequestContext) {
    if (req.dry_run) {
      // The drain decided with every check of the real one, and where its agents would go.
      requirePlatform(ctx.meta, 'drain a node');
      await this.ready();
      const entry = this.entry(req.id, ctx.meta);
      const command: NodeCommand = { type: 'DrainNode', data: { reason: req.reason }, metadata: { now: nowIso() } };
      const decided = await this.nodes.preview(req.id, command, commandContext(ctx.meta));
      const agents = Object.values(entry.state.assignments).map((a) => ({
        agentId: a.agentId,
        clusterId: a.clusterId,
        resources: { cpu: a.resources.cpu, memoryMb: a.resources.memoryMb },
        from: req.id,
      }));
      const plan = previewPlacement(this.directory, agents, this.directory.settings.strategy, { leaving: req.id, planner: { cursor: null, seed: 0 } });
      const result = { ...toNodeView(entry, Date.now(), await this.tenants.visible(ctx.meta)), status: decided.state.status === 'none' ? 'draining' : decided.state.status };
      return { dry_run: true, result, planned: decided.events.map((e) => ({ type: e.type, tenant_id: e.tenantId, data: e.data })), plan };
    }
    return this.command(
      'drain a node',
      req.id,
      { type: 'DrainNode', data: { reason: req.reason }, metadata: { now: nowIso() } },
      ctx.meta,
    );
  }

  @MessagePattern(r.cordonNode.subject)
  cordon(@Payload() req: Req<'cordonNode'>, @Ctx() ctx: NatsRequestContext) {
    return this.command(
      'cordon a node',
      req.id,
      { type: 'CordonNode', data: { reason: req.reason }, metadata: { now: nowIso() } },
      ctx.meta,
    );
  }

  @MessagePattern(r.uncordonNode.subject)
  uncordon(@Payload() req: Req<'uncordonNode'>, @Ctx() ctx: NatsRequestContext) {
    return this.command(
      'uncordon a node',
      req.id,
      { type: 'UncordonNode', data: {}, metadata: { now: nowIso() } },
      ctx.meta,
    );
  }

  private async command(
    operation: string,
    nodeId: string,
    command: NodeCommand,
    meta: RequestMeta,
  ): Promise<NodeView> {
    requirePlatform(meta, operation);
    await this.ready();
    this.entry(nodeId, meta);
    await this.nodes.execute(nodeId, command, commandContext(meta));
    return toNodeView(this.entry(nodeId, meta), Date.now(), await this.tenants.visible(meta));
  }

  private entry(nodeId: string, meta: RequestMeta, directory: NodeDirectory = this.directory): NodeEntry {
    const entry = directory.get(nodeId);
    if (!entry || !visibleTo(meta, entry.state.tenantId)) throw NotFoundError.of('node', nodeId);
    return entry;
  }

  private ready(): Promise<void> {
    return this.feed.whenReady(this.config.REQUEST_TIMEOUT_MS);
  }
}
