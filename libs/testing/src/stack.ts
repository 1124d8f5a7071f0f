import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createTestNamespace, type TestNamespace } from './nats.js';
import { api, freePort, startService, TEST_ADMIN_KEY, type AppName, type ServiceProcess } from './services.js';

export interface StackNode {
  readonly id: string;
  readonly zone?: string;
  readonly cpu?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface StackOptions {
  readonly label: string;
  readonly apps?: readonly Exclude<AppName, 'node-agent'>[];
  readonly nodes?: readonly StackNode[];
  readonly env?: NodeJS.ProcessEnv;
  /** NATS servers (a cluster from startNatsCluster); default: the shared test server. */
  readonly natsUrls?: readonly string[];
  /** Replicas of every service (labels `<app>-1`, `<app>-2`, … when more than one). */
  readonly replicas?: number;
  /** A database to use (dropped with the stack) instead of a new empty one. */
  readonly database?: TestDatabase;
}

export interface Stack {
  readonly url: string;
  /** Every gateway replica's URL (the first is `url`). */
  readonly gatewayUrls: readonly string[];
  readonly grpcPort: number;
  readonly env: NodeJS.ProcessEnv;
  readonly db: TestDatabase;
  readonly ns: TestNamespace;
  readonly procs: Map<string, ServiceProcess>;
  /** The REST API as the bootstrap admin. */
  readonly call: ReturnType<typeof api>;
  /** HTTP port of each service's /health, /ready, /metrics, by label. */
  readonly ports: Record<string, number>;
  startNode(node: StackNode, label?: string): ServiceProcess;
  stop(): Promise<void>;
}

/**
 * The whole system as separate processes (built dist/main.js) on its own database and NATS
 * namespace: gateway, orchestrator, registry, autoscaler, metrics, and node agents.
 */
/** The variable that sets each control-plane service's HTTP port. */
export const HTTP_PORT_VARIABLE: Readonly<Record<string, string>> = {
  gateway: 'GATEWAY_HTTP_PORT',
  orchestrator: 'ORCHESTRATOR_HTTP_PORT',
  registry: 'REGISTRY_HTTP_PORT',
  metrics: 'METRICS_HTTP_PORT',
  autoscaler: 'AUTOSCALER_HTTP_PORT',
};

/**
 * A blueprint of one echo supervisor and echo workers (1 to 4, 2 wanted, no autoscaling), small
 * enough that many fit a node: what the benchmarks and the chaos run drive.
 */
export function echoBlueprint(id: string, name: string): Record<string, unknown> {
  return {
    apiVersion: 'flotilla/v1',
    kind: 'Blueprint',
    metadata: { id, name, version: '1.0.0' },
    cluster: {
      type: 'custom',
      minWorkers: 1,
      targetWorkers: 2,
      maxWorkers: 4,
      resources: { cpu: 0.05, memoryMb: 32 },
      placement: { strategy: 'least-agents', zoneSpread: false, antiAffinity: false },
      scaling: { enabled: false },
    },
    agents: [
      { name: 'lead', role: 'supervisor', capabilities: ['coordination'], runtime: { kind: 'builtin', handler: 'echo' } },
      { name: 'worker', role: 'worker', capabilities: ['echo'], runtime: { kind: 'builtin', handler: 'echo' } },
    ],
  };
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const db = opts.database ?? (await createTestDatabase(opts.label));
  const ns = createTestNamespace(opts.natsUrls?.[0]);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `flotilla-${opts.label}-`));
  const apps = opts.apps ?? ['orchestrator', 'registry', 'metrics', 'autoscaler', 'gateway'];
  const replicas = opts.replicas ?? 1;
  const labelOf = (app: string, r: number) => (replicas === 1 ? app : `${app}-${r}`);
  const ports: Record<string, number> = {};
  const grpcPorts: number[] = [];
  for (let r = 1; r <= replicas; r++) {
    for (const app of apps) ports[labelOf(app, r)] = await freePort();
    grpcPorts.push(await freePort());
  }
  const grpcPort = grpcPorts[0]!;
  const env: NodeJS.ProcessEnv = {
    FLOTILLA_NAMESPACE: ns.prefix,
    NATS_URL: opts.natsUrls?.join(',') ?? ns.natsUrl,
    DATABASE_URL: db.url,
    FLOTILLA_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
    RATE_LIMIT_RPS: '5000',
    RATE_LIMIT_BURST: '10000',
    TENANT_MAX_TASKS_PER_SECOND: '5000',
    // Every test client calls from 127.0.0.1: suites that check refusals must not lock it out.
    AUTH_FAILURE_LIMIT: '100000',
    SHUTDOWN_GRACE_MS: '5000',
    ...opts.env,
  };
  const procs = new Map<string, ServiceProcess>();
  for (let r = 1; r <= replicas; r++) {
    for (const app of apps) {
      const label = labelOf(app, r);
      const own: NodeJS.ProcessEnv = { [HTTP_PORT_VARIABLE[app]!]: String(ports[label]) };
      if (app === 'gateway') own['GATEWAY_GRPC_PORT'] = String(grpcPorts[r - 1]);
      procs.set(label, startService(app, { ...env, ...own }, label));
    }
  }
  const startNode = (node: StackNode, label = node.id) => {
    const proc = startService(
      'node-agent',
      {
        ...env,
        NODE_ID: node.id,
        NODE_ZONE: node.zone ?? 'zone-a',
        NODE_CPU: node.cpu ?? '8',
        NODE_MEMORY_MB: '16384',
        NODE_AGENT_HTTP_PORT: '0',
        FLOTILLA_DATA_DIR: path.join(dataDir, node.id),
        ...node.env,
      },
      label,
    );
    procs.set(label, proc);
    return proc;
  };
  for (const node of opts.nodes ?? []) startNode(node);
  try {
    await Promise.all([...procs.values()].map((p) => p.waitFor()));
  } catch (err) {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await db.drop().catch(() => undefined);
    throw err;
  }
  const gatewayUrls = Array.from({ length: replicas }, (_, i) => `http://127.0.0.1:${ports[labelOf('gateway', i + 1)]}`);
  const url = gatewayUrls[0]!;
  return {
    url,
    gatewayUrls,
    grpcPort,
    env,
    db,
    ns,
    procs,
    call: api(url),
    ports,
    startNode,
    stop: async () => {
      // Node agents first (they report their agents stopped), then the services.
      const nodes = [...procs.entries()].filter(([, p]) => p.app === 'node-agent');
      await Promise.all(nodes.map(([, p]) => p.stop()));
      await Promise.all([...procs.values()].filter((p) => p.app !== 'node-agent').map((p) => p.stop()));
      await db.drop().catch(() => undefined);
      await ns.cleanup().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
