import { z } from 'zod';
import { route, SERVICES, type ServiceName } from './route.js';

export const dependencyCheck = z.object({
  status: z.enum(['up', 'down']),
  latency_ms: z.number().nullable(),
  error: z.string().optional(),
});
export type DependencyCheck = z.infer<typeof dependencyCheck>;

export const pingReply = z.object({
  service: z.enum(SERVICES),
  instance: z.string(),
  version: z.string(),
  uptime_ms: z.number(),
  ready: z.boolean(),
  checks: z.record(z.string(), dependencyCheck),
});
export type PingReply = z.infer<typeof pingReply>;

const pingRequest = z.strictObject({}).default({});

/** `<service>.system.ping`: every service answers, with its own dependency checks. */
export const pingRoutes = Object.fromEntries(
  SERVICES.map((s) => [
    s,
    route(
      s,
      `${s}.system.ping`,
      pingRequest,
      pingReply,
      `Liveness and readiness of one ${s} replica.`,
      'service',
    ),
  ]),
) as {
  readonly [S in ServiceName]: ReturnType<typeof route<typeof pingRequest, typeof pingReply>>;
};
