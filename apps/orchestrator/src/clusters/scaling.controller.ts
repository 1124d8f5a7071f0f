import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { orchestratorRoutes as r, type RouteRequestParsed } from '@flotilla/contracts';
import { manualScalePause, RuleViolationError, type JsonValue } from '@flotilla/domain';
import { Fence } from '@flotilla/leadership';
import type { NatsRequestContext } from '@flotilla/messaging';
import { now } from '../infrastructure/request-context.js';
import { FENCE } from '../reconciler/tokens.js';
import { ClustersService } from './clusters.service.js';

type Req = RouteRequestParsed<typeof r.applyScalingDecision>;

/**
 * The autoscaler's decisions. Each is recorded on the cluster's stream with its inputs and
 * reason (ScalingDecided), then applied as a scale, hibernate or wake. The decision carries the
 * autoscaler leader's term: a deposed leader's late decision is refused by the fence. Within the
 * cooldown after a manual scale, decisions other than waking are refused (rule
 * `manual_scale_pause`).
 */
@Controller()
export class ScalingController {
  constructor(
    private readonly clusters: ClustersService,
    @Inject(FENCE) private readonly fence: Fence,
  ) {}

  @MessagePattern(r.applyScalingDecision.subject)
  async apply(@Payload() req: Req, @Ctx() ctx: NatsRequestContext) {
    await this.fence.admit('autoscaler', req.term);
    // An operator's manual scale pauses automatic scaling for the cooldown: refused before
    // anything is recorded, and the autoscaler counts it as a hold.
    const paused = manualScalePause(await this.clusters.state(req.cluster_id), req.decision, Date.now());
    if (paused) throw new RuleViolationError('manual_scale_pause', paused);
    const inputs = req.inputs as Record<string, JsonValue>;
    const extra = { fencingTerm: req.term };
    const recorded = await this.clusters.command(
      req.cluster_id,
      {
        type: 'RecordScalingDecision',
        data: {
          decision: req.decision,
          target: req.target,
          reason: req.reason,
          rule: req.rule,
          inputs,
        },
        metadata: { now: now() },
      },
      ctx.meta,
      false,
      extra,
    );
    switch (req.decision) {
      case 'up':
      case 'down':
        return this.clusters.command(
          req.cluster_id,
          {
            type: 'ScaleCluster',
            data: { targetWorkers: req.target, reason: req.reason, source: 'autoscaler', inputs },
            metadata: { now: now() },
          },
          ctx.meta,
          false,
          extra,
        );
      case 'hibernate':
        return this.clusters.command(
          req.cluster_id,
          { type: 'HibernateCluster', data: { reason: req.reason }, metadata: { now: now() } },
          ctx.meta,
          false,
          extra,
        );
      case 'wake':
        return this.clusters.command(
          req.cluster_id,
          { type: 'ReactivateCluster', data: { reason: req.reason }, metadata: { now: now() } },
          ctx.meta,
          false,
          extra,
        );
      default:
        return recorded;
    }
  }
}
