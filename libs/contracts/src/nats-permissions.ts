import { Namespace } from './namespace.js';
import { orchestratorRoutes } from './orchestrator.js';
import { nodeAssignmentFeed, registryRoutes, registrySubjects } from './registry.js';
import { isNodeToken, routeSubject, type Route, type ServiceName } from './route.js';
import { metricsSubjects } from './metrics.js';
import { TASK_OUTCOMES_STREAM, TASKS_BUCKET, TASKS_DLQ_STREAM, TASKS_STREAM, taskSubjects } from './tasks.js';

/** What a NATS user may publish and subscribe to (NATS server `permissions` block). */
export interface NatsPermissions {
  /** An empty `allow` with no `deny` would mean "anything" to the server: say `deny: ['>']` to publish nothing. */
  readonly publish: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  /**
   * The server's `allow_responses`: the user may publish one reply to the reply subject of each
   * request it received, and nowhere else in anyone's inbox. Set for users that answer requests.
   */
  readonly allowResponses?: boolean;
}

/**
 * A password, or the environment variable nats-server reads it from when it loads its
 * configuration (`password: $VAR`), so a deployment's config file holds no secret.
 */
export type NatsPassword = string | { readonly env: string };

export interface NatsUser {
  readonly user: string;
  readonly password: NatsPassword;
  readonly permissions: NatsPermissions;
}

/**
 * The reply-inbox prefix of a NATS user (the client's `inboxPrefix`): `_INBOX_<user>`. Each user
 * may subscribe to its own prefix only, so nobody reads another client's replies (API keys
 * created over NATS, task results, JetStream API answers). No user may subscribe `_INBOX.>`.
 */
export function natsInboxPrefix(user: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(user)) throw new Error(`NATS user '${user}' cannot be an inbox prefix token`);
  return `_INBOX_${user}`;
}

/** The KV buckets of the leases (libs/leadership: LEASES_BUCKET, MEMBERS_BUCKET, EPOCHS_BUCKET). */
export const LEASE_BUCKETS = ['flotilla_leases', 'flotilla_members', 'flotilla_lease_epochs'] as const;
const EVENTS_STREAM = nodeAssignmentFeed.stream;
const kvStream = (ns: Namespace, bucket: string) => `KV_${ns.bucket(bucket)}`;

/**
 * The JetStream API of a stream its owner creates, reads, consumes and manages: every
 * stream-scoped request (`$JS.API.STREAM.<op>.<S>`, `$JS.API.CONSUMER.<op>.<S>…`, direct gets) and
 * acks and flow control of its consumers. Nothing about any other stream.
 */
function ownedStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.*.${stream}`,
    `$JS.API.STREAM.MSG.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Reading a stream with ephemeral (ordered) consumers: its info, messages and consumers, no changes to it. */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
}

/** A KV bucket its owner creates and uses: its stream's API and every key. */
function ownedBucket(ns: Namespace, bucket: string): string[] {
  return [...ownedStream(kvStream(ns, bucket)), `$KV.${ns.bucket(bucket)}.>`];
}

/**
 * What each service may do with JetStream beyond its subjects: the streams and KV buckets it
 * owns or reads, and nothing else (`$JS.API.INFO`, the account's usage, is every JetStream
 * client's first request).
 */
const SERVICE_JETSTREAM: Readonly<Record<Exclude<ServiceName, 'node-agent'>, (ns: Namespace) => string[]>> = {
  // The event feeds (SSE, gRPC WatchEvents) read FLOTILLA_EVENTS with ordered consumers.
  gateway: (ns) => readStream(ns.stream(EVENTS_STREAM)),
  // The relay writes FLOTILLA_EVENTS; task intake owns the task streams and records; singletons campaign.
  orchestrator: (ns) => [
    ...ownedStream(ns.stream(EVENTS_STREAM)),
    ...ownedStream(ns.stream(TASKS_STREAM)),
    ...ownedStream(ns.stream(TASKS_DLQ_STREAM)),
    ...ownedBucket(ns, TASKS_BUCKET),
    ...LEASE_BUCKETS.flatMap((b) => ownedBucket(ns, b)),
  ],
  registry: (ns) => LEASE_BUCKETS.flatMap((b) => ownedBucket(ns, b)),
  autoscaler: (ns) => LEASE_BUCKETS.flatMap((b) => ownedBucket(ns, b)),
  // Queue depth: the task stream's subjects and its consumers' pending counts.
  // and the attempt outcomes it accounts (it owns their stream).
  metrics: (ns) => [`$JS.API.STREAM.INFO.${ns.stream(TASKS_STREAM)}`, `$JS.API.CONSUMER.INFO.${ns.stream(TASKS_STREAM)}.*`, ...ownedStream(ns.stream(TASK_OUTCOMES_STREAM)), ...LEASE_BUCKETS.flatMap((b) => ownedBucket(ns, b))],
};

