import { registryRoutes } from '@flotilla/contracts';
import { runService } from '@flotilla/platform';
import { RegistryModule } from './app.module.js';

await runService({
  service: 'registry',
  module: (platform) => RegistryModule.register(platform),
  routes: Object.values(registryRoutes),
  httpPort: (config) => config.REGISTRY_HTTP_PORT,
  platform: { postgres: true },
});
