import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import type { ServiceDefinition } from '@flotilla/platform';
import { GatewayModule } from './app.module.js';
import { registerDashboard } from './dashboard.js';
import { EventFeed } from './events/event-feed.service.js';
import { registerEventStream } from './events/sse.js';
import { WatcherLimits } from './events/watcher-limits.js';
import { GrpcGateway } from './grpc/grpc-server.js';
import { openApiDocument } from './rest/openapi.js';
import { RestGateway } from './rest/rest-gateway.js';

export const gatewayService: ServiceDefinition = {
  service: 'gateway',
  module: (platform) => GatewayModule.register(platform),
  routes: [],
  httpPort: (config) => config.GATEWAY_HTTP_PORT,
  platform: { postgres: true, healthEndpoints: false },
  fastify: (config) => ({ bodyLimit: config.HTTP_BODY_LIMIT_BYTES, trustProxy: false }),
  bodyParser: false,
  configureHttp: (app, { logger, config }) => {
    const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
    const rest = app.get(RestGateway);
    rest.register(fastify);
    registerEventStream(fastify, app.get(EventFeed), logger, rest, app.get(WatcherLimits));
    registerDashboard(fastify, rest, logger, config.DASHBOARD_DIR);
    SwaggerModule.setup('docs', app, openApiDocument() as never, { jsonDocumentUrl: 'docs/json' });
  },
  onListening: async (app, { logger, port, config }) => {
    const grpcPort = await app.get(GrpcGateway).start();
    logger.info({ url: `http://${config.HTTP_HOST}:${port}`, docs: `http://${config.HTTP_HOST}:${port}/docs`, grpc: `${config.HTTP_HOST}:${grpcPort}` }, 'gateway listening');
  },
};
