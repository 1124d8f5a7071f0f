import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class OrchestratorModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: OrchestratorModule, imports: [platform] };
  }
}
