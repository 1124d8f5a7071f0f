import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CommandHandler } from '@flotilla/application';
import {
  orchestratorRoutes,
  registryRoutes,
  registrySubjects,
  type Heartbeat,
  type NodeView,
} from '@flotilla/contracts';
import { nodeDecider, nodeStream, type AgentSpec, type NodeCommand } from '@flotilla/domain';
import { createEventStore, type EventStore } from '@flotilla/eventstore';
import { decodeJson, Messaging } from '@flotilla/messaging';
import {
  createReadModelOrm,
  EventRelay,
  migrateReadModels,
  type ReadModelOrm,
} from '@flotilla/projections';
import {
  createTestDatabase,
  createTestNamespace,
  eventually,
  startService,
  type ServiceProcess,
  type TestDatabase,
  type TestNamespace,
} from '@flotilla/testing';
import { startStubServer } from './testing/stub-server.js';

const NODE = 'node-int-1';

interface Report {
  cluster_id: string;
  agent_id: string;
  node_id: string;
  state: string;
  reason?: string;
  at: number;
}

/**
 * The node agent as a process against real NATS and PostgreSQL: node events are written to the
 * event store with the node decider and published to JetStream by the real relay, as in the
 * system. The registry's and orchestrator's routes it calls are answered here (recording what
 * it says) so the test controls the log the node agent learns from.
 */
