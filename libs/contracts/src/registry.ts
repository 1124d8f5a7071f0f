import { z } from 'zod';
import { asOf, atFilter, dryRunFlag, idOf, isoTime, page, position, resources } from './common.js';
import { dryRunnable, route } from './route.js';

export const STRATEGIES = [
  'round-robin',
  'least-loaded',
  'least-agents',
  'random',
  'weighted',
  'health-based',
] as const;
export const NODE_STATUSES = [
  'online',
  'suspect',
  'offline',
  'draining',
  'drained',
  'cordoned',
  'deregistered',
] as const;

export const capacity = z.object({
  cpu: z.number().positive(),
  memory_mb: z.number().int().positive(),
  max_agents: z.number().int().positive(),
});

export const nodeView = z.object({
  id: z.string(),
  hostname: z.string(),
  address: z.string(),
  region: z.string(),
  zone: z.string(),
  labels: z.record(z.string(), z.string()),
  services: z.array(z.string()),
  capacity,
  used: z.object({ cpu: z.number(), memory_mb: z.number(), agents: z.number() }),
  role: z.enum(['worker', 'standby']),
  priority: z.number(),
  status: z.enum(NODE_STATUSES),
  health: z.enum(['healthy', 'warning', 'critical', 'unknown']),
  last_heartbeat_at: isoTime.nullable(),
  usage: z
    .object({
      cpu_percent: z.number(),
      memory_percent: z.number(),
      disk_percent: z.number(),
      load_avg: z.number(),
    })
    .nullable(),
  agents: z.array(z.string()),
  registered_at: isoTime,
  /** Reads with `at`: the log position the view reflects (readings are not in the log: usage null, health unknown). */
  as_of: asOf.optional(),
});
export type NodeView = z.infer<typeof nodeView>;

/** A node registered without a capacity has room for this many agents of the default size. */
export const DEFAULT_NODE_MAX_AGENTS = 50;
/** The blueprint's default agent size: what a defaulted node capacity is counted in. */
const DEFAULT_AGENT = { cpu: 0.5, memory_mb: 512 } as const;

