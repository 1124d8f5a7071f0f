import { type DynamicModule, Module } from '@nestjs/common';
import { SystemHealthController } from './health/system-health.controller.js';
import { SystemHealthService } from './health/system-health.service.js';

@Module({})
export class GatewayModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: GatewayModule,
      imports: [platform],
      controllers: [SystemHealthController],
      providers: [SystemHealthService],
    };
  }
}
