import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class NodeAgentModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: NodeAgentModule, imports: [platform] };
  }
}