/** `10.0.0.2` and 8152 → `10.0.0.2:8152` (an IPv6 address in brackets). */
const withPort = (address: string, port: number | undefined) =>
  port === undefined ? address : address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`;

/**
 * Registration as node agents send it (`node_id`, `address`, `capacity`), or as seed 002's
 * clients do (`id`, `ip_address`, `port`, `max_agents`, no capacity): both read as the one shape
 * the registry acts on. Two different values for the same thing are refused, not picked from.
 */
export const registerNodeRequest = z
  .strictObject({
    node_id: idOf('node').optional(),
    /** Seed 002's name for `node_id`. */
    id: idOf('node').optional(),
    hostname: z.string().min(1),
    address: z.string().min(1).optional(),
    /** Seed 002's name for `address`. */
    ip_address: z.string().min(1).optional(),
    /** Advertised with the address (`10.0.0.2:8152`). */
    port: z.number().int().min(1).max(65_535).optional(),
    region: z.string().default('local'),
    zone: z.string().default('zone-a'),
    labels: z.record(z.string(), z.string()).default({}),
    services: z.array(z.string()).default([]),
    capacity: z.strictObject(capacity.shape).optional(),
    /** Without `capacity`: room for this many agents of the default size (0.5 core, 512 MiB each). */
    max_agents: z.number().int().positive().optional(),
    role: z.enum(['worker', 'standby']).default('worker'),
    priority: z.number().int().min(0).max(1000).default(100),
    /**
     * Set by a node agent that drained its own node when it last shut down: the registration also
     * uncordons the node (the agent keeps a marker of its own drain; an operator's cordon is not its
     * to undo). Node agents may only publish their own `registry.nodes.register.<nodeId>`, so this rides on it.
     */
    resume_own_drain: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    if (r.id !== undefined && r.node_id !== undefined && r.id !== r.node_id)
      ctx.addIssue({ code: 'custom', path: ['node_id'], message: 'an alias of id: give one of them, or the same value' });
    if (r.address === undefined && r.ip_address === undefined)
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'required (or ip_address)' });
    if (r.address !== undefined && r.ip_address !== undefined && r.address !== r.ip_address)
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'an alias of ip_address: give one of them, or the same value' });
    if (r.capacity !== undefined && r.max_agents !== undefined && r.capacity.max_agents !== r.max_agents)
      ctx.addIssue({ code: 'custom', path: ['max_agents'], message: 'differs from capacity.max_agents: give one of them' });
  })
  .transform(({ id, node_id, address, ip_address, port, capacity: given, max_agents, ...rest }) => {
    const agents = max_agents ?? DEFAULT_NODE_MAX_AGENTS;
    return {
      ...rest,
      node_id: id ?? node_id,
      address: withPort((address ?? ip_address)!, port),
      capacity: given ?? { cpu: agents * DEFAULT_AGENT.cpu, memory_mb: agents * DEFAULT_AGENT.memory_mb, max_agents: agents },
    };
  });

/** What a node agent sends every HEARTBEAT_INTERVAL_MS (publish on `registry.heartbeats.<nodeId>`). */
export const heartbeat = z.strictObject({
  node_id: idOf('node'),
  sent_at: isoTime,
  cpu_percent: z.number().min(0),
  memory_percent: z.number().min(0).max(100),
  disk_percent: z.number().min(0).max(100),
  load_avg: z.number().min(0),
  cores: z.number().int().positive().optional(),
  agents: z
    .array(
      z.strictObject({
        agent_id: z.string(),
        cluster_id: z.string(),
        state: z.string(),
        role: z.enum(['supervisor', 'lead', 'specialist', 'worker']).optional(),
      }),
    )
    .default([]),
});
export type Heartbeat = z.infer<typeof heartbeat>;

export const placementAgent = z.strictObject({
  agent_id: idOf('agent'),
  name: z.string(),
  role: z.enum(['supervisor', 'lead', 'specialist', 'worker']),
  capabilities: z.array(z.string()).default([]),
  runtime: z.record(z.string(), z.unknown()),
  resources,
  /** What the agent runs (its task attempts record it): its resolved spec's hash and its blueprint version. */
  spec_hash: z.string().max(128).optional(),
  blueprint_version: z.string().max(64).optional(),
  /** The prices its work is costed at, from its blueprint's pricing. */
  pricing: z
    .strictObject({
      currency: z.string().regex(/^[A-Z]{3}$/),
      agent_hour: z.number().min(0),
      models: z.record(z.string(), z.strictObject({ input_per_1k: z.number().min(0), output_per_1k: z.number().min(0) })),
    })
    .optional(),
});
export type PlacementAgent = z.infer<typeof placementAgent>;

export const placeRequest = z.strictObject({
  cluster_id: idOf('cluster'),
  /** The cluster's tenant (from the cluster's state): its agents' assignments are recorded as its events. */
  tenant_id: idOf('tenant'),
  strategy: z.enum(STRATEGIES).optional(),
  constraints: z
    .strictObject({
      required_services: z.array(z.string()).default([]),
      required_labels: z.record(z.string(), z.string()).default({}),
      zone_spread: z.boolean().default(false),
      max_per_zone: z.number().int().positive().optional(),
      anti_affinity: z.boolean().default(false),
    })
    .default({
      required_services: [],
      required_labels: {},
      zone_spread: false,
      anti_affinity: false,
    }),
  agents: z.array(placementAgent).min(1).max(10_000),
  /**
   * Moving agents that already run somewhere (drain, orphans): place each on a node other than
   * this one. With `keep_source`, the old assignment stays until released (make-before-break).
   */
  move_from: idOf('node').optional(),
  keep_source: z.boolean().default(false),
});
export type PlaceRequest = z.infer<typeof placeRequest>;

export const placeReply = z.object({
  assignments: z.array(
    z.object({
      agent_id: z.string(),
      node_id: z.string(),
      previous_node_id: z.string().nullable(),
    }),
  ),
  unplaced: z.array(z.object({ agent_id: z.string(), reason: z.string() })),
  strategy: z.enum(STRATEGIES),
});
export type PlaceReply = z.infer<typeof placeReply>;

export const releaseRequest = z.strictObject({
  cluster_id: idOf('cluster'),
  agent_ids: z.array(idOf('agent')).min(1),
  /** Release only the assignment on this node (after a move); otherwise every assignment of the agent. */
  node_id: idOf('node').optional(),
  reason: z.string().default('released'),
});

/** A dry run's placement plan: each agent's node, and the agents that would fit nowhere and why. */
export const placementPreview = z.object({
  strategy: z.enum(STRATEGIES),
  placements: z.array(
    z.object({
      agent_id: z.string(),
      cluster_id: z.string(),
      from_node: z.string().nullable(),
      to_node: z.string(),
      /** An agent of a cluster command's plan: its slot (name and ordinal) and role. The id of an agent the command would spawn is provisional: the real spawn draws its own. */
      name: z.string().optional(),
      ordinal: z.number().int().optional(),
      role: z.enum(['supervisor', 'lead', 'specialist', 'worker']).optional(),
    }),
  ),
  unplaced: z.array(z.object({ agent_id: z.string(), cluster_id: z.string(), reason: z.string(), name: z.string().optional(), ordinal: z.number().int().optional() })),
});

export type PlacementPreview = z.infer<typeof placementPreview>;

export const assignmentView = z.object({
  agent_id: z.string(),
  cluster_id: z.string(),
  node_id: z.string(),
  status: z.enum(['assigned', 'released']),
  assigned_at: isoTime,
});

export const statsView = z.object({
  nodes: z.object({
    total: z.number(),
    by_status: z.record(z.string(), z.number()),
    by_role: z.record(z.string(), z.number()),
  }),
  agents: z.object({ total: z.number(), by_state: z.record(z.string(), z.number()) }),
  capacity: z.object({
    cpu: z.object({ total: z.number(), used: z.number(), free: z.number() }),
    memory_mb: z.object({ total: z.number(), used: z.number(), free: z.number() }),
    agents: z.object({ total: z.number(), used: z.number(), free: z.number() }),
  }),
  zones: z.record(
    z.string(),
    z.object({
      nodes: z.number(),
      online: z.number(),
      agents: z.number(),
      free_agents: z.number(),
    }),
  ),
  strategy: z.enum(STRATEGIES),
});

export const leadershipView = z.object({
  roles: z.array(
    z.object({
      role: z.string(),
      leader: z.string().nullable(),
      term: z.number().nullable(),
      since: z.string().nullable(),
      members: z.array(z.string()),
    }),
  ),
});

const nodeById = z.strictObject({ id: idOf('node') });

export const registryRoutes = {
  registerNode: route(
    'registry',
    'registry.nodes.register',
    registerNodeRequest,
    nodeView,
    'Register a node (idempotent for the same id and spec).',
    'platform',
  ),
  registerOwnNode: route(
    'registry',
    'registry.nodes.register.*',
    registerNodeRequest,
    nodeView,
    "A node agent registers its own node (the subject's; an id in the body must be the same).",
    'service',
  ),
  drainOwnNode: route(
    'registry',
    'registry.nodes.drain.*',
    z.strictObject({ reason: z.string().default('node agent shutting down') }),
    nodeView,
    "A node agent marks its own node (the subject's) draining as it shuts down.",
    'service',
  ),
  heartbeat: route(
    'registry',
    'registry.nodes.heartbeat',
    heartbeat,
    z.object({ status: z.enum(NODE_STATUSES) }),
    'A heartbeat over request/reply (HTTP-only nodes; node agents publish instead).',
    'platform',
  ),
  listNodes: route(
    'registry',
    'registry.nodes.list',
    z.strictObject({
      status: z.enum(NODE_STATUSES).optional(),
      role: z.enum(['worker', 'standby']).optional(),
      zone: z.string().optional(),
      ...page,
      ...atFilter,
    }),
    z.object({ nodes: z.array(nodeView), total: z.number(), as_of: asOf.optional() }),
    'List nodes.',
    'read',
  ),
  getNode: route('registry', 'registry.nodes.get', z.strictObject({ id: idOf('node'), ...atFilter }), nodeView, 'One node (with `at`: as the log had it then).', 'read'),
  deregisterNode: route(
    'registry',
    'registry.nodes.deregister',
    z.strictObject({ id: idOf('node'), force: z.union([z.boolean(), z.stringbool()]).default(false) }),
    nodeView,
    'Remove a node (refused while agents are placed on it unless forced).',
    'platform',
  ),
  drainNode: route(
    'registry',
    'registry.nodes.drain',
    dryRunnable(z.strictObject({ id: idOf('node'), reason: z.string().default('drain requested'), ...dryRunFlag })),
    nodeView,
    'Move every agent off the node, make-before-break, then mark it drained. A dry run answers the events and the plan: where each agent would go, what would fit nowhere and why.',
    'platform',
  ),
  cordonNode: route(
    'registry',
    'registry.nodes.cordon',
    z.strictObject({ id: idOf('node'), reason: z.string().default('cordoned') }),
    nodeView,
    'Stop new placements on the node.',
    'platform',
  ),
  uncordonNode: route(
    'registry',
    'registry.nodes.uncordon',
    nodeById,
    nodeView,
    'Allow placements on the node again.',
    'platform',
  ),
  place: route(
    'registry',
    'registry.placement.place',
    placeRequest,
    placeReply,
    'Place agents of a cluster (idempotent by agent id).',
    'service',
  ),
  previewPlace: route(
    'registry',
    'registry.placement.preview',
    placeRequest,
    placeReply,
    'Where a placement request would put its agents now, with the same constraints and strategy, reserving and recording nothing (the dry runs of cluster commands ask this).',
    'service',
  ),
  release: route(
    'registry',
    'registry.placement.release',
    releaseRequest,
    z.object({ released: z.array(z.string()) }),
    'Release agents from their nodes.',
    'service',
  ),
  assignments: route(
    'registry',
    'registry.assignments.list',
    z.strictObject({
      cluster_id: z.string().optional(),
      node_id: z.string().optional(),
      ...page,
      limit: z.coerce.number().int().min(1).max(10_000).default(1000),
      ...atFilter,
    }),
    z.object({ assignments: z.array(assignmentView), total: z.number(), as_of: asOf.optional() }),
    'Where agents run.',
    'read',
  ),
  stats: route(
    'registry',
    'registry.stats.get',
    z.strictObject({}),
    statsView,
    'Nodes, agents, capacity and zones.',
    'read',
  ),
  setStrategy: route(
    'registry',
    'registry.strategy.set',
    dryRunnable(z.strictObject({ strategy: z.enum(STRATEGIES), ...dryRunFlag })),
    z.object({ strategy: z.enum(STRATEGIES), position: position.nullable() }),
    'Switch the default placement strategy (recorded as an event). It moves no agent; a dry run answers the event and how the agents placed now would be spread under the new strategy.',
    'platform',
  ),
  leadership: route(
    'registry',
    'registry.leadership.get',
    z.strictObject({}),
    leadershipView,
    "Each singleton role's leader and members.",
    'read',
  ),
  handover: route(
    'registry',
    'registry.leadership.handover',
    z.strictObject({ role: z.string().min(1), member_id: z.string().min(1) }),
    leadershipView,
    'Hand a role over to a member.',
    'platform',
  ),
} as const;

/** Core NATS subjects (no reply). */
export const registrySubjects = {
  /** `registry.heartbeats.<nodeId>`: node agents publish their heartbeat here. */
  heartbeat: (nodeId: string) => `registry.heartbeats.${nodeId}`,
  heartbeats: 'registry.heartbeats.*',
} as const;

/**
 * Where a node agent learns its assignments: the relay's JetStream stream of every stored event,
 * filtered to its own node's subjects (`flotilla.events.node.<nodeId>.>`: AgentAssigned starts an
 * agent, AgentReleased stops it), through one durable consumer per node. Names are before the
 * namespace prefix (`messaging.ns`).
 */
export const nodeAssignmentFeed = {
  stream: 'FLOTILLA_EVENTS',
  subject: (nodeId: string) => `flotilla.events.node.${nodeId}.>`,
  durable: (nodeId: string) => `node-agent-${nodeId}`,
} as const;
