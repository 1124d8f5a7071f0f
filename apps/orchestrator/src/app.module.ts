import { type DynamicModule, Module } from '@nestjs/common';
import { AccessController } from './access/access.controller.js';
import { AccessService } from './access/access.service.js';
import { AgentReportsController } from './agents/agent-reports.controller.js';
import { BlueprintsController } from './blueprints/blueprints.controller.js';
import { BlueprintsService } from './blueprints/blueprints.service.js';
import { ClusterQueries } from './clusters/cluster-queries.service.js';
import { ClusterHistory } from './clusters/cluster-history.js';
import { ScalingSimulations } from './clusters/scaling-simulation.js';
import { ClustersController } from './clusters/clusters.controller.js';
import { ClustersService } from './clusters/clusters.service.js';
import { HealthScores } from './clusters/health-scores.js';
import { LeaseTerms } from './clusters/lease-terms.js';
import { ScalingController } from './clusters/scaling.controller.js';
import { Reconciler } from './reconciler/reconciler.js';
import { followingCommandHandler } from '@flotilla/application';
import { fenceProvider, PersistenceModule, SingletonLoopsRuntime } from '@flotilla/platform';
import { SingletonLoops } from './reconciler/singletons.js';
import { CLOCK, systemClock } from './reconciler/tokens.js';
import { CircuitBreakers } from './tasks/circuit-breakers.js';
import { TasksController } from './tasks/tasks.controller.js';
import { TasksService } from './tasks/tasks.service.js';
import { TenantBudgetsController, TenantBudgetsService } from './tenants/tenant-budgets.js';

/** The streams the orchestrator writes: its command handler's cache follows them. */
const ORCHESTRATOR_CATEGORIES = ['cluster', 'blueprint', 'apikey'];

@Module({})
export class OrchestratorModule {
  static register(platform: DynamicModule): DynamicModule {
    return {
      module: OrchestratorModule,
      // Cluster, blueprint and key states stay folded in memory, kept current from the log.
      imports: [platform, PersistenceModule.register({ commands: followingCommandHandler(ORCHESTRATOR_CATEGORIES) })],
      controllers: [
        AccessController,
        BlueprintsController,
        ClustersController,
        AgentReportsController,
        ScalingController,
        TasksController,
        TenantBudgetsController,
      ],
      providers: [
        AccessService,
        BlueprintsService,
        ClustersService,
        ClusterQueries,
        ClusterHistory,
        ScalingSimulations,
        HealthScores,
        LeaseTerms,
        Reconciler,
        fenceProvider,
        { provide: CLOCK, useValue: systemClock },
        SingletonLoopsRuntime,
        SingletonLoops,
        TasksService,
        TenantBudgetsService,
        CircuitBreakers,
      ],
    };
  }
}
