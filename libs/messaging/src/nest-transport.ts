import { BaseRpcContext, Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { lastValueFrom, type Observable } from 'rxjs';
import type { Route } from '@flotilla/contracts';
import type { Subscription } from '@nats-io/transport-node';
import type { Messaging, RequestMeta } from './messaging.js';

/** The handler's second argument (`@Ctx()`): identity, correlation and idempotency of the request. */
export class NatsRequestContext extends BaseRpcContext<[RequestMeta]> {
  get meta(): RequestMeta {
    return this.args[0];
  }
}

/**
 * Nest microservice transport over the process's one Messaging connection. Handlers are plain
 * `@MessagePattern(route.subject)` methods; this transport looks the route up by subject,
 * subscribes in the service's queue group under the namespace, validates each request against
 * the route schema and replies with the typed envelope (see Messaging.serve). Nest's own NATS
 * transport is not used because it opens a second connection per process and wraps payloads
 * in its own packet format, which plain NATS clients (integrators, the CLI) would have to know.
 */
export class FlotillaNatsTransport extends Server implements CustomTransportStrategy {
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly messaging: Messaging,
    private readonly routes: readonly Route[],
    private readonly graceMs: number,
  ) {
    super();
  }

  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    const bySubject = new Map(this.routes.map((r) => [r.subject, r]));
    try {
      for (const [pattern, handler] of this.messageHandlers) {
        const route = bySubject.get(pattern);
        if (!route) throw new Error(`@MessagePattern('${pattern}') has no route in the contracts library`);
        this.subscriptions.push(
          this.messaging.serve(route, async (data, meta) => {
            const result = await handler(data, new NatsRequestContext([meta]));
            return lastValueFrom(this.transformToObservable(result as Observable<unknown>), { defaultValue: null });
          }),
        );
      }
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Stop taking requests, then let the ones in flight finish (bounded by the grace period). */
  async close(): Promise<void> {
    await this.messaging.drainHandlers(this.graceMs);
  }

  on(): void {
    // Connection events are watched by Messaging itself.
  }

  unwrap<T>(): T {
    return this.messaging.nc as T;
  }
}
