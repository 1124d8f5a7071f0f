import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { loadConfig, type Config } from '@flotilla/config';
import { registryRoutes } from '@flotilla/contracts';
import { FlotillaNatsTransport, Messaging } from '@flotilla/messaging';
import { PlatformModule, VERSION } from '@flotilla/platform';
import { createLogger, createMetricsRegistry } from '@flotilla/telemetry';
import { RegistryModule } from '../app.module.js';

/**
 * One registry replica in this process, wired exactly as `runService` wires the real one (the
 * module, the platform, the NATS transport over one connection), minus signal handling, so
 * integration tests can start several replicas, reach their providers and stop them.
 */
export interface RegistryReplica {
  readonly instanceId: string;
  readonly config: Config;
  readonly app: INestApplication;
  readonly messaging: Messaging;
  get<T>(token: string | symbol | (abstract new (...args: never[]) => T)): T;
  close(): Promise<void>;
}

export async function startRegistryReplica(
  env: Record<string, string>,
  instanceId: string,
): Promise<RegistryReplica> {
  const config = loadConfig({ ...process.env, SERVICE_INSTANCE_ID: instanceId, ...env });
  const logger = createLogger({
    service: 'registry',
    instanceId,
    level: process.env['FLOTILLA_TEST_LOGS'] ? 'info' : 'silent',
  });
  const messaging = await Messaging.connect({
    servers: config.NATS_URL,
    name: `registry:${instanceId}`,
    namespace: config.FLOTILLA_NAMESPACE,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    logger,
  });
  const platform = PlatformModule.forService(
    {
      info: { service: 'registry', instanceId, version: VERSION, startedAt: Date.now() },
      config,
      logger,
      messaging,
      registry: createMetricsRegistry('registry', instanceId),
    },
    { postgres: true, healthEndpoints: false },
  );
  const app = await NestFactory.create(
    RegistryModule.register(platform),
    new FastifyAdapter({ logger: false }),
    { logger: false, abortOnError: false },
  );
  app.connectMicroservice(
    { strategy: new FlotillaNatsTransport(messaging, Object.values(registryRoutes), 2000) },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  await app.init();
  // The route subscriptions reach the server before anybody is told the replica is up.
  await messaging.nc.flush();
  let closed = false;
  return {
    instanceId,
    config,
    app,
    messaging,
    get: (token) => app.get(token),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** A client connection in the test's namespace, to call routes as other services do. */
export function testClient(natsUrl: string, namespace: string): Promise<Messaging> {
  return Messaging.connect({
    servers: [natsUrl],
    name: 'registry-test-client',
    namespace,
    requestTimeoutMs: 10_000,
  });
}
