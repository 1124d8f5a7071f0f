import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { RateLimitedError } from '@flotilla/domain';
import { CONFIG, METRICS_REGISTRY } from '@flotilla/platform';
import { promClient, type Gauge, type Registry } from '@flotilla/telemetry';

/**
 * Open event watchers (SSE `GET /api/events/stream` and gRPC `WatchEvents`), per gateway replica:
 * at most EVENT_WATCHERS_MAX in all and EVENT_WATCHERS_PER_CALLER per caller (API key, token
 * subject). Each holds a NATS subscription or consumer and a connection for as long as it lasts,
 * so beyond either cap a new one is refused with 429 / RESOURCE_EXHAUSTED and Retry-After.
 */
@Injectable()
export class WatcherLimits {
  private total = 0;
  private readonly byCaller = new Map<string, number>();
  private readonly open: Gauge<string>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.open = new promClient.Gauge({ name: 'flotilla_event_watchers', help: 'Open event watchers (SSE and gRPC WatchEvents)', registers: [registry] });
  }

  /** Takes a slot for `principal`; call the returned function exactly once when the watcher ends. */
  acquire(principal: string): () => void {
    const mine = this.byCaller.get(principal) ?? 0;
    if (this.total >= this.config.EVENT_WATCHERS_MAX) {
      throw new RateLimitedError(`this gateway already serves ${this.total} event watchers, its limit (EVENT_WATCHERS_MAX)`, {
        reason: 'too_many_watchers',
        limit: this.config.EVENT_WATCHERS_MAX,
        retry_after_s: 5,
      });
    }
    if (mine >= this.config.EVENT_WATCHERS_PER_CALLER) {
      throw new RateLimitedError(`this caller already has ${mine} open event watchers, its limit (EVENT_WATCHERS_PER_CALLER); close one first`, {
        reason: 'too_many_watchers_per_caller',
        limit: this.config.EVENT_WATCHERS_PER_CALLER,
        retry_after_s: 5,
      });
    }
    this.total++;
    this.byCaller.set(principal, mine + 1);
    this.open.set(this.total);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byCaller.get(principal) ?? 1) - 1;
      if (left > 0) this.byCaller.set(principal, left);
      else this.byCaller.delete(principal);
      this.open.set(this.total);
    };
  }
}
