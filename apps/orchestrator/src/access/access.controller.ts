import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { accessRoutes as r, type RouteRequestParsed } from '@flotilla/contracts';
import type { NatsRequestContext } from '@flotilla/messaging';
import { AccessService } from './access.service.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

@Controller()
export class AccessController {
  constructor(private readonly access: AccessService) {}

  @MessagePattern(r.createKey.subject)
  create(@Payload() req: Req<'createKey'>, @Ctx() ctx: NatsRequestContext) {
    return this.access.create(req, ctx.meta);
  }

  @MessagePattern(r.listKeys.subject)
  list(@Payload() req: Req<'listKeys'>, @Ctx() ctx: NatsRequestContext) {
    return this.access.list(req.tenant_id, req.limit, req.offset, ctx.meta);
  }

  @MessagePattern(r.revokeKey.subject)
  revoke(@Payload() req: Req<'revokeKey'>, @Ctx() ctx: NatsRequestContext) {
    return this.access.revoke(req.id, req.reason, ctx.meta);
  }

  @MessagePattern(r.verifyKey.subject)
  verify(@Payload() req: Req<'verifyKey'>) {
    return this.access.verify(req.token);
  }

  @MessagePattern(r.eventHistory.subject)
  history(@Payload() req: Req<'eventHistory'>, @Ctx() ctx: NatsRequestContext) {
    return this.access.history(req, ctx.meta);
  }

  @MessagePattern(r.audit.subject)
  audit(@Payload() req: Req<'audit'>, @Ctx() ctx: NatsRequestContext) {
    return this.access.audit(req, ctx.meta);
  }
}
