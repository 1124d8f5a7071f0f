import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@flotilla/config';
import { RateLimitedError } from '@flotilla/domain';
import { CONFIG } from '@flotilla/platform';

/**
 * Token buckets per caller (API key, token subject or source address): RATE_LIMIT_RPS refill,
 * RATE_LIMIT_BURST capacity. Beyond it a request gets 429 with Retry-After.
 */
@Injectable()
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(@Inject(CONFIG) private readonly config: Config) {}

  take(principal: string, now = performance.now()): void {
    const rate = this.config.RATE_LIMIT_RPS;
    const burst = this.config.RATE_LIMIT_BURST;
    const b = this.buckets.get(principal) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(principal, b);
      throw new RateLimitedError(`rate limit of ${rate} requests/s exceeded`, { retry_after_s: Math.max(1, Math.ceil((1 - b.tokens) / rate)), limit_rps: rate });
    }
    b.tokens -= 1;
    this.buckets.set(principal, b);
    if (this.buckets.size > 100_000) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}
