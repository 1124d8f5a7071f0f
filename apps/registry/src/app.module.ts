import { type DynamicModule, Module } from '@nestjs/common';

@Module({})
export class RegistryModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: RegistryModule, imports: [platform] };
  }
}