/** The per-node routes (a node agent speaks for its own node on them, and no other user may). */
const PER_NODE_ROUTES: readonly Route[] = [registryRoutes.registerOwnNode, registryRoutes.drainOwnNode, orchestratorRoutes.reportAgent];

/**
 * Routes one service calls on another with its own (service) identity. Every other route takes
 * an end user's identity from the request's headers, and only the gateway may publish those:
 * that is what makes a header's identity the gateway's word.
 */
const INTERNAL_ROUTES: Readonly<Partial<Record<ServiceName, readonly Route[]>>> = {
  orchestrator: [registryRoutes.place, registryRoutes.release],
  autoscaler: [orchestratorRoutes.applyScalingDecision],
  metrics: [orchestratorRoutes.recordBudgetCrossing, orchestratorRoutes.recordTenantBudgetCrossing],
};

/**
 * Subjects (before the namespace) each service answers (`sub`) and sends to (`pub`) besides the
 * routes above. Kept next to the routes so a new route and its permission are written together.
 * Services that campaign for leases answer on flotilla.members.<member>.alive and ask there
 * whether a holder still lives.
 */
export const SERVICE_SUBJECTS: Readonly<Record<Exclude<ServiceName, 'node-agent'>, { readonly sub: readonly string[]; readonly pub: readonly string[] }>> = {
  // flotilla.tenants.*.events.>: a one-tenant event watcher follows its tenant's live copy only.
  // The gateway is the one user that may send every route with an end user's identity.
  gateway: { sub: ['gateway.>', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'orchestrator.apikeys.revoked'], pub: ['orchestrator.>', 'registry.>', 'metrics.>', 'autoscaler.system.ping', 'node-agent.system.ping'] },
  orchestrator: {
    // metrics.snapshots.*: each cluster's latest health score, kept in memory for cluster views.
    sub: ['orchestrator.>', 'flotilla.tasks.>', 'metrics.snapshots.*', 'flotilla.members.*.alive'],
    pub: ['orchestrator.apikeys.revoked', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'flotilla.taskq.>', 'flotilla.taskdlq.>', 'flotilla.members.*.alive'],
  },
  // registry.heartbeats.*: an HTTP-only node's heartbeat, re-published for every replica.
  registry: { sub: ['registry.>', 'flotilla.members.*.alive'], pub: ['registry.heartbeats.*', 'flotilla.members.*.alive'] },
  autoscaler: { sub: ['autoscaler.>', 'metrics.snapshots.*', 'flotilla.members.*.alive'], pub: ['flotilla.members.*.alive'] },
  metrics: { sub: ['metrics.>', 'registry.heartbeats.*', 'flotilla.members.*.alive'], pub: ['metrics.snapshots.*', 'flotilla.members.*.alive'] },
};

/** The user of a control-plane service (`flotilla-<service>`); node agents have per-node users (`nodeAgentUser`). */
export function serviceUser(service: Exclude<ServiceName, 'node-agent'>, password: NatsPassword, ns = new Namespace()): NatsUser {
  const s = SERVICE_SUBJECTS[service];
  const user = `flotilla-${service}`;
  const internal = (INTERNAL_ROUTES[service] ?? []).map((r) => ns.subject(r.subject));
  return {
    user,
    password,
    permissions: {
      publish: {
        allow: ['$JS.API.INFO', ...SERVICE_JETSTREAM[service](ns), ...s.pub.map((x) => ns.subject(x)), ...internal],
        // Per-node subjects are each node's own word; not even the gateway speaks for a node there.
        ...(service === 'gateway' ? { deny: PER_NODE_ROUTES.map((r) => ns.subject(r.subject)) } : {}),
      },
      subscribe: { allow: [`${natsInboxPrefix(user)}.>`, ...s.sub.map((x) => ns.subject(x))] },
      allowResponses: true,
    },
  };
}

/**
 * The user of one node agent, for one node: it speaks for that node only (its heartbeats,
 * telemetry, registration, drain and agent reports, each on the node's own subject), follows
 * its own node's assignment consumer, pulls and settles tasks from the task queues, and reads
 * and writes task records (`t.<taskId>` keys of the tasks bucket) — no other stream, consumer,
 * bucket or key, no other node's subjects, no other client's inbox.
 *
 * What it can still reach, by design of static permissions: every cluster's task queues (which
 * clusters run on a node changes with placement), and the task stream's per-queue counts.
 */
