import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { loadConfig, type Config } from '@flotilla/config';
import { registryRoutes, type Heartbeat, type PlacementAgent } from '@flotilla/contracts';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { FlotillaNatsTransport, Messaging } from '@flotilla/messaging';
import { PlatformModule, VERSION } from '@flotilla/platform';
import { createLogger, createMetricsRegistry } from '@flotilla/telemetry';
import {
  createTestDatabase,
  createTestNamespace,
  type TestDatabase,
  type TestNamespace,
} from '@flotilla/testing';
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

/**
 * What each registry integration test starts from: its own database and NATS namespace, the
 * replicas it names running on them, a client connection and the event store read directly.
 */
export interface RegistryTestBed {
  readonly db: TestDatabase;
  readonly ns: TestNamespace;
  /** The replicas' environment (database, namespace and the test's settings), to start more. */
  readonly env: Record<string, string>;
  /** The replicas named at the start, in that order. */
  readonly replicas: readonly RegistryReplica[];
  readonly client: Messaging;
  readonly store: EventStore;
  /** Calls `beat` every `everyMs` until close (the heartbeats of the nodes a test keeps alive). */
  every(everyMs: number, beat: () => void): void;
  /**
   * Stops the timers, closes `replicas` (those still running, the test's own), the client and the
   * store, drops the database and deletes the namespace's streams.
   */
  close(replicas: readonly (RegistryReplica | undefined)[]): Promise<void>;
}

export async function startRegistryTestBed(
  label: string,
  settings: Record<string, string>,
  replicaIds: readonly string[],
): Promise<RegistryTestBed> {
  const db = await createTestDatabase(label);
  const ns = createTestNamespace();
  const env = {
    DATABASE_URL: db.url,
    NATS_URL: ns.natsUrl,
    FLOTILLA_NAMESPACE: ns.prefix,
    ...settings,
  };
  const replicas: RegistryReplica[] = [];
  let client: Messaging | undefined;
  let store: EventStore | undefined;
  try {
    for (const id of replicaIds) replicas.push(await startRegistryReplica(env, id));
    client = await testClient(ns.natsUrl, ns.prefix);
    store = await createEventStore({ kind: 'postgres', url: db.url });
  } catch (err) {
    // A start that fails half way leaves nothing behind either.
    await Promise.all(replicas.map((r) => r.close()));
    await client?.close();
    await db.drop();
    await ns.cleanup();
    throw err;
  }
  const opened = { client, store };
  const timers: NodeJS.Timeout[] = [];
  return {
    db,
    ns,
    env,
    replicas,
    ...opened,
    every: (everyMs, beat) => void timers.push(setInterval(beat, everyMs)),
    close: async (running) => {
      for (const t of timers) clearInterval(t);
      await Promise.all(running.map((r) => r?.close()));
      await opened.client.close();
      await opened.store.close();
      await db.drop();
      await ns.cleanup();
    },
  };
}

/** An agent to place: a builtin echo worker needing `cpu` cores and `memory_mb` (½ core, 256 MB). */
export function placementAgent(
  id: string,
  fields: Partial<Pick<PlacementAgent, 'capabilities'>> & { cpu?: number; memory_mb?: number } = {},
): PlacementAgent {
  return {
    agent_id: id,
    name: 'worker',
    role: 'worker',
    capabilities: fields.capabilities ?? [],
    runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 },
    resources: { cpu: fields.cpu ?? 0.5, memory_mb: fields.memory_mb ?? 256 },
  };
}

/** A heartbeat of a quiet node (5 % of its CPU, memory and disk in use, no load) running `agents`. */
export function quietHeartbeat(nodeId: string, agents: Heartbeat['agents'] = []): Heartbeat {
  return {
    node_id: nodeId,
    sent_at: new Date().toISOString(),
    cpu_percent: 5,
    memory_percent: 5,
    disk_percent: 5,
    load_avg: 0,
    agents,
  };
}
