import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class AutoscalerModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: AutoscalerModule, imports: [platform] };
  }
}
