import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { Config } from '@flotilla/config';
import { registryRoutes as r, type RouteRequestParsed } from '@flotilla/contracts';
import { handoverRole, readLeadership } from '@flotilla/leadership';
import { Messaging, type NatsRequestContext } from '@flotilla/messaging';
import { CONFIG } from '@flotilla/platform';
import { requirePlatform } from '../infrastructure/request-context.js';

/** Every singleton role's leader and members (of every service), and handing a role over. */
@Controller()
export class LeadershipController {
  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @MessagePattern(r.leadership.subject)
  async leadership() {
    return {
      roles: await readLeadership(
        this.messaging,
        this.config.LEASE_TTL_MS,
        this.config.NATS_STREAM_REPLICAS,
      ),
    };
  }

  /**
   * Rewrites the role's lease to name the successor: the holder's next renew fails, so it stands
   * down, and the named member adopts the lease with a higher term (see handoverRole).
   */
  @MessagePattern(r.handover.subject)
  async handover(@Payload() req: RouteRequestParsed<typeof r.handover>, @Ctx() ctx: NatsRequestContext) {
    requirePlatform(ctx.meta, 'hand leadership over');
    await handoverRole(this.messaging, req.role, req.member_id, {
      ttlMs: this.config.LEASE_TTL_MS,
      replicas: this.config.NATS_STREAM_REPLICAS,
    });
    return this.leadership();
  }
}
