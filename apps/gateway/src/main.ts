import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { runService } from '@flotilla/platform';
import { GatewayModule } from './app.module.js';
import { EventFeed } from './events/event-feed.service.js';
import { registerEventStream } from './events/sse.js';
import { openApiDocument } from './rest/openapi.js';
import { RestGateway } from './rest/rest-gateway.js';

await runService({
  service: 'gateway',
  module: (platform) => GatewayModule.register(platform),
  routes: [],
  httpPort: (config) => config.GATEWAY_HTTP_PORT,
  platform: { postgres: true, healthEndpoints: false },
  fastify: { bodyLimit: 1024 * 1024 },
  configureHttp: (app, { logger }) => {
    const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
    const rest = app.get(RestGateway);
    rest.register(fastify);
    registerEventStream(fastify, app.get(EventFeed), logger, () => undefined);
    SwaggerModule.setup('docs', app, openApiDocument() as never, { jsonDocumentUrl: 'docs/json' });
  },
  onListening: (_app, { logger, port, config }) => {
    logger.info({ url: `http://${config.HTTP_HOST}:${port}`, docs: `http://${config.HTTP_HOST}:${port}/docs` }, 'gateway listening');
  },
});
