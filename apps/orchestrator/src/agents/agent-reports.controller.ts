import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  nodeIdentity,
  orchestratorRoutes as r,
  registryRoutes,
  type RouteRequestParsed,
} from '@flotilla/contracts';
import { ForbiddenError, nodeDecider, nodeStream, NotFoundError, RuleViolationError, ValidationError, type ClusterCommand } from '@flotilla/domain';
import { CommandHandler } from '@flotilla/application';
import { Messaging, type NatsRequestContext } from '@flotilla/messaging';
import { LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { now } from '../infrastructure/request-context.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

/**
 * Node agents report what really happened to the agents placed on them, each on its own node's
 * subject. The report is the fact the cluster stream records; a report from a node the agent has
 * moved away from is stale and only frees that node's assignment; one about an agent that is
 * neither placed on the node nor assigned to it is refused (and logged).
 */
@Controller()
export class AgentReportsController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly commands: CommandHandler,
    private readonly messaging: Messaging,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(r.reportAgent.subject)
  async report(@Payload() body: Req<'reportAgent'>, @Ctx() ctx: NatsRequestContext) {
    // The node is the subject's (`orchestrator.agents.report.<nodeId>`): only that node's NATS
    // user may publish it. A node id in the payload is never trusted, only checked.
    const nodeId = ctx.meta.node;
    if (!nodeId) throw new ForbiddenError('an agent report names no node in its subject', { subject: ctx.meta.subject });
    if (body.node_id !== undefined && body.node_id !== nodeId)
      throw ValidationError.of([{ path: 'node_id', message: `a node agent reports for its own node '${nodeId}' only` }], 'agent report');
    const req = { ...body, node_id: nodeId };
    // The node acts (the actor on the events), never a header's identity.
    const meta = { ...ctx.meta, identity: nodeIdentity(nodeId) };
    const state = await this.clusters.state(req.cluster_id);
    if (state.status === 'none') throw NotFoundError.of('cluster', req.cluster_id);
    const agent = state.agents[req.agent_id];
    if (!agent) throw NotFoundError.of('agent', req.agent_id);
    const recorded: string[] = [];
    const run = async (command: ClusterCommand) => {
      const reply = await this.clusters.command(req.cluster_id, command, meta);
      recorded.push(...reply.events);
    };
    const at = { now: now() };
    // A report that would move or settle an agent the cluster does not place on this node must
    // be backed by the node's current assignments (the registry's): one node cannot start, stop
    // or adopt another node's agents.
    const vouched = async () => {
      if (agent.nodeId === nodeId || (await this.assignedTo(req.cluster_id, req.agent_id, nodeId))) return;
      this.logger.warn({ nodeId, clusterId: req.cluster_id, agentId: req.agent_id, state: req.state, placedOn: agent.nodeId ?? null }, 'agent report refused: the agent is not assigned to the reporting node');
      throw new RuleViolationError('agent_not_assigned', `agent '${req.agent_id}' is not assigned to node '${nodeId}'`, { agent_id: req.agent_id, node_id: nodeId });
    };

    switch (req.state) {
      case 'started': {
        await vouched();
        if (agent.state === 'stopping' || agent.state === 'stopped' || agent.state === 'failed') {
          // Started after it was told to stop (or gave up on): let that node drop it.
          await this.release(req.cluster_id, req.agent_id, req.node_id, `agent is ${agent.state}`);
          break;
        }
        const previous = agent.nodeId;
        if (previous && previous !== req.node_id && agent.state !== 'pending') {
          // A move (drain or orphan): the replacement runs on the new node before the old one stops.
          await run({
            type: 'RecordAgentReplaced',
            data: { agentId: req.agent_id, fromNodeId: previous, toNodeId: req.node_id },
            metadata: at,
          });
        }
        await run({
          type: 'RecordAgentStarted',
          data: { agentId: req.agent_id, nodeId: req.node_id },
          metadata: at,
        });
        if (previous && previous !== req.node_id)
          await this.release(req.cluster_id, req.agent_id, previous, `moved to ${req.node_id}`);
        break;
      }
      case 'failed':
        if (agent.nodeId === req.node_id) {
          await run({
            type: 'RecordAgentFailed',
            data: { agentId: req.agent_id, reason: req.reason ?? 'failed' },
            metadata: at,
          });
        }
        await this.release(req.cluster_id, req.agent_id, req.node_id, req.reason ?? 'agent failed');
        break;
      case 'stopped':
        if (agent.nodeId === undefined) await vouched();
        if (agent.nodeId === req.node_id || agent.nodeId === undefined) {
          await run({
            type: 'RecordAgentStopped',
            data: { agentId: req.agent_id, ...(req.reason ? { reason: req.reason } : {}) },
            metadata: at,
          });
        }
        break;
      default: {
        const never: never = req.state;
        throw new RuleViolationError('unknown_report', `unknown agent report '${String(never)}'`);
      }
    }
    return { recorded };
  }

  /**
   * Whether the node's own stream holds the agent's assignment now. The log is the authority,
   * and it is never behind the report: a node learns of an assignment only from the relay, which
   * publishes an event after it is stored. (The registry's read models may be: asking them
   * refused a report of a placement they had not projected yet, and a refused report is final.)
   */
  private async assignedTo(clusterId: string, agentId: string, nodeId: string): Promise<boolean> {
    const { state } = await this.commands.load(nodeDecider, nodeStream(nodeId), { fresh: true });
    if (state.status === 'none') return false;
    return state.assignments[agentId]?.clusterId === clusterId;
  }

  private async release(
    clusterId: string,
    agentId: string,
    nodeId: string,
    reason: string,
  ): Promise<void> {
    try {
      await this.messaging.request(registryRoutes.release, {
        cluster_id: clusterId,
        agent_ids: [agentId],
        node_id: nodeId,
        reason,
      });
    } catch (err) {
      // The reconciler releases what is still assigned on its next pass.
      this.logger.warn({ err, agentId, nodeId }, 'release after agent report failed');
    }
  }
}
