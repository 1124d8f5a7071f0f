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
): Route<Req, Res> {
  if (!subject.startsWith(`${service}.`)) {
    throw new Error(`route subject '${subject}' must live under its owner '${service}.'`);
  }
  return { service, subject, request, response, description };
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
