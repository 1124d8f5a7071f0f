import { type DynamicModule, Module } from '@nestjs/common';
import { SingletonLoopsRuntime } from '@flotilla/platform';
import { PersistenceModule } from './infrastructure/persistence.module.js';
import { TenantClusters } from './infrastructure/tenant-clusters.js';
import { LeadershipController } from './leadership/leadership.controller.js';
import { DirectoryFeed } from './nodes/directory-feed.js';
import { HeartbeatListener } from './nodes/heartbeat.listener.js';
import { NodeCommands } from './nodes/node-commands.service.js';
import { NodeDirectory } from './nodes/node-directory.js';
import { NodesController } from './nodes/nodes.controller.js';
import { PlacementController } from './placement/placement.controller.js';
import { PlacementService } from './placement/placement.service.js';
import { DrainCompletion } from './singletons/drain-completion.js';
import { FailureDetector } from './singletons/failure-detector.js';
import { ReservationReaper } from './singletons/reservation-reaper.js';
import { SingletonLoops } from './singletons/singleton-loops.js';

@Module({})
export class RegistryModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: RegistryModule,
      imports: [platform, PersistenceModule],
      controllers: [NodesController, PlacementController, LeadershipController],
      providers: [
        { provide: NodeDirectory, useValue: new NodeDirectory() },
        NodeCommands,
        DirectoryFeed,
        HeartbeatListener,
        PlacementService,
        FailureDetector,
        DrainCompletion,
        ReservationReaper,
        SingletonLoopsRuntime,
        SingletonLoops,
        TenantClusters,
      ],
    };
  }
}
