import { Inject, Injectable } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import type { Config } from '@flotilla/config';
import { decodeLease, openBuckets } from '@flotilla/leadership';
import { Messaging } from '@flotilla/messaging';
import { CONFIG } from '@flotilla/platform';

/**
 * The current lease of a singleton role as NATS KV holds it: who leads and with which term. A
 * term that arrives in a request (the autoscaler's decisions) is only a claim; the lease says
 * whether it is the current one.
 */
@Injectable()
export class LeaseTerms {
  private leases: Promise<KV> | undefined;

  constructor(
    private readonly messaging: Messaging,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  async current(role: string): Promise<{ holder: string; term: number } | undefined> {
    this.leases ??= openBuckets(this.messaging, this.config.LEASE_TTL_MS, this.config.NATS_STREAM_REPLICAS).then((b) => b.leases);
    const entry = await (await this.leases).get(role);
    const value = entry && entry.operation === 'PUT' ? decodeLease(entry.value) : undefined;
    return value && value.term ? { holder: value.holder, term: value.term } : undefined;
  }
}
