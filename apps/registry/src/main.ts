import { runService } from '@flotilla/platform';
import { RegistryModule } from './app.module.js';

await runService({
  service: 'registry',
  module: (platform) => RegistryModule.register(platform),
  routes: [],
  httpPort: (config) => config.REGISTRY_HTTP_PORT,
  platform: { postgres: true },
});
