import { metricsRoutes } from '@flotilla/contracts';
import type { ServiceDefinition } from '@flotilla/platform';
import { MetricsModule } from './app.module.js';

export const metricsService: ServiceDefinition = {
  service: 'metrics',
  module: (platform) => MetricsModule.register(platform),
  routes: Object.values(metricsRoutes),
  httpPort: (config) => config.METRICS_HTTP_PORT,
  platform: { postgres: true },
};