export function nodeAgentUser(nodeId: string, user: string, password: NatsPassword, ns = new Namespace()): NatsUser {
  if (!isNodeToken(nodeId)) throw new Error(`node id '${nodeId}' cannot be a NATS subject token`);
  const events = ns.stream(EVENTS_STREAM);
  const durable = ns.stream(nodeAssignmentFeed.durable(nodeId));
  const tasks = ns.stream(TASKS_STREAM);
  const bucket = ns.bucket(TASKS_BUCKET);
  return {
    user,
    password,
    permissions: {
      publish: {
        allow: [
          ...[registrySubjects.heartbeat(nodeId), metricsSubjects.telemetry(nodeId), ...PER_NODE_ROUTES.map((r) => routeSubject(r, nodeId))].map((x) => ns.subject(x)),
          ns.subject(taskSubjects.results),
          ns.subject(taskSubjects.attemptOutcomesOf(nodeId)),
          ns.subject(taskSubjects.deadAll),
          '$JS.API.INFO',
          // Its assignments: one durable consumer on FLOTILLA_EVENTS, filtered to its node's events.
          `$JS.API.STREAM.INFO.${events}`,
          `$JS.API.CONSUMER.CREATE.${events}.${durable}.${ns.subject(nodeAssignmentFeed.subject(nodeId))}`,
          `$JS.API.CONSUMER.INFO.${events}.${durable}`,
          `$JS.API.CONSUMER.DELETE.${events}.${durable}`,
          `$JS.API.CONSUMER.MSG.NEXT.${events}.${durable}`,
          `$JS.ACK.${events}.${durable}.>`,
          // Tasks: the queues' consumers (created on first use, filtered to a task queue), pulls and acks.
          `$JS.API.STREAM.INFO.${tasks}`,
          `$JS.API.CONSUMER.INFO.${tasks}.*`,
          `$JS.API.CONSUMER.CREATE.${tasks}.*.${ns.subject('flotilla.taskq')}.>`,
          `$JS.API.CONSUMER.MSG.NEXT.${tasks}.*`,
          `$JS.ACK.${tasks}.>`,
          // Task records: the bucket's info, and `t.<taskId>` keys only (not idempotency claims).
          // Creating the bucket is allowed so a node agent may start before the orchestrator: a
          // create of an existing bucket changes nothing (Kvm reads its info first).
          `$JS.API.STREAM.INFO.KV_${bucket}`,
          `$JS.API.STREAM.CREATE.KV_${bucket}`,
          `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.t.>`,
          `$KV.${bucket}.t.>`,
        ],
      },
      // node-agent.>: the gateway's ping; flotilla.taskq.>: wakes idle agents the moment a task is queued.
      subscribe: { allow: [`${natsInboxPrefix(user)}.>`, ns.subject('node-agent.>'), ns.subject(taskSubjects.queueAll)] },
      allowResponses: true,
    },
  };
}

/**
 * A read-only integrator of one tenant: it may subscribe to that tenant's live event feed
 * (`flotilla.tenants.<tenant>.events.>`, which the relay publishes right after storing each
 * event) and nothing else: no other subject, no JetStream API (FLOTILLA_EVENTS holds every
 * tenant's events), no inbox at all (other clients' replies). History is replayed through the
 * gateway (REST events, gRPC WatchEvents), which scopes it to the key's tenant.
 */
export function integratorUser(tenantId: string, password: NatsPassword, ns = new Namespace()): NatsUser {
  if (!/^[A-Za-z0-9_-]+$/.test(tenantId)) throw new Error(`tenant id '${tenantId}' cannot be a NATS subject token`);
  return {
    user: `integrator-${tenantId}`,
    password,
    permissions: {
      publish: { deny: ['>'] },
      subscribe: { allow: [ns.subject(`flotilla.tenants.${tenantId}.events.>`)] },
    },
  };
}

