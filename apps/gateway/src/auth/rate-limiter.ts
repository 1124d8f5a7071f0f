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

/**
 * Failed authentications per key (a source address, an API key id): a token bucket of `limit`
 * failures refilled evenly over `windowMs`. `check` refuses (429 with Retry-After) once a key has
 * none left; `fail` takes one. Bounded: the oldest keys are forgotten past 100,000.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly what: string,
  ) {}

  private bucket(key: string, now: number): { tokens: number; at: number } {
    const b = this.buckets.get(key) ?? { tokens: this.limit, at: now };
    b.tokens = Math.min(this.limit, b.tokens + ((now - b.at) / this.windowMs) * this.limit);
    b.at = now;
    return b;
  }

  check(key: string, now = performance.now()): void {
    const b = this.buckets.get(key);
    if (!b) return;
    const current = this.bucket(key, now);
    if (current.tokens >= 1) {
      if (current.tokens >= this.limit) this.buckets.delete(key);
      return;
    }
    const retryAfterS = Math.max(1, Math.ceil(((1 - current.tokens) * this.windowMs) / this.limit / 1000));
    throw new RateLimitedError(`too many failed authentications from this ${this.what}; retry in ${retryAfterS} s`, {
      reason: 'authentication_failures',
      retry_after_s: retryAfterS,
      limit: this.limit,
      window_s: Math.round(this.windowMs / 1000),
    });
  }

  fail(key: string, now = performance.now()): void {
    const b = this.bucket(key, now);
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > 100_000) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}
