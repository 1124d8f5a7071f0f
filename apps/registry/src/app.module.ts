import { type DynamicModule, Module } from '@nestjs/common';
import { followingCommandHandler } from '@flotilla/application';
import { fenceProvider, PersistenceModule, SingletonLoopsRuntime } from '@flotilla/platform';
import { TenantClusters } from './infrastructure/tenant-clusters.js';
import { LeadershipController } from './leadership/leadership.controller.js';
import { DirectoryFeed } from './nodes/directory-feed.js';
import { HeartbeatListener } from './nodes/heartbeat.listener.js';
import { NodeCommands } from './nodes/node-commands.service.js';
import { NodeDirectory } from './nodes/node-directory.js';
import { NodeHistory } from './nodes/node-history.js';
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
      // Every node stream stays folded in memory (10,000 nodes fit), kept current from the log; the
      // expected revision still guards every append. The registry writes node and settings streams.
      imports: [platform, PersistenceModule.register({ commands: followingCommandHandler(['node', 'registry']) })],
      controllers: [NodesController, PlacementController, LeadershipController],
      providers: [
        { provide: NodeDirectory, useValue: new NodeDirectory() },
        NodeHistory,
        NodeCommands,
        DirectoryFeed,
        HeartbeatListener,
        PlacementService,
        FailureDetector,
        DrainCompletion,
        ReservationReaper,
        fenceProvider,
        SingletonLoopsRuntime,
        SingletonLoops,
        TenantClusters,
      ],
    };
  }
}
