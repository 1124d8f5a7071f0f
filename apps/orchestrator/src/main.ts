import { orchestratorRoutes } from '@flotilla/contracts';
import { runService } from '@flotilla/platform';
import { OrchestratorModule } from './app.module.js';

await runService({
  service: 'orchestrator',
  module: (platform) => OrchestratorModule.register(platform),
  routes: Object.values(orchestratorRoutes),
  httpPort: (config) => config.ORCHESTRATOR_HTTP_PORT,
  platform: { postgres: true },
});
