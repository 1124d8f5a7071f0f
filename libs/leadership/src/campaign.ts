import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Namespace } from '@flotilla/contracts';

/** What the lease key holds. `term` is the fencing token the holder was elected with. */
export interface LeaseValue {
  readonly holder: string;
  readonly term: number;
  readonly acquiredAt: string;
  /** Set by a handover: the member that should adopt the lease. */
  readonly handoverTo?: string;
}

/** The key in the epochs bucket that holds the leases bucket's epoch (see `termOf`). */
export const EPOCH_KEY = 'leases';

/**
 * Terms are `epoch * 2^32 + revision`: the KV revision at which the lease was won, under an epoch
 * that changes whenever the leases bucket is new. A KV revision alone starts again from 1 whenever
 * the bucket is created anew (another NATS cluster, a JetStream store lost or restored), while the
 * fences in PostgreSQL remember the old, higher terms: every singleton would then be refused for
 * good. The epoch is kept (without expiry) beside the creation time of the leases bucket it
 * belongs to; a bucket created since gets a new epoch from a sequence in PostgreSQL, which only
 * grows, so terms only grow whatever happens to NATS. Every member of one bucket uses the same
 * epoch, so within it terms are ordered by revision, as elections are.
 */
export const EPOCH_SHIFT = 2 ** 32;

