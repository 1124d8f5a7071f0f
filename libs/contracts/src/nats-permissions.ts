import { Namespace } from './namespace.js';
import type { ServiceName } from './route.js';

/** What a NATS user may publish and subscribe to (NATS server `permissions` block). */
export interface NatsPermissions {
  readonly publish: { readonly allow: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[] };
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
    pub: ['orchestrator.apikeys.revoked', 'registry.>', 'flotilla.events.>', 'flotilla.taskq.>', 'flotilla.taskdlq.>'],
  },
  registry: { sub: ['registry.>'], pub: ['orchestrator.>', 'flotilla.events.>'] },
  autoscaler: { sub: ['autoscaler.>', 'metrics.snapshots.*'], pub: ['orchestrator.scaling.apply'] },
  metrics: { sub: ['metrics.>', 'registry.heartbeats.*'], pub: ['metrics.snapshots.*'] },
  'node-agent': {
    sub: ['node-agent.>'],
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
 * A read-only integrator of one tenant: it may read that tenant's events (live, and replay them
 * from FLOTILLA_EVENTS with its own consumer) and nothing else. The server refuses any other
 * subscription.
 */
export function integratorUser(tenantId: string, password: string, ns = new Namespace()): NatsUser {
  const events = ns.subject(`flotilla.events.${tenantId}.>`);
  const stream = ns.stream('FLOTILLA_EVENTS');
  return {
    user: `integrator-${tenantId}`,
    password,
    permissions: {
      publish: {
        allow: [
          // Only the JetStream API calls an ordered or durable consumer of its own events needs.
          `$JS.API.CONSUMER.CREATE.${stream}.*.${events}`,
          `$JS.API.CONSUMER.CREATE.${stream}`,
          `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
          `$JS.API.CONSUMER.INFO.${stream}.*`,
          `$JS.API.CONSUMER.DELETE.${stream}.*`,
          `$JS.API.STREAM.INFO.${stream}`,
          '$JS.ACK.>',
          '$JS.FC.>',
        ],
      },
      subscribe: { allow: [events, '_INBOX.>'] },
    },
  };
}

/** A `nats-server` configuration block (`authorization { users = [...] }`) for these users. */
export function natsAuthorizationConfig(users: readonly NatsUser[]): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`;
  const entries = users.map(
    (u) =>
      `    { user: ${q(u.user)}, password: ${q(u.password)}, permissions: { publish: { allow: ${list(u.permissions.publish.allow)} }, subscribe: { allow: ${list(u.permissions.subscribe.allow)} } } }`,
  );
  return `authorization {\n  users = [\n${entries.join(',\n')}\n  ]\n}\n`;
}
