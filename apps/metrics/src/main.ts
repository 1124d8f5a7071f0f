import { runService } from '@flotilla/platform';
import { MetricsModule } from './app.module.js';

await runService({
  service: 'metrics',
  module: (platform) => MetricsModule.register(platform),
  routes: [],
  httpPort: (config) => config.METRICS_HTTP_PORT,
  platform: { postgres: true },
});
