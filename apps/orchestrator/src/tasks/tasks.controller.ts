import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { taskRoutes, type RouteRequestParsed } from '@flotilla/contracts';
import type { NatsRequestContext } from '@flotilla/messaging';
import { TasksService } from './tasks.service.js';

@Controller()
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @MessagePattern(taskRoutes.submit.subject)
  submit(
    @Payload() req: RouteRequestParsed<typeof taskRoutes.submit>,
    @Ctx() ctx: NatsRequestContext,
  ) {
    return this.tasks.submit(req, ctx.meta);
  }

  @MessagePattern(taskRoutes.deadLetters.subject)
  deadLetters(@Payload() req: RouteRequestParsed<typeof taskRoutes.deadLetters>, @Ctx() ctx: NatsRequestContext) {
    return this.tasks.deadLetters(req.id, req.limit, ctx.meta);
  }

  @MessagePattern(taskRoutes.get.subject)
  get(@Payload() req: RouteRequestParsed<typeof taskRoutes.get>, @Ctx() ctx: NatsRequestContext) {
    return this.tasks.get(req.id, ctx.meta);
  }
}
