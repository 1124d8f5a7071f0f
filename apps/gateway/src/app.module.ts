import { type DynamicModule, Module } from '@nestjs/common';
import { Authenticator } from './auth/authenticator.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { EventFeed } from './events/event-feed.service.js';
import { WatcherLimits } from './events/watcher-limits.js';
import { GrpcGateway } from './grpc/grpc-server.js';
import { SystemHealthController } from './health/system-health.controller.js';
import { SystemHealthService } from './health/system-health.service.js';
import { RestGateway } from './rest/rest-gateway.js';

@Module({})
export class GatewayModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: GatewayModule,
      imports: [platform],
      controllers: [SystemHealthController],
      providers: [SystemHealthService, RestGateway, EventFeed, WatcherLimits, GrpcGateway, Authenticator, RateLimiter],
    };
  }
}
