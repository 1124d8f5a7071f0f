import 'reflect-metadata';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { instanceId as makeInstanceId, loadConfigOrExit, type Config } from '@flotilla/config';
import type { Route, ServiceName } from '@flotilla/contracts';
import { FlotillaNatsTransport, Messaging } from '@flotilla/messaging';
import { createLogger, createMetricsRegistry, PinoNestLogger, startTracing, type Logger } from '@flotilla/telemetry';
import { countNatsErrors, measureNatsRequests } from './service-metrics.js';
import { PlatformModule, type PlatformOptions } from './platform.module.js';
import type { ServiceInfo } from './tokens.js';

export const VERSION = '0.1.0';

export interface ServiceDefinition {
  readonly service: ServiceName;
  /** The app's root module, given the platform module to import. */
  readonly module: (platform: DynamicModule) => Type | DynamicModule;
  /** Every route this service may answer with @MessagePattern. */
  readonly routes: readonly Route[];
  readonly httpPort: (config: Config) => number;
  readonly platform?: PlatformOptions;
  /** Called once the app listens (HTTP and NATS), e.g. to log extra URLs. */
  readonly onListening?: (app: INestApplication, ctx: { config: Config; logger: Logger; port: number }) => void | Promise<void>;
  /** Adjust the HTTP app before it listens (body limits, Swagger, filters). */
  readonly configureHttp?: (app: NestFastifyApplication, ctx: { config: Config; logger: Logger }) => void | Promise<void>;
  readonly fastify?: (config: Config) => ConstructorParameters<typeof FastifyAdapter>[0];
  /** false: the service registers its own body parsers (the gateway's depth-checked JSON). */
  readonly bodyParser?: boolean;
}

/**
 * Starts a Flotilla service: config (exit 78 naming the bad variable), tracing, JSON logs,
 * one NATS connection, the Nest app with its NATS transport and HTTP port, and a shutdown
 * path that stops taking work, lets in-flight work finish, then closes NATS and PostgreSQL.
 */
export async function runService(def: ServiceDefinition): Promise<INestApplication> {
  const config = loadConfigOrExit(def.service);
  const instanceId = makeInstanceId(def.service, config);
  // Every PostgreSQL connection of this process (its pool, the event store's, the read models')
  // names the service in pg_stat_activity, unless the operator named it already.
  process.env['PGAPPNAME'] ??= `flotilla-${def.service}`;
  const tracing = startTracing({
    serviceName: `flotilla-${def.service}`,
    instanceId,
    version: VERSION,
    otlp: { enabled: config.OTEL_ENABLED, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT },
  });
  const logger = createLogger({ service: def.service, instanceId, level: config.LOG_LEVEL });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  logger.info({ nats: config.NATS_URL, namespace: config.FLOTILLA_NAMESPACE || undefined }, 'connecting to NATS');
  const messaging = await Messaging.connect({
    servers: config.NATS_URL,
    name: `${def.service}:${instanceId}`,
    namespace: config.FLOTILLA_NAMESPACE,
    user: config.NATS_USER,
    password: config.NATS_PASSWORD,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    logger,
    waitOnFirstConnect: true,
  });
  const info: ServiceInfo = { service: def.service, instanceId, version: VERSION, startedAt: Date.now() };
  const registry = createMetricsRegistry(def.service, instanceId);
  countNatsErrors(messaging, registry);
  measureNatsRequests(messaging, registry);
  const platform = PlatformModule.forService({ info, config, logger, messaging, registry }, def.platform);

  const app = await NestFactory.create<NestFastifyApplication>(
    def.module(platform),
    new FastifyAdapter({ logger: false, ...def.fastify?.(config) }),
    { logger: new PinoNestLogger(logger), abortOnError: false, bodyParser: def.bodyParser ?? true },
  );
  await def.configureHttp?.(app, { config, logger });
  const transport = new FlotillaNatsTransport(messaging, def.routes, config.SHUTDOWN_GRACE_MS);
  // inheritAppConfig: the app's global filter (FlotillaExceptionFilter, an APP_FILTER) also
  // handles NATS handlers, so typed errors reach the transport unchanged instead of Nest's
  // default "Internal server error".
  app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new work, finishing in-flight work');
    // If something hangs past the grace period, leave anyway: the orchestrator and JetStream
    // redeliver what was not acknowledged, so exiting is safer than hanging.
    setTimeout(() => {
      logger.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutdown grace period exceeded; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS + 2000).unref();
    try {
      await app.close();
      await tracing.shutdown();
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await app.startAllMicroservices();
  // The route subscriptions reach the server before the service says it is ready: a request sent
  // right after "ready" must not find no responders.
  await messaging.nc.flush();
  const port = def.httpPort(config);
  await app.listen({ port, host: config.HTTP_HOST });
  const address = app.getHttpServer().address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  await def.onListening?.(app, { config, logger, port: actualPort });
  logger.info({ port: actualPort, host: config.HTTP_HOST }, `${def.service} ready`);
  return app;
}
