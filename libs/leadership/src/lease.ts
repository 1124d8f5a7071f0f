import { Kvm, type KV } from '@nats-io/kv';
import { NotFoundError, RuleViolationError } from '@flotilla/domain';
import type { Logger } from '@flotilla/telemetry';
import { whileJetStreamStarts, type Messaging } from '@flotilla/messaging';

export const LEASES_BUCKET = 'flotilla_leases';
export const MEMBERS_BUCKET = 'flotilla_members';

/** What the lease key holds. `term` is the KV revision at which the holder acquired it. */
export interface LeaseValue {
  readonly holder: string;
  readonly term: number;
  readonly acquiredAt: string;
  /** Set by a handover: the member that should adopt the lease. */
  readonly handoverTo?: string;
}

export interface Leadership {
  readonly role: string;
  readonly memberId: string;
  /** The fencing token: strictly greater for every later leader of the role. */
  readonly term: number;
  /** Aborted the moment this member stops being the leader. */
  readonly signal: AbortSignal;
}

export interface ElectionOptions {
  readonly role: string;
  readonly memberId: string;
  readonly ttlMs: number;
  readonly logger?: Logger;
  /** Runs while this member leads; its signal aborts on demotion. Errors are logged. */
  readonly onLead?: (leadership: Leadership) => Promise<void> | void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const encode = (v: unknown) => enc.encode(JSON.stringify(v));

export async function openBuckets(messaging: Messaging, ttlMs: number, replicas = 1): Promise<{ leases: KV; members: KV }> {
  const kvm = new Kvm(messaging.nc);
  // Bucket TTL is the lease lifetime: a holder that stops renewing loses the key on the server,
  // without anybody having to notice it died.
  const leases = await whileJetStreamStarts(() => kvm.create(messaging.ns.bucket(LEASES_BUCKET), { ttl: ttlMs, history: 1, replicas }));
  const members = await whileJetStreamStarts(() => kvm.create(messaging.ns.bucket(MEMBERS_BUCKET), { ttl: ttlMs * 2, history: 1, replicas }));
  return { leases, members };
}

/** The members-bucket key of one member of one role (KV keys allow only a few characters). */
export function memberKeyOf(role: string, memberId: string): string {
  return `${role}.${memberId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function decodeLease(value: Uint8Array): LeaseValue | undefined {
  try {
    return JSON.parse(dec.decode(value)) as LeaseValue;
  } catch {
    return undefined;
  }
}

/**
 * One member's campaign for one role. The lease is a key in a KV bucket whose TTL is the lease
 * lifetime: campaigning is `create` (succeeds only when nobody holds it), renewing is `update`
 * with the last revision (compare-and-set) every ttl/3, and a failed renew demotes at once, so
 * a paused holder stops its loop before anybody else can have been elected for long. The term
 * (the revision of the create) is the fencing token the loop carries into its writes.
 */
export class LeaderElection {
  private leases!: KV;
  private members!: KV;
  private revision = 0;
  private current: { term: number; acquiredAt: string; controller: AbortController; run: Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly messaging: Messaging,
    private readonly options: ElectionOptions,
    private readonly replicas = 1,
  ) {}

  get isLeader(): boolean {
    return this.current !== undefined;
  }

  get term(): number | undefined {
    return this.current?.term;
  }

  get role(): string {
    return this.options.role;
  }

  get memberId(): string {
    return this.options.memberId;
  }

  async start(): Promise<void> {
    ({ leases: this.leases, members: this.members } = await openBuckets(this.messaging, this.options.ttlMs, this.replicas));
    this.stopped = false;
    await this.tick();
    this.schedule();
  }

  /** Stands down (deleting the key so a successor is elected at once) and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    if (this.current) {
      const revision = this.revision;
      await this.demote('stopping');
      await this.leases.delete(this.options.role, { previousSeq: revision }).catch(() => undefined);
    }
    await this.members.delete(this.memberKey()).catch(() => undefined);
  }

  /**
   * Hands the lease to another member: the key names the successor and this member stands
   * down; the successor adopts the lease on its next tick. If it never does, the key expires
   * and everybody campaigns again.
   */
  async handover(to: string): Promise<boolean> {
    if (!this.current) return false;
    const value: LeaseValue = { holder: this.options.memberId, term: this.current.term, acquiredAt: this.current.acquiredAt, handoverTo: to };
    try {
      await this.leases.update(this.options.role, encode(value), this.revision);
    } catch {
      return false;
    }
    await this.demote(`handed over to ${to}`);
    return true;
  }

  private memberKey(): string {
    return memberKeyOf(this.options.role, this.options.memberId);
  }

  private schedule(): void {
    if (this.stopped) return;
    const interval = Math.max(50, Math.floor(this.options.ttlMs / 3));
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule());
    }, interval);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.members.put(this.memberKey(), encode({ memberId: this.options.memberId, role: this.options.role, at: new Date().toISOString() }));
    } catch {
      /* membership is informational; the lease below is what matters */
    }
    if (this.current) return this.renew();
    return this.campaign();
  }

  private async renew(): Promise<void> {
    const { term, acquiredAt } = this.current!;
    try {
      this.revision = await this.leases.update(
        this.options.role,
        encode({ holder: this.options.memberId, term, acquiredAt } satisfies LeaseValue),
        this.revision,
      );
    } catch (err) {
      // Somebody else holds it now, or the key expired, or NATS is unreachable: in every case
      // this member can no longer prove it leads, so its loop must stop before anything else.
      await this.demote(`renew failed: ${(err as Error).message}`);
    }
  }

  private async campaign(): Promise<void> {
    try {
      const existing = await this.leases.get(this.options.role);
      const value = existing && existing.operation === 'PUT' ? decodeLease(existing.value) : undefined;
      if (existing && value && existing.operation === 'PUT') {
        if (value.handoverTo !== this.options.memberId) return;
        // Adopt a lease handed to this member: CAS on the revision we just read.
        const next: LeaseValue = { holder: this.options.memberId, term: existing.revision, acquiredAt: new Date().toISOString() };
        this.revision = await this.leases.update(this.options.role, encode(next), existing.revision);
        this.elect(existing.revision, next.acquiredAt);
        return;
      }
      const acquiredAt = new Date().toISOString();
      const revision = await this.leases.create(this.options.role, encode({ holder: this.options.memberId, term: 0, acquiredAt }));
      // Record the term (the create's revision) in the value, so readers see the fencing token.
      this.revision = await this.leases.update(
        this.options.role,
        encode({ holder: this.options.memberId, term: revision, acquiredAt } satisfies LeaseValue),
        revision,
      );
      this.elect(revision, acquiredAt);
    } catch {
      /* somebody else leads (create/update lost the race) or NATS is away: try again next tick */
    }
  }

  private elect(term: number, acquiredAt: string): void {
    const controller = new AbortController();
    const leadership: Leadership = { role: this.options.role, memberId: this.options.memberId, term, signal: controller.signal };
    this.options.logger?.info({ role: this.options.role, term }, 'elected leader');
    const run = Promise.resolve()
      .then(() => this.options.onLead?.(leadership))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) this.options.logger?.error({ err, role: this.options.role }, 'leader loop failed');
      });
    this.current = { term, acquiredAt, controller, run };
  }

  private async demote(reason: string): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    this.options.logger?.warn({ role: this.options.role, term: current.term, reason }, 'no longer leader');
    current.controller.abort(new Error(reason));
    await current.run;
  }
}

export interface RoleLeadership {
  readonly role: string;
  readonly leader: string | null;
  readonly term: number | null;
  readonly since: string | null;
  readonly members: string[];
}

/** Every role's leader and members, as the KV buckets say right now. */
export async function readLeadership(messaging: Messaging, ttlMs: number, replicas = 1): Promise<RoleLeadership[]> {
  const { leases, members } = await openBuckets(messaging, ttlMs, replicas);
  const roles = new Map<string, RoleLeadership>();
  const ensure = (role: string) => {
    let r = roles.get(role);
    if (!r) roles.set(role, (r = { role, leader: null, term: null, since: null, members: [] }));
    return r;
  };
  // keys() can yield a key twice when it is written while being listed (members refresh theirs).
  const seen = new Set<string>();
  for await (const key of await members.keys()) {
    if (seen.has(key)) continue;
    seen.add(key);
    const e = await members.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const m = JSON.parse(dec.decode(e.value)) as { memberId: string; role: string };
    ensure(m.role).members.push(m.memberId);
  }
  const seenRoles = new Set<string>();
  for await (const role of await leases.keys()) {
    if (seenRoles.has(role)) continue;
    seenRoles.add(role);
    const e = await leases.get(role);
    const v = e && e.operation === 'PUT' ? decodeLease(e.value) : undefined;
    if (!v || !v.term) continue;
    Object.assign(ensure(role), { leader: v.holder, term: v.term, since: v.acquiredAt });
  }
  return [...roles.values()].map((r) => ({ ...r, members: r.members.sort() })).sort((a, b) => a.role.localeCompare(b.role));
}

export interface HandoverOptions {
  readonly ttlMs: number;
  readonly replicas?: number;
  /** Compare-and-set attempts when the holder renews between our read and our write. */
  readonly attempts?: number;
}

/**
 * Hands a role over to a named member from anywhere (any replica, any service), not only from
 * the holder's own process: the lease key is rewritten with `handoverTo`, by compare-and-set on
 * the revision just read. That write moves the key's revision, so the holder's next renew (a CAS
 * on the revision it last wrote) fails and it stands down at once; the named member sees itself
 * in `handoverTo` on its next campaign tick and adopts the lease with a new, higher term. Nobody
 * else adopts a lease handed to another member, and if the named member never does, the key
 * expires with the TTL and everybody campaigns again.
 */
export async function handoverRole(messaging: Messaging, role: string, memberId: string, options: HandoverOptions): Promise<LeaseValue> {
  const { leases, members } = await openBuckets(messaging, options.ttlMs, options.replicas ?? 1);
  const member = await members.get(memberKeyOf(role, memberId));
  if (!member || member.operation !== 'PUT') {
    throw new NotFoundError(`'${memberId}' is not a member of role '${role}'`, { kind: 'member', role, id: memberId });
  }
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const entry = await leases.get(role);
    const current = entry && entry.operation === 'PUT' ? decodeLease(entry.value) : undefined;
    if (!entry || !current || !current.term) {
      throw new RuleViolationError('role_has_no_leader', `role '${role}' has no leader to hand over from`, { role });
    }
    if (current.holder === memberId && current.handoverTo === undefined) return current;
    const next: LeaseValue = { holder: current.holder, term: current.term, acquiredAt: current.acquiredAt, handoverTo: memberId };
    try {
      await leases.update(role, encode(next), entry.revision);
      return next;
    } catch (err) {
      // The holder renewed between our read and our write: read again and retry.
      if (attempt >= attempts) {
        throw new RuleViolationError('handover_contended', `could not hand '${role}' over after ${attempts} attempts: ${(err as Error).message}`, { role, member_id: memberId });
      }
    }
  }
}
