import { accessRoutes, orchestratorRoutes, taskRoutes } from '@flotilla/contracts';
import type { ServiceDefinition } from '@flotilla/platform';
import { OrchestratorModule } from './app.module.js';

export const orchestratorService: ServiceDefinition = {
  service: 'orchestrator',
  module: (platform) => OrchestratorModule.register(platform),
  routes: [
    ...Object.values(orchestratorRoutes),
    ...Object.values(taskRoutes),
    ...Object.values(accessRoutes),
  ],
  httpPort: (config) => config.ORCHESTRATOR_HTTP_PORT,
  platform: { postgres: true },
};
