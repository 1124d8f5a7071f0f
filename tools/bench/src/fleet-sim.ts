// A fleet of simulated node agents in one process, speaking the real protocol: each node
// registers, heartbeats every second with its agents, sends telemetry, follows its assignments
// from the events stream through a durable JetStream consumer of its own (filtered to its node's
// subjects, as a node agent does), and reports each assigned agent started (and released agents
// stopped) to the orchestrator. Agents run nothing: the fleet is the control plane's load.
//
//   node fleet-sim.ts       env: NATS_URL, FLEET_PREFIX (namespace), FLEET_NODES, FLEET_MAX_AGENTS,
//                           FLEET_ZONES (default 3), FLEET_START_DELAY_MS (per agent, default 20)
// Control (core NATS request/reply on `<prefix>.bench.fleet.control`):
//   {op:'kill', node}      stop a node dead (no more heartbeats, telemetry, reports)
//   {op:'stats'}           { running, nodes: {id: agents (-1: killed)} }
//   {op:'started', agents} { [agent]: { node, at } } for those agents (where and when they last started)
// Prints "ready" once every node is registered and following its assignments.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { metricsSubjects, Namespace, nodeAssignmentFeed, orchestratorRoutes, registryRoutes, registrySubjects, routeSubject } from '@flotilla/contracts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const NODES = env('FLEET_NODES', 200);
const MAX_AGENTS = env('FLEET_MAX_AGENTS', 150);
const ZONES = env('FLEET_ZONES', 3);
const START_DELAY_MS = env('FLEET_START_DELAY_MS', 20);
const ns = new Namespace(process.env['FLEET_PREFIX'] ?? '');
const nc: NatsConnection = await connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', name: 'bench-fleet-sim', noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);

interface SimAgent {
  readonly clusterId: string;
  state: 'idle' | 'starting';
}
interface SimNode {
  readonly id: string;
  readonly agents: Map<string, SimAgent>;
  dead: boolean;
  stop?: () => void;
}
const nodes = new Map<string, SimNode>();
const startedAt = new Map<string, number>();
const assignedTo = new Map<string, string>();

async function request<T>(subject: string, body: unknown): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const reply = await nc.request(ns.subject(subject), JSON.stringify(body), { timeout: 15_000 });
      const envelope = reply.json<{ ok: boolean; data: T; error?: { message: string } }>();
      if (!envelope.ok) throw new Error(`${subject}: ${envelope.error?.message}`);
      return envelope.data;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

const nodeId = (i: number) => `fleet-${String(i).padStart(4, '0')}`;

async function report(node: SimNode, agentId: string, clusterId: string, state: 'started' | 'stopped'): Promise<void> {
  if (node.dead) return;
  // On the node's own subject, as a node agent (whose NATS user may publish only its own) does.
  await request(routeSubject(orchestratorRoutes.reportAgent, node.id), { cluster_id: clusterId, agent_id: agentId, state }).catch(() => undefined);
}

async function follow(node: SimNode): Promise<void> {
  const stream = ns.stream(nodeAssignmentFeed.stream);
  const durable = ns.stream(nodeAssignmentFeed.durable(node.id));
  await jsm.consumers.delete(stream, durable).catch(() => undefined);
  await jsm.consumers.add(stream, {
    durable_name: durable,
    filter_subject: ns.subject(nodeAssignmentFeed.subject(node.id)),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 256,
  });
  const consumer = await js.consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: 256, expires: 5000 });
  node.stop = () => messages.stop();
  void (async () => {
    for await (const m of messages) {
      if (node.dead) break;
      const e = m.json<{ type: string; data: Record<string, unknown> }>();
      const agentId = String(e.data['agentId'] ?? '');
      const clusterId = String(e.data['clusterId'] ?? '');
      if (e.type === 'AgentAssigned' && !node.agents.has(agentId)) {
        node.agents.set(agentId, { clusterId, state: 'starting' });
        assignedTo.set(agentId, node.id);
        setTimeout(() => {
          const a = node.agents.get(agentId);
          if (!a || node.dead) return;
          a.state = 'idle';
          startedAt.set(agentId, Date.now());
          void report(node, agentId, clusterId, 'started');
        }, START_DELAY_MS);
      } else if (e.type === 'AgentReleased' && node.agents.delete(agentId)) {
        void report(node, agentId, clusterId, 'stopped');
      }
      m.ack();
    }
  })();
}