/** A `nats-server` configuration block (`authorization { users = [...] }`) for these users. */
export function natsAuthorizationConfig(users: readonly NatsUser[]): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`;
  const rules = (r: NatsPermissions['publish']) =>
    [r.allow ? `allow: ${list(r.allow)}` : '', r.deny ? `deny: ${list(r.deny)}` : ''].filter(Boolean).join(', ');
  const password = (p: NatsPassword) => {
    if (typeof p === 'string') return q(p);
    if (!/^[A-Z_][A-Z0-9_]*$/.test(p.env)) throw new Error(`'${p.env}' is not an environment variable name nats-server can read`);
    return `$${p.env}`;
  };
  const entries = users.map(
    (u) =>
      `    { user: ${q(u.user)}, password: ${password(u.password)}, permissions: { publish: { ${rules(u.permissions.publish)} }, subscribe: { ${rules(u.permissions.subscribe)} }${u.permissions.allowResponses ? ', allow_responses: true' : ''} } }`,
  );
  return `authorization {\n  users = [\n${entries.join(',\n')}\n  ]\n}\n`;
}

/** The environment variable that holds a service's NATS password in the deployments. */
export const natsPasswordVariable = (service: ServiceName): string => `FLOTILLA_NATS_PASSWORD_${service.replace(/-/g, '_').toUpperCase()}`;

/** The control-plane services with a NATS user of their own in the deployments. */
export const CONTROL_PLANE_SERVICES = ['gateway', 'orchestrator', 'registry', 'autoscaler', 'metrics'] as const satisfies readonly Exclude<ServiceName, 'node-agent'>[];

/**
 * The nodes docker-compose runs a node agent for (services node-agent-a and node-agent-b), each
 * with a NATS user of its own: add one here, to docker-compose.yml, and run `npm run env:example`.
 */
export const COMPOSE_NODES = ['node-a', 'node-b'] as const;

/** A deployment node agent's NATS user (`flotilla-node-agent-<nodeId>`). */
export const nodeAgentUserName = (nodeId: string): string => `flotilla-node-agent-${nodeId}`;

/** The variable that holds a deployment node agent's NATS password (`FLOTILLA_NATS_PASSWORD_NODE_AGENT_NODE_A`). */
export const nodeAgentPasswordVariable = (nodeId: string): string => `FLOTILLA_NATS_PASSWORD_NODE_AGENT_${nodeId.replace(/-/g, '_').toUpperCase()}`;

const controlPlaneUsers = () => CONTROL_PLANE_SERVICES.map((s) => serviceUser(s, { env: natsPasswordVariable(s) }));

/**
 * The `authorization` block of docker-compose's NATS server (deploy/nats/auth.conf): one user per
 * service, `flotilla-<service>`, limited to that service's subjects, and one per node agent,
 * `flotilla-node-agent-<nodeId>`, limited to its own node's; nats-server reads each password from
 * its environment (`$FLOTILLA_NATS_PASSWORD_<SERVICE>`, `$FLOTILLA_NATS_PASSWORD_NODE_AGENT_<NODE>`).
 * Written by `npm run env:example`.
 */
export function deploymentNatsAuthorization(): string {
  return natsAuthorizationConfig([...controlPlaneUsers(), ...COMPOSE_NODES.map((n) => nodeAgentUser(n, nodeAgentUserName(n), { env: nodeAgentPasswordVariable(n) }))]);
}

/**
 * The node-agent slots of Kubernetes (deploy/k8s/base/node-agent.yaml): the StatefulSet
 * `node-agent`'s pods are node-agent-0 … node-agent-<K8S_NODE_AGENT_SLOTS - 1>, each its own node
 * (NODE_ID = pod name) with a NATS user of its own. More replicas than slots would leave the extra
 * pods without a user: raise this and run `npm run env:example` before scaling past it.
 */
export const K8S_NODE_AGENT_SLOTS = 16;

/** The StatefulSet whose pod names are the Kubernetes node ids (`node-agent-<ordinal>`). */
export const K8S_NODE_AGENT_STATEFULSET = 'node-agent';

/** The node ids (pod names) of the Kubernetes node-agent slots: node-agent-0, node-agent-1, … */
export const k8sNodeAgentNodes = (): string[] => Array.from({ length: K8S_NODE_AGENT_SLOTS }, (_, i) => `${K8S_NODE_AGENT_STATEFULSET}-${i}`);

/**
 * The key of the Secret flotilla-nats-users holding the master key the node agents' passwords are
 * derived from: a pod's password is hex(HMAC-SHA256(master key, its NATS user name)), computed by
 * deploy/nats-node-password.mjs in the init containers of the node agents (their own only) and of
 * the NATS servers (every slot's).
 */
export const K8S_NODE_AGENT_MASTER_KEY = 'node-agent-master';

/**
 * The Kubernetes NATS servers' users (deploy/k8s/base/nats-auth.yaml): the same service users,
 * and one per node-agent slot, `flotilla-node-agent-node-agent-<i>`, limited to its own node as
 * compose's node users are. The passwords of the slots are `$FLOTILLA_NATS_PASSWORD_NODE_AGENT_NODE_AGENT_<i>`
 * here; the NATS pods' init container replaces each with the password derived for that pod
 * (nats-server cannot take a variable defined in one included file into another).
 */
export function kubernetesNatsAuthorization(): string {
  return natsAuthorizationConfig([...controlPlaneUsers(), ...k8sNodeAgentNodes().map((n) => nodeAgentUser(n, nodeAgentUserName(n), { env: nodeAgentPasswordVariable(n) }))]);
}
