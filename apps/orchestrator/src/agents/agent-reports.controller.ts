import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import {
  orchestratorRoutes as r,
  registryRoutes,
  type RouteRequestParsed,
} from '@flotilla/contracts';
import { NotFoundError, RuleViolationError, type ClusterCommand } from '@flotilla/domain';
import { Messaging, type NatsRequestContext } from '@flotilla/messaging';
import { LOGGER } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import { ClustersService } from '../clusters/clusters.service.js';
import { now } from '../infrastructure/request-context.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

/**
 * Node agents report what really happened to the agents placed on them. The report is the
 * fact the cluster stream records; a report from a node the agent has moved away from is stale
 * and only frees that node's assignment.
 */
@Controller()
export class AgentReportsController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly messaging: Messaging,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(r.reportAgent.subject)
  async report(@Payload() req: Req<'reportAgent'>, @Ctx() ctx: NatsRequestContext) {
    const state = await this.clusters.state(req.cluster_id);
    if (state.status === 'none') throw NotFoundError.of('cluster', req.cluster_id);
    const agent = state.agents[req.agent_id];
    if (!agent) throw NotFoundError.of('agent', req.agent_id);
    const recorded: string[] = [];
    const run = async (command: ClusterCommand) => {
      const reply = await this.clusters.command(req.cluster_id, command, ctx.meta, false);
      recorded.push(...reply.events);
    };
    const at = { now: now() };

    switch (req.state) {
      case 'started': {
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
