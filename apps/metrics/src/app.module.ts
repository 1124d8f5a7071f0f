import { type DynamicModule, Module } from '@nestjs/common';
import { fenceProvider, PersistenceModule, SingletonLoopsRuntime } from '@flotilla/platform';
import { Collector } from './collector/collector.js';
import { FleetMirror } from './collector/fleet-mirror.js';
import { LiveState } from './collector/live-state.js';
import { Snapshots } from './collector/snapshots.service.js';
import { MetricsController } from './metrics.controller.js';
import { Accounting } from './cost/accounting.js';
import { Costs } from './cost/costs.service.js';
import { BudgetWatch } from './cost/budget-watch.js';

@Module({})
export class MetricsModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: MetricsModule,
      // The log, read only (a small pool): the fleet mirror follows the cluster streams.
      imports: [platform, PersistenceModule.register({ eventStorePoolSize: 2 })],
      controllers: [MetricsController],
      providers: [fenceProvider, SingletonLoopsRuntime, FleetMirror, LiveState, Snapshots, Collector, Costs, Accounting, BudgetWatch],
    };
  }
}
