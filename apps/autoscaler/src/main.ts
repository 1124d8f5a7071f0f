import { runService } from '@flotilla/platform';
import { AutoscalerModule } from './app.module.js';

await runService({
  service: 'autoscaler',
  module: (platform) => AutoscalerModule.register(platform),
  routes: [],
  httpPort: (config) => config.AUTOSCALER_HTTP_PORT,
  platform: { postgres: false },
});