for (let i = 0; i < NODES; i++) {
  const id = nodeId(i);
  await request(routeSubject(registryRoutes.registerOwnNode, id), {
    node_id: id,
    hostname: id,
    address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    zone: `zone-${String.fromCharCode(97 + (i % ZONES))}`,
    capacity: { cpu: MAX_AGENTS, memory_mb: MAX_AGENTS * 1024, max_agents: MAX_AGENTS },
    services: ['llm', 'web'],
  });
  nodes.set(id, { id, agents: new Map(), dead: false });
}
// The relay creates the events stream; wait for it before following.
for (;;) {
  try {
    await jsm.streams.info(ns.stream(nodeAssignmentFeed.stream));
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 200));
  }
}
for (const node of nodes.values()) await follow(node);

// Heartbeats and telemetry, spread over the second as a real fleet's clocks are.
const beat = (node: SimNode) => {
  // Beats still scheduled while the simulator shuts down have nowhere to go.
  if (node.dead || nc.isClosed() || nc.isDraining()) return;
  const agents = [...node.agents].map(([agent_id, a]) => ({ agent_id, cluster_id: a.clusterId, state: a.state }));
  nc.publish(ns.subject(registrySubjects.heartbeat(node.id)), JSON.stringify({ node_id: node.id, sent_at: new Date().toISOString(), cpu_percent: 20, memory_percent: 30, disk_percent: 40, load_avg: 0.5, agents }));
  nc.publish(
    ns.subject(metricsSubjects.telemetry(node.id)),
    JSON.stringify({
      node_id: node.id,
      at: new Date().toISOString(),
      interval_ms: 1000,
      cpu_percent: 20,
      memory_percent: 30,
      agents: [...node.agents].map(([agent_id, a]) => ({ agent_id, cluster_id: a.clusterId, role: 'worker', state: a.state, tasks_completed: 0, tasks_failed: 0, latencies_ms: [] })),
    }),
  );
};
let k = 0;
for (const node of nodes.values()) {
  const offset = (k++ * 1000) / NODES;
  setTimeout(() => setInterval(() => beat(node), 1000), offset);
}

nc.subscribe(ns.subject('bench.fleet.control'), {
  callback: (_err, msg) => {
    const cmd = msg.json<{ op: string; node?: string }>();
    if (cmd.op === 'kill' && cmd.node) {
      const node = nodes.get(cmd.node);
      if (node) {
        node.dead = true;
        node.stop?.();
      }
      msg.respond(JSON.stringify({ ok: true, agents: node ? [...node.agents.keys()] : [] }));
      return;
    }
    if (cmd.op === 'started') {
      const agents = (cmd as { agents?: string[] }).agents ?? [];
      msg.respond(JSON.stringify(Object.fromEntries(agents.map((a) => [a, { node: assignedTo.get(a) ?? null, at: startedAt.get(a) ?? null }]))));
      return;
    }
    const live = [...nodes.values()].filter((n) => !n.dead);
    msg.respond(
      JSON.stringify({
        running: live.reduce((s, n) => s + [...n.agents.values()].filter((a) => a.state === 'idle').length, 0),
        nodes: Object.fromEntries([...nodes.values()].map((n) => [n.id, n.dead ? -1 : n.agents.size])),
      }),
    );
  },
});
await nc.flush();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void nc.drain().then(() => process.exit(0)));
