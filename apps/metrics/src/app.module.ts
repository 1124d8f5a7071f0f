import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class MetricsModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: MetricsModule, imports: [platform] };
  }
}
