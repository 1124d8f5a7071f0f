import { type DynamicModule, Module } from '@nestjs/common';
import { SingletonLoopsRuntime } from '@flotilla/platform';
import { Autoscaler } from './autoscaler.js';

@Module({})
export class AutoscalerModule {
  static register(platform: DynamicModule): DynamicModule {
    return { module: AutoscalerModule, imports: [platform], providers: [SingletonLoopsRuntime, Autoscaler] };
  }
}
