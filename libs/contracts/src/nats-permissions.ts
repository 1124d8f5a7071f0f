import { Namespace } from './namespace.js';
import type { ServiceName } from './route.js';

/** What a NATS user may publish and subscribe to (NATS server `permissions` block). */
export interface NatsPermissions {
  /** An empty `allow` with no `deny` would mean "anything" to the server: say `deny: ['>']` to publish nothing. */
  readonly publish: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
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

// Request/reply inboxes, the JetStream API and KV buckets are needed by every service; the rest is
// each service's own subject space plus the requests it makes of others. Services that campaign
// for leases answer on flotilla.members.<member>.alive and ask there whether a holder still lives.
const COMMON_PUB = ['_INBOX.>', '$JS.API.>', '$KV.>', '$JS.ACK.>', '$JS.FC.>'];
const COMMON_SUB = ['_INBOX.>', '$KV.>'];

/**
 * Subjects (before the namespace) each service answers (`sub`) and sends to (`pub`). Kept next to
 * the routes so a new route and its permission are written together.
 */
export const SERVICE_SUBJECTS: Readonly<Record<ServiceName, { readonly sub: readonly string[]; readonly pub: readonly string[] }>> = {
  // flotilla.tenants.*.events.>: a one-tenant event watcher follows its tenant's live copy only.
  gateway: { sub: ['gateway.>', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'orchestrator.apikeys.revoked'], pub: ['orchestrator.>', 'registry.>', 'metrics.>', 'autoscaler.system.ping', 'node-agent.system.ping'] },
  orchestrator: {
    // metrics.snapshots.*: each cluster's latest health score, kept in memory for cluster views.
    sub: ['orchestrator.>', 'flotilla.tasks.>', 'metrics.snapshots.*', 'flotilla.members.*.alive'],
    pub: ['orchestrator.apikeys.revoked', 'registry.>', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'flotilla.taskq.>', 'flotilla.taskdlq.>', 'flotilla.members.*.alive'],
  },
  // registry.heartbeats.*: an HTTP-only node's heartbeat, re-published for every replica.
  registry: { sub: ['registry.>', 'flotilla.members.*.alive'], pub: ['orchestrator.>', 'flotilla.events.>', 'registry.heartbeats.*', 'flotilla.members.*.alive'] },
  autoscaler: { sub: ['autoscaler.>', 'metrics.snapshots.*', 'flotilla.members.*.alive'], pub: ['orchestrator.scaling.apply', 'flotilla.members.*.alive'] },
  metrics: { sub: ['metrics.>', 'registry.heartbeats.*', 'flotilla.members.*.alive'], pub: ['metrics.snapshots.*', 'flotilla.members.*.alive'] },
  'node-agent': {
    // flotilla.taskq.>: a core subscription that wakes idle agents the moment a task is queued.
    sub: ['node-agent.>', 'flotilla.taskq.>'],
    // Per-node subjects (`….<nodeId>`): a node agent speaks for its own node only (nodeAgentUser).
    pub: ['registry.heartbeats.*', 'registry.nodes.register.*', 'registry.nodes.drain.*', 'orchestrator.agents.report.*', 'metrics.telemetry.*', 'flotilla.tasks.>', 'flotilla.taskdlq.>'],
  },
};

export function serviceUser(service: ServiceName, password: NatsPassword, ns = new Namespace()): NatsUser {
  const s = SERVICE_SUBJECTS[service];
  return {
    user: `flotilla-${service}`,
    password,
    permissions: {
      publish: { allow: [...COMMON_PUB, ...s.pub.map((x) => ns.subject(x))] },
      subscribe: { allow: [...COMMON_SUB, ...s.sub.map((x) => ns.subject(x))] },
    },
  };
}

/**
 * The user of one node agent whose node id is known up front (the local runner's): the
 * node-agent permissions, with its heartbeats, telemetry, registration, drain and agent reports
 * limited to its own node's subjects, so one node's credentials cannot speak for another node.
 */
export function nodeAgentUser(nodeId: string, user: string, password: NatsPassword, ns = new Namespace()): NatsUser {
  if (!/^[A-Za-z0-9_-]+$/.test(nodeId)) throw new Error(`node id '${nodeId}' cannot be a NATS subject token`);
  const own: Record<string, string> = Object.fromEntries(
    ['registry.heartbeats.*', 'metrics.telemetry.*', 'registry.nodes.register.*', 'registry.nodes.drain.*', 'orchestrator.agents.report.*'].map((s) => [s, `${s.slice(0, -1)}${nodeId}`]),
  );
  const base = serviceUser('node-agent', password, ns);
  return {
    ...base,
    user,
    permissions: {
      ...base.permissions,
      publish: { allow: [...COMMON_PUB, ...SERVICE_SUBJECTS['node-agent'].pub.map((x) => ns.subject(own[x] ?? x))] },
    },
  };
}

/**
 * A read-only integrator of one tenant: it may subscribe to that tenant's live event feed
 * (`flotilla.tenants.<tenant>.events.>`, which the relay publishes right after storing each
 * event) and nothing else: no other subject, no JetStream API (FLOTILLA_EVENTS holds every
 * tenant's events), no `_INBOX.>` (other clients' replies). History is replayed through the
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
      `    { user: ${q(u.user)}, password: ${password(u.password)}, permissions: { publish: { ${rules(u.permissions.publish)} }, subscribe: { ${rules(u.permissions.subscribe)} } } }`,
  );
  return `authorization {\n  users = [\n${entries.join(',\n')}\n  ]\n}\n`;
}

/** The environment variable that holds a service's NATS password in the deployments. */
export const natsPasswordVariable = (service: ServiceName): string => `FLOTILLA_NATS_PASSWORD_${service.replace(/-/g, '_').toUpperCase()}`;

/**
 * The `authorization` block of the deployments' NATS servers (docker-compose, Kubernetes): one
 * user per service, `flotilla-<service>`, limited to that service's subjects, its password read
 * by nats-server from `$FLOTILLA_NATS_PASSWORD_<SERVICE>`. Every node agent shares the
 * node-agent user. `npm run env:example` writes it to deploy/nats/auth.conf and
 * deploy/k8s/base/nats-auth.yaml.
 */
export function deploymentNatsAuthorization(): string {
  const services = Object.keys(SERVICE_SUBJECTS) as ServiceName[];
  return natsAuthorizationConfig(services.map((s) => serviceUser(s, { env: natsPasswordVariable(s) })));
}
