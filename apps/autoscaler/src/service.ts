import type { ServiceDefinition } from '@flotilla/platform';
import { AutoscalerModule } from './app.module.js';

export const autoscalerService: ServiceDefinition = {
  service: 'autoscaler',
  module: (platform) => AutoscalerModule.register(platform),
  routes: [],
  httpPort: (config) => config.AUTOSCALER_HTTP_PORT,
  platform: { postgres: false },
};
