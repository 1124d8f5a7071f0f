import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { orchestratorRoutes as r, type RouteRequestParsed } from '@flotilla/contracts';
import type { NatsRequestContext } from '@flotilla/messaging';
import { BlueprintsService } from './blueprints.service.js';

type Req<K extends keyof typeof r> = RouteRequestParsed<(typeof r)[K]>;

@Controller()
export class BlueprintsController {
  constructor(private readonly blueprints: BlueprintsService) {}

  @MessagePattern(r.registerBlueprint.subject)
  register(@Payload() req: Req<'registerBlueprint'>, @Ctx() ctx: NatsRequestContext) {
    return this.blueprints.register(req, ctx.meta);
  }

  @MessagePattern(r.listBlueprints.subject)
  list(@Payload() req: Req<'listBlueprints'>, @Ctx() ctx: NatsRequestContext) {
    return this.blueprints.list(req.limit, req.offset, ctx.meta);
  }

  @MessagePattern(r.getBlueprint.subject)
  get(@Payload() req: Req<'getBlueprint'>, @Ctx() ctx: NatsRequestContext) {
    return this.blueprints.get(req.id, ctx.meta);
  }

  @MessagePattern(r.deprecateBlueprint.subject)
  deprecate(@Payload() req: Req<'deprecateBlueprint'>, @Ctx() ctx: NatsRequestContext) {
    return this.blueprints.deprecate(req.id, req.reason, req.wait, ctx.meta);
  }
}
