import type { z } from 'zod';

/**
 * A request/reply operation on NATS: its subject (`<app>.<context>.<verb>`, before the
 * namespace prefix), the schema its request must satisfy (the server validates it, so bad
 * input is a ValidationError naming the path) and the shape of its successful reply.
 */
export interface Route<Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  readonly subject: string;
  /** The service whose replicas answer it (in a queue group named after the service). */
  readonly service: ServiceName;
  readonly request: Req;
  readonly response: Res;
  readonly description: string;
  /**
   * A route of one subject per node (`<subject>.<nodeId>`, served as `<subject>.*`): a node
   * agent's NATS user may publish only its own node's, so the node a request speaks for is the
   * subject's last token, never a field of the payload.
   */
  readonly perNode: boolean;
  /** Who may call it through the gateway; REST and gRPC both read it from here. */
  readonly access: Access;
  /**
   * The reply is the command envelope `{result, position, events, duplicate}` (a change was
   * decided and appended), not a plain view: the gateway then passes `wait`, gives the command
   * a longer timeout, and answers 201/202 from the envelope.
   */
  readonly commandReply: boolean;
  /**
   * The request takes `dry_run`: the owner decides the command with every check of the real one
   * and answers what it would append, appending and reserving nothing (REST `?dry_run=true`).
   */
  readonly dryRun: boolean;
}

/**
 * Who may call a route: `read` any role of the tenant, `write` operators and admins, `admin`
 * admins, `platform` an admin of every tenant (tenant '*') for what all tenants share (nodes,
 * placement strategy, leadership); `service` only services and node agents over NATS, never
 * through the gateway.
 */
export const ACCESS_LEVELS = ['read', 'write', 'admin', 'platform', 'service'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];

const COMMAND_REPLIES = new WeakSet<z.ZodType>();
const DRY_RUNNABLE = new WeakSet<z.ZodType>();

/** Marks a reply schema as the command envelope (see Route.commandReply). */
export function commandEnvelope<S extends z.ZodType>(schema: S): S {
  COMMAND_REPLIES.add(schema);
  return schema;
}

/** Marks a request schema as taking `dry_run` (see Route.dryRun). */
export function dryRunnable<S extends z.ZodType>(schema: S): S {
  DRY_RUNNABLE.add(schema);
  return schema;
}

export type RouteRequest<R extends Route> = z.input<R['request']>;
export type RouteRequestParsed<R extends Route> = z.output<R['request']>;
export type RouteResponse<R extends Route> = z.output<R['response']>;

export function route<Req extends z.ZodType, Res extends z.ZodType>(
  service: ServiceName,
  subject: string,
  request: Req,
  response: Res,
  description: string,
  access: Access,
): Route<Req, Res> {
  if (!subject.startsWith(`${service}.`)) {
    throw new Error(`route subject '${subject}' must live under its owner '${service}.'`);
  }
  return { service, subject, request, response, description, perNode: subject.endsWith('.*'), access, commandReply: COMMAND_REPLIES.has(response), dryRun: DRY_RUNNABLE.has(request) };
}

const NODE_TOKEN = /^[A-Za-z0-9_-]+$/;

/** A node id that can be one subject token (what per-node subjects and NATS users need). */
export function isNodeToken(nodeId: string): boolean {
  return NODE_TOKEN.test(nodeId);
}

/** The subject (before the namespace) to send a route's request on; `node` for a per-node route. */
export function routeSubject(r: Route, node?: string): string {
  if (!r.perNode) {
    if (node !== undefined) throw new Error(`route '${r.subject}' is not per node`);
    return r.subject;
  }
  if (node === undefined || !isNodeToken(node)) throw new Error(`route '${r.subject}' needs a node id that is one subject token (got '${node}')`);
  return `${r.subject.slice(0, -1)}${node}`;
}

/** The node a per-node route's request was sent for: the received subject's last token (after the namespace). */
export function nodeOfSubject(r: Route, subject: string): string | undefined {
  if (!r.perNode) return undefined;
  const node = subject.slice(subject.lastIndexOf('.') + 1);
  return isNodeToken(node) ? node : undefined;
}

export const SERVICES = [
  'gateway',
  'orchestrator',
  'registry',
  'autoscaler',
  'metrics',
  'node-agent',
] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * Reply envelope on the wire. A success carries the route's response; a failure carries the
 * typed error (code, message, details) that the caller rebuilds into the same error class.
 */
export type ReplyEnvelope<T> =
  | { readonly ok: true; readonly data: T }
  | {
      readonly ok: false;
      readonly error: {
        readonly code: string;
        readonly message: string;
        readonly details: Record<string, unknown>;
      };
    };
