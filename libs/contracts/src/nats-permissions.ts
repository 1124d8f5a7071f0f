import { Namespace } from './namespace.js';
import type { ServiceName } from './route.js';

/** What a NATS user may publish and subscribe to (NATS server `permissions` block). */
export interface NatsPermissions {
  /** An empty `allow` with no `deny` would mean "anything" to the server: say `deny: ['>']` to publish nothing. */
  readonly publish: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
}

export interface NatsUser {
  readonly user: string;
  readonly password: string;
  readonly permissions: NatsPermissions;
}

// Request/reply inboxes, the JetStream API and KV buckets are needed by every service; the rest is
// each service's own subject space plus the requests it makes of others.
const COMMON_PUB = ['_INBOX.>', '$JS.API.>', '$KV.>', '$JS.ACK.>', '$JS.FC.>'];
const COMMON_SUB = ['_INBOX.>', '$KV.>'];

/**
 * Subjects (before the namespace) each service answers (`sub`) and sends to (`pub`). Kept next to
 * the routes so a new route and its permission are written together.
 */
export const SERVICE_SUBJECTS: Readonly<Record<ServiceName, { readonly sub: readonly string[]; readonly pub: readonly string[] }>> = {
  gateway: { sub: ['gateway.>', 'flotilla.events.>', 'orchestrator.apikeys.revoked'], pub: ['orchestrator.>', 'registry.>', 'metrics.>', 'autoscaler.system.ping', 'node-agent.system.ping'] },
  orchestrator: {
    sub: ['orchestrator.>', 'flotilla.tasks.>'],
    pub: ['orchestrator.apikeys.revoked', 'registry.>', 'flotilla.events.>', 'flotilla.tenants.*.events.>', 'flotilla.taskq.>', 'flotilla.taskdlq.>'],
  },
  registry: { sub: ['registry.>'], pub: ['orchestrator.>', 'flotilla.events.>'] },
  autoscaler: { sub: ['autoscaler.>', 'metrics.snapshots.*'], pub: ['orchestrator.scaling.apply'] },
  metrics: { sub: ['metrics.>', 'registry.heartbeats.*'], pub: ['metrics.snapshots.*'] },
  'node-agent': {
    // flotilla.taskq.>: a core subscription that wakes idle agents the moment a task is queued.
    sub: ['node-agent.>', 'flotilla.taskq.>'],
    pub: ['registry.heartbeats.*', 'registry.nodes.register', 'registry.nodes.drain', 'registry.nodes.heartbeat', 'orchestrator.agents.report', 'metrics.telemetry.*', 'flotilla.tasks.>', 'flotilla.taskdlq.>'],
  },
};

export function serviceUser(service: ServiceName, password: string, ns = new Namespace()): NatsUser {
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
 * A read-only integrator of one tenant: it may subscribe to that tenant's live event feed
 * (`flotilla.tenants.<tenant>.events.>`, which the relay publishes right after storing each
 * event) and nothing else: no other subject, no JetStream API (FLOTILLA_EVENTS holds every
 * tenant's events), no `_INBOX.>` (other clients' replies). History is replayed through the
 * gateway (REST events, gRPC WatchEvents), which scopes it to the key's tenant.
 */
export function integratorUser(tenantId: string, password: string, ns = new Namespace()): NatsUser {
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
  const entries = users.map(
    (u) =>
      `    { user: ${q(u.user)}, password: ${q(u.password)}, permissions: { publish: { ${rules(u.permissions.publish)} }, subscribe: { ${rules(u.permissions.subscribe)} } } }`,
  );
  return `authorization {\n  users = [\n${entries.join(',\n')}\n  ]\n}\n`;
}
