import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { orchestratorRoutes as r, type RouteRequestParsed } from '@flotilla/contracts';
import { budgetHold, FencedOutError, manualScalePause, RuleViolationError, type JsonValue } from '@flotilla/domain';
import type { NatsRequestContext } from '@flotilla/messaging';
import { now } from '../infrastructure/request-context.js';
import { ClustersService } from './clusters.service.js';
import { LeaseTerms } from './lease-terms.js';

type Req = RouteRequestParsed<typeof r.applyScalingDecision>;

/**
 * The autoscaler's decisions. Each is recorded on the cluster's stream with its inputs and
 * reason (ScalingDecided), then applied as a scale, hibernate or wake. The decision names the
 * term its sender believes it leads with; only the autoscaler's current lease (read from NATS KV,
 * not from the request) is taken as the fence, checked in each append's own transaction, so a
 * deposed leader's late decision (or a forged term) is refused. Within the
 * cooldown after a manual scale, decisions other than waking are refused (rule
 * `manual_scale_pause`).
 */
@Controller()
export class ScalingController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly leases: LeaseTerms,
  ) {}

  /**
   * The metrics service found a budget's spend at its amount: recorded (BudgetExceeded, with the
   * figures) and acted on (`scale_down` scales to the minimum in the same append). The budget,
   * its amount and action are the cluster's own; a repeat of a recorded crossing changes nothing.
   */
  @MessagePattern(r.recordBudgetCrossing.subject)
  budget(@Payload() req: RouteRequestParsed<typeof r.recordBudgetCrossing>, @Ctx() ctx: NatsRequestContext) {
    return this.clusters.command(
      req.cluster_id,
      { type: 'RecordBudgetCrossing', data: { budget: req.budget, periodStart: req.period_start, spent: req.spent }, metadata: { now: now() } },
      ctx.meta,
    );
  }

  @MessagePattern(r.applyScalingDecision.subject)
  async apply(@Payload() req: Req, @Ctx() ctx: NatsRequestContext) {
    const lease = await this.leases.current('autoscaler');
    if (!lease || lease.term !== req.term) throw new FencedOutError('autoscaler', req.term, lease?.term ?? 0);
    const fence = { role: 'autoscaler', term: lease.term };
    // An operator's manual scale pauses automatic scaling for the cooldown: refused before
    // anything is recorded, and the autoscaler counts it as a hold.
    const state = await this.clusters.state(req.cluster_id);
    const paused = manualScalePause(state, req.decision, Date.now());
    if (paused) throw new RuleViolationError('manual_scale_pause', paused);
    // A `scale_down` budget crossed this period holds scale-ups and wakes until it ends.
    const held = budgetHold(state, req.decision, new Date());
    if (held) throw new RuleViolationError('budget_exceeded', held);
    const inputs = req.inputs as Record<string, JsonValue>;
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
      { fence },
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
          { fence },
        );
      case 'hibernate':
        return this.clusters.command(
          req.cluster_id,
          { type: 'HibernateCluster', data: { reason: req.reason }, metadata: { now: now() } },
          ctx.meta,
          { fence },
        );
      case 'wake':
        return this.clusters.command(
          req.cluster_id,
          { type: 'ReactivateCluster', data: { reason: req.reason }, metadata: { now: now() } },
          ctx.meta,
          { fence },
        );
      default:
        return recorded;
    }
  }
}