export function termOf(epoch: number, revision: number): number {
  return epoch * EPOCH_SHIFT + revision;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const encodeLease = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

export function decodeLease(value: Uint8Array): LeaseValue | undefined {
  try {
    return JSON.parse(dec.decode(value)) as LeaseValue;
  } catch {
    return undefined;
  }
}

/** The members-bucket key of one member of one role (KV keys allow only a few characters). */
export function memberKeyOf(role: string, memberId: string): string {
  return `${role}.${memberId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The subject a member answers while its process lives (the dead-holder check). */
export function presenceSubject(ns: Namespace, memberId: string): string {
  return ns.subject(`flotilla.members.${memberId.replace(/[^A-Za-z0-9_-]/g, '_')}.alive`);
}

/** A compare-and-set that lost: somebody else wrote the key (or it is gone). */
export function lostRace(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 10071 || code === 10164;
}

export interface CampaignEvents {
  elected(term: number, acquiredAt: string): void;
  demoted(reason: string): void;
}

export interface CampaignOptions {
  readonly role: string;
  readonly memberId: string;
  readonly ttlMs: number;
  /** A new epoch (PostgreSQL sequence) for a bucket that has none. */
  readonly newEpoch?: () => Promise<number>;
  /**
   * Without `newEpoch`: wait for another member to have written the bucket's epoch rather than
   * use epoch 0 (a service without PostgreSQL among services with it). Neither: epoch 0.
   */
  readonly requireEpoch?: boolean;
  readonly warn?: (msg: string, fields: Record<string, unknown>) => void;
}

export interface CampaignDeps {
  readonly leases: KV;
  readonly members: KV;
  /** No TTL: holds the leases bucket's epoch. */
  readonly epochs: KV;
  readonly nc: NatsConnection;
  readonly ns: Namespace;
}

/**
 * One member's campaign for one role, driven by `tick()` (every `interval` ms). The lease is a
 * key in a KV bucket whose TTL is the lease lifetime: campaigning is `create` (succeeds only when
 * nobody holds it), renewing is `update` with the last revision (compare-and-set).
 *
 * Holding on: a renew refused because somebody else wrote the key demotes at once; a renew that
 * merely failed (a slow or unreachable NATS) is retried, and only demotes once the lease can no
 * longer be proven ours: `validUntil`, counted from the start of the last renew that succeeded
 * (the server's TTL counts from when it stored it, which is later), minus a safety margin.
 *
 * Taking over: a holder whose process is gone (its presence subject has no responders, twice in a
 * row) is replaced at once by deleting its key by compare-and-set, instead of waiting for the TTL;
 * a holder that is alive but slow keeps its lease until it expires.
 */
export class Campaign {
  private revision = 0;
  private current: { term: number; acquiredAt: string } | undefined;
  private validUntil = 0;
  private deadHolder: { holder: string; revision: number; seen: number } | undefined;
  private readonly margin: number;

  constructor(
    private readonly deps: CampaignDeps,
    private readonly options: CampaignOptions,
    private readonly events: CampaignEvents,
  ) {
    this.margin = Math.max(100, Math.floor(options.ttlMs / 5));
  }

  get term(): number | undefined {
    return this.current?.term;
  }

  get isLeader(): boolean {
    return this.current !== undefined;
  }

  /** How often `tick()` should run: renewals a few times per lifetime. */
  get interval(): number {
    // A holder that did not answer once is asked again soon (it is confirmed gone on the second
    // miss): taking over a dead leader then costs one tick and this, not two ticks.
    if (this.deadHolder) return Math.max(100, Math.floor(this.options.ttlMs / 10));
    return Math.max(50, Math.floor(this.options.ttlMs / (this.current ? 4 : 3)));
  }

  async tick(): Promise<void> {
    try {
      await this.deps.members.put(memberKeyOf(this.options.role, this.options.memberId), encodeLease({ memberId: this.options.memberId, role: this.options.role, at: new Date().toISOString() }));
    } catch {
      /* membership is informational; the lease below is what matters */
    }
    if (this.current) return this.renew();
    return this.campaign();
  }

  /** Past its proven lifetime without a renew: stand down even if no renew attempt came back. */
  checkExpiry(): void {
    if (this.current && performance.now() >= this.validUntil) this.demote('lease could not be renewed in time');
  }

  /** Stands down, deleting the key so a successor is elected at once. */
  async stop(): Promise<void> {
    if (!this.current) return;
    const revision = this.revision;
    this.demote('stopping');
    await this.deps.leases.delete(this.options.role, { previousSeq: revision }).catch(() => undefined);
  }

  async leaveMembers(): Promise<void> {
    await this.deps.members.delete(memberKeyOf(this.options.role, this.options.memberId)).catch(() => undefined);
  }

  async handover(to: string): Promise<boolean> {
    if (!this.current) return false;
    const value: LeaseValue = { holder: this.options.memberId, term: this.current.term, acquiredAt: this.current.acquiredAt, handoverTo: to };
    try {
      await this.deps.leases.update(this.options.role, encodeLease(value), this.revision);
    } catch {
      return false;
    }
    this.demote(`handed over to ${to}`);
    return true;
  }

  private async renew(): Promise<void> {
    const { term, acquiredAt } = this.current!;
    const started = performance.now();
    try {
      this.revision = await this.deps.leases.update(this.options.role, encodeLease({ holder: this.options.memberId, term, acquiredAt } satisfies LeaseValue), this.revision);
      this.validUntil = started + this.options.ttlMs - this.margin;
    } catch (err) {
      if (lostRace(err)) {
        // Somebody else holds it now, or it expired: this member can no longer prove it leads.
        this.demote(`renew refused: ${(err as Error).message}`);
        return;
      }
      this.options.warn?.('lease renew failed; retrying while the lease is still ours', { role: this.options.role, err: (err as Error).message });
      this.checkExpiry();
    }
  }

  private async campaign(): Promise<void> {
    try {
      const existing = await this.deps.leases.get(this.options.role);
      const value = existing && existing.operation === 'PUT' ? decodeLease(existing.value) : undefined;
      if (existing && value && existing.operation === 'PUT') {
        if (value.handoverTo === this.options.memberId) {
          // Adopt a lease handed to this member: CAS on the revision just read.
          const started = performance.now();
          const acquiredAt = new Date().toISOString();
          const term = termOf((await this.epoch()).epoch, existing.revision);
          this.revision = await this.deps.leases.update(this.options.role, encodeLease({ holder: this.options.memberId, term, acquiredAt } satisfies LeaseValue), existing.revision);
          this.elect(term, acquiredAt, started);
          return;
        }
        if (value.holder !== this.options.memberId && (await this.holderGone(value.holder, existing.revision))) {
          // Its process is gone (not merely slow): free the key now rather than at its expiry.
          await this.deps.leases.delete(this.options.role, { previousSeq: existing.revision });
        } else return;
      }
      // The epoch first: a member that cannot know it does not take the lease.
      const { epoch, bucket } = await this.epoch();
      const started = performance.now();
      const acquiredAt = new Date().toISOString();
      const revision = await this.deps.leases.create(this.options.role, encodeLease({ holder: this.options.memberId, term: 0, acquiredAt }));
      if (bucket !== null && (await this.deps.leases.status()).streamInfo.created !== bucket) {
        // The bucket was created anew between reading its epoch and winning it: try again.
        await this.deps.leases.delete(this.options.role, { previousSeq: revision }).catch(() => undefined);
        return;
      }
      const term = termOf(epoch, revision);
      // Record the term in the value, so readers see the fencing token.
      this.revision = await this.deps.leases.update(this.options.role, encodeLease({ holder: this.options.memberId, term, acquiredAt } satisfies LeaseValue), revision);
      this.elect(term, acquiredAt, started);
    } catch {
      /* somebody else leads (create/update lost the race), NATS is away, or no epoch yet: try again next tick */
    }
  }

  /** Twice in a row (a tick apart) nobody answered on the holder's presence subject. */
  private async holderGone(holder: string, revision: number): Promise<boolean> {
    let gone: boolean;
    try {
      await this.deps.nc.request(presenceSubject(this.deps.ns, holder), undefined, { timeout: Math.max(100, Math.floor(this.options.ttlMs / 4)) });
      gone = false;
    } catch (err) {
      const e = err as { name?: string; cause?: { name?: string }; isNoResponders?: () => boolean };
      gone = e.isNoResponders?.() === true || e.name === 'NoRespondersError' || e.cause?.name === 'NoRespondersError';
    }
    if (!gone) {
      this.deadHolder = undefined;
      return false;
    }
    const now = performance.now();
    if (this.deadHolder?.holder === holder && this.deadHolder.revision === revision && now - this.deadHolder.seen >= 100) {
      this.deadHolder = undefined;
      return true;
    }
    if (this.deadHolder?.holder !== holder || this.deadHolder.revision !== revision) this.deadHolder = { holder, revision, seen: now };
    return false;
  }

  /** The leases bucket's epoch (and the bucket's creation time it belongs to; null without epochs). */
  private async epoch(): Promise<{ epoch: number; bucket: string | null }> {
    if (!this.options.newEpoch && !this.options.requireEpoch) return { epoch: 0, bucket: null };
    const bucket = (await this.deps.leases.status()).streamInfo.created;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.deps.epochs.get(EPOCH_KEY);
      const stored = entry && entry.operation === 'PUT' ? (JSON.parse(dec.decode(entry.value)) as { epoch: number; bucket: string }) : undefined;
      if (stored && stored.bucket === bucket) return { epoch: stored.epoch, bucket };
      if (!this.options.newEpoch) throw new Error('waiting for a member with PostgreSQL to set the lease epoch');
      const fresh = await this.options.newEpoch();
      try {
        const value = enc.encode(JSON.stringify({ epoch: fresh, bucket }));
        if (stored && entry) await this.deps.epochs.update(EPOCH_KEY, value, entry.revision);
        else await this.deps.epochs.create(EPOCH_KEY, value);
        return { epoch: fresh, bucket };
      } catch {
        /* another member wrote it first: use theirs */
      }
    }
    throw new Error('lease epoch unavailable');
  }

  private elect(term: number, acquiredAt: string, started: number): void {
    this.current = { term, acquiredAt };
    this.validUntil = started + this.options.ttlMs - this.margin;
    this.events.elected(term, acquiredAt);
  }

  private demote(reason: string): void {
    if (!this.current) return;
    this.current = undefined;
    this.events.demoted(reason);
  }
}
