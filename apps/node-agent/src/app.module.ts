import { type DynamicModule, Module } from '@nestjs/common';
import { NodeAgentService } from './node-agent.service.js';

@Module({})
export class NodeAgentModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: NodeAgentModule, imports: [platform], providers: [NodeAgentService] };
  }
}
