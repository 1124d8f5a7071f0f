import { runService } from '@flotilla/platform';
import { GatewayModule } from './app.module.js';

await runService({
  service: 'gateway',
  module: (platform) => GatewayModule.register(platform),
  routes: [],
  httpPort: (config) => config.GATEWAY_HTTP_PORT,
  platform: { postgres: true, healthEndpoints: false },
  fastify: { bodyLimit: 1024 * 1024 },
  onListening: (_app, { logger, port, config }) => {
    logger.info({ url: `http://${config.HTTP_HOST}:${port}` }, 'gateway listening');
  },
});