describe('node agent (a process, real NATS and PostgreSQL)', () => {
  let db: TestDatabase;
  let ns: TestNamespace;
  let dataDir: string;
  let messaging: Messaging;
  let store: EventStore;
  let orm: ReadModelOrm;
  let pool: pg.Pool;
  let handler: CommandHandler;
  const relayStop = new AbortController();
  let relayRun: Promise<void>;
  let stub: Awaited<ReturnType<typeof startStubServer>>;
  let agentProc: ServiceProcess | undefined;
  const registrations: unknown[] = [];
  const drains: string[] = [];
  const reports: Report[] = [];
  const heartbeats: (Heartbeat & { at: number })[] = [];
  let nodeStatus: NodeView['status'] = 'online';
  let env: NodeJS.ProcessEnv;

  const builtin: AgentSpec = {
    name: 'copywriter',
    role: 'specialist',
    capabilities: ['copy'],
    runtime: { kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 },
  };

  const command = async (c: Omit<NodeCommand, 'metadata'>) =>
    handler.handle(
      nodeDecider,
      nodeStream(NODE),
      { ...c, metadata: { now: new Date().toISOString() } } as NodeCommand,
      { actor: 'test', correlationId: 'test' },
    );
  const assign = (agentId: string, agent: AgentSpec = builtin) =>
    command({
      type: 'PlaceAgent',
      data: { agentId, clusterId: 'cluster-int', resources: { cpu: 0.5, memoryMb: 256 }, agent },
    });
  const release = (agentId: string, reason: string) =>
    command({ type: 'ReleaseAgent', data: { agentId, reason } });

  /** eventually(), every 25 ms; a wait that fails shows the agent's last log lines. */
  const untilWithLog = <T>(
    probe: () => T | undefined | false,
    timeoutMs: number,
    what: string,
  ): Promise<T> =>
    eventually(probe, { timeoutMs, intervalMs: 25, what }).catch((err: Error) => {
      err.message += `\n${agentProc?.tail(20) ?? ''}`;
      throw err;
    });
  const lastBeat = (after = 0) => heartbeats.filter((h) => h.at > after).at(-1);
  const startAgent = (label: string) => {
    agentProc = startService('node-agent', env, label);
    return agentProc.waitFor();
  };

  beforeAll(async () => {
    db = await createTestDatabase('node_agent');
    ns = createTestNamespace();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flotilla-node-agent-'));
    messaging = await Messaging.connect({
      servers: [ns.natsUrl],
      namespace: ns.prefix,
      name: 'node-agent-test',
      requestTimeoutMs: 5000,
    });
    store = await createEventStore({ kind: 'postgres', url: db.url });
    orm = await createReadModelOrm({ url: db.url });
    await migrateReadModels(orm, db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    handler = new CommandHandler(store);
    const relay = new EventRelay(messaging, store, pool);
    await relay.ensureStream();
    relayRun = relay.run(relayStop.signal).catch(() => undefined);
    stub = await startStubServer((req) => ({
      body: { handled: (req.body as { task_id: string }).task_id },
    }));

    // The node agent speaks on its own node's subjects (`….<nodeId>`), the node id is the subject's.
    messaging.serve(registryRoutes.registerOwnNode, (req, meta) => {
      registrations.push({ ...req, subject_node: meta.node });
      if (req.resume_own_drain) nodeStatus = 'online';
      const view = {
        id: req.node_id ?? NODE,
        status: nodeStatus,
        zone: req.zone,
        capacity: req.capacity,
      };
      return view as unknown as NodeView;
    });
    messaging.serve(registryRoutes.drainOwnNode, (_req, meta) => {
      drains.push(meta.node!);
      nodeStatus = 'draining';
      return { id: meta.node, status: nodeStatus } as unknown as NodeView;
    });
    messaging.serve(orchestratorRoutes.reportAgent, (req, meta) => {
      reports.push({ ...req, node_id: meta.node!, at: Date.now() });
      return { recorded: [] };
    });
    messaging.nc.subscribe(messaging.subject(registrySubjects.heartbeat(NODE)), {
      callback: (_err, msg) => {
        heartbeats.push({ ...decodeJson<Heartbeat>(msg.data), at: Date.now() });
      },
    });

    await command({
      type: 'RegisterNode',
      data: {
        nodeId: NODE,
        hostname: 'h',
        address: '127.0.0.1',
        region: 'local',
        zone: 'zone-b',
        capacity: { cpu: 4, memoryMb: 4096, maxAgents: 10 },
      },
    });
    env = {
      FLOTILLA_NAMESPACE: ns.prefix,
      NATS_URL: ns.natsUrl,
      NODE_AGENT_HTTP_PORT: '0',
      NODE_ID: NODE,
      NODE_ZONE: 'zone-b',
      NODE_LABELS: 'tier=fast',
      NODE_SERVICES: 'web',
      NODE_CPU: '4',
      NODE_MEMORY_MB: '4096',
      NODE_MAX_AGENTS: '10',
      FLOTILLA_DATA_DIR: dataDir,
      HEARTBEAT_INTERVAL_MS: '200',
      SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    await agentProc?.stop(3000);
    relayStop.abort();
    await relayRun;
    await messaging?.close();
    await stub?.close();
    await store?.close();
    await pool?.end();
    await orm?.close();
    await db?.drop();
    await ns?.cleanup();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('registers with its settings and heartbeats real readings of the host', async () => {
    await startAgent('node-agent');
    const registration = await untilWithLog(
      () => registrations[0] as Record<string, unknown> | undefined,
      10_000,
      'registration',
    );
    expect(registration).toMatchObject({
      node_id: NODE,
      subject_node: NODE,
      zone: 'zone-b',
      labels: { tier: 'fast' },
      services: ['web'],
      capacity: { cpu: 4, memory_mb: 4096, max_agents: 10 },
      role: 'worker',
    });
    const beat = await untilWithLog(
      () => heartbeats.length >= 3 && heartbeats.at(-1),
      5000,
      'heartbeats',
    );
    expect(beat).toMatchObject({ node_id: NODE, cores: os.cpus().length, agents: [] });
    expect(beat.memory_percent).toBeGreaterThan(0);
    expect(beat.memory_percent).toBeLessThanOrEqual(100);
    expect(beat.disk_percent).toBeGreaterThan(0);
    expect(beat.cpu_percent).toBeGreaterThanOrEqual(0);
    expect(beat.load_avg).toBeGreaterThanOrEqual(0);
    const gaps = heartbeats
      .slice(-3)
      .map((h, i, all) => (i ? h.at - all[i - 1]!.at : 200))
      .slice(1);
    for (const gap of gaps) expect(gap).toBeLessThan(600);
  });

  it('starts the agents the log assigns it, reports them started, and lists them in its heartbeats', async () => {
    const http: AgentSpec = {
      name: 'researcher',
      role: 'worker',
      capabilities: ['web'],
      runtime: {
        kind: 'http',
        url: `${stub.url}/run`,
        method: 'POST',
        timeoutMs: 2000,
        headers: {},
      },
    };
    const llm: AgentSpec = {
      name: 'writer',
      role: 'worker',
      capabilities: [],
      runtime: {
        kind: 'openai',
        baseUrl: `${stub.url}/v1`,
        model: 'm',
        systemPrompt: null,
        apiKeyEnv: 'AGENT_SECRET_NODE_TEST_KEY_UNSET',
        temperature: null,
        maxTokens: null,
        timeoutMs: 1000,
      },
    };
    await assign('agent-a1');
    await assign('agent-a2', http);
    await assign('agent-a3', llm);
    await untilWithLog(
      () =>
        reports.filter((r) => r.state === 'started').length >= 2 &&
        reports.some((r) => r.agent_id === 'agent-a3'),
      10_000,
      'start reports',
    );
    expect(
      reports
        .filter((r) => r.state === 'started')
        .map((r) => r.agent_id)
        .sort(),
    ).toEqual(['agent-a1', 'agent-a2']);
    const failed = reports.find((r) => r.agent_id === 'agent-a3')!;
    expect(failed).toMatchObject({ state: 'failed', node_id: NODE, cluster_id: 'cluster-int' });
    expect(failed.reason).toMatch(/AGENT_SECRET_NODE_TEST_KEY_UNSET/);
    const since = Date.now();
    const beat = await untilWithLog(() => lastBeat(since), 2000, 'heartbeat');
    expect(beat.agents.map((a) => a.agent_id).sort()).toEqual(['agent-a1', 'agent-a2']);
    expect(beat.agents.every((a) => a.cluster_id === 'cluster-int' && a.state === 'idle')).toBe(
      true,
    );
  });

  it('stops an agent the log releases and reports it stopped with the reason', async () => {
    await release('agent-a1', 'moved to node-2');
    const stopped = await untilWithLog(
      () => reports.find((r) => r.agent_id === 'agent-a1' && r.state === 'stopped'),
      5000,
      'stop report',
    );
    expect(stopped.reason).toBe('moved to node-2');
    const since = Date.now();
    const beat = await untilWithLog(() => lastBeat(since), 2000, 'heartbeat');
    expect(beat.agents.map((a) => a.agent_id)).toEqual(['agent-a2']);
  });

  it('after kill -9 and a restart, resumes exactly the agents the log still assigns it (never one released meanwhile)', async () => {
    agentProc!.kill('SIGKILL');
    await agentProc!.exited;
    // While it is down: one agent is re-placed elsewhere (released here), another is assigned.
    await release('agent-a2', 'node went offline; moved to node-2');
    await assign('agent-a4');
    const restartedAt = Date.now();
    await startAgent('node-agent-restarted');
    await untilWithLog(
      () =>
        reports.some(
          (r) => r.at > restartedAt && r.agent_id === 'agent-a4' && r.state === 'started',
        ),
      30_000,
      'agent-a4 started',
    );
    const since = Date.now();
    const beat = await untilWithLog(() => lastBeat(since), 5000, 'heartbeat');
    expect(beat.agents.map((a) => a.agent_id)).toEqual(['agent-a4']);
    const startedAfter = reports
      .filter((r) => r.at > restartedAt && r.state === 'started')
      .map((r) => r.agent_id);
    expect(startedAfter).toEqual(['agent-a4']);
  });

  it('without its local copy, replays its node’s history and reaches the same agents', async () => {
    agentProc!.kill('SIGKILL');
    await agentProc!.exited;
    await fs.rm(path.join(dataDir, 'node-agent', NODE, 'assignments.json'));
    const restartedAt = Date.now();
    await startAgent('node-agent-replayed');
    await untilWithLog(
      () =>
        reports.some(
          (r) => r.at > restartedAt && r.agent_id === 'agent-a4' && r.state === 'started',
        ),
      30_000,
      'agent-a4 started again',
    );
    const since = Date.now();
    const beat = await untilWithLog(() => lastBeat(since), 5000, 'heartbeat');
    expect(beat.agents.map((a) => a.agent_id)).toEqual(['agent-a4']);
    expect(
      reports.filter((r) => r.at > restartedAt && r.state === 'started').map((r) => r.agent_id),
    ).toEqual(['agent-a4']);
  });

  it('on SIGTERM marks its node draining and exits cleanly; the next start registers undoing its own drain', async () => {
    const proc = agentProc!;
    proc.kill('SIGTERM');
    const { code } = await proc.exited;
    expect(code).toBe(0);
    expect(drains).toEqual([NODE]);
    expect(proc.lines.some((l) => l.includes('node marked draining'))).toBe(true);
    const before = registrations.length;
    await startAgent('node-agent-after-drain');
    const resumed = await untilWithLog(
      () => registrations.length > before && registrations.at(-1),
      10_000,
      'registration after the drain',
    );
    expect(resumed).toMatchObject({ node_id: NODE, resume_own_drain: true });
    // The marker goes once that registration is answered: the start after this one registers plainly.
    const marker = path.join(dataDir, 'node-agent', NODE, 'self-drained');
    await untilWithLog(() => !existsSync(marker), 10_000, 'drain marker removed');
    agentProc!.kill('SIGKILL');
    await agentProc!.exited;
    const again = registrations.length;
    await startAgent('node-agent-plain');
    const plain = await untilWithLog(
      () => registrations.length > again && registrations.at(-1),
      10_000,
      'plain registration',
    );
    expect(plain).toMatchObject({ node_id: NODE, resume_own_drain: false });
  });
});
