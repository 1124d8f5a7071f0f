import { Kvm, type KV } from '@nats-io/kv';
import { LEASE_BUCKETS } from '@flotilla/contracts';
import { NotFoundError, RuleViolationError } from '@flotilla/domain';
import type { Logger } from '@flotilla/telemetry';
import { reopening, whileJetStreamStarts, type Messaging } from '@flotilla/messaging';
import { Campaign, decodeLease, encodeLease, memberKeyOf, presenceSubject, type LeaseValue } from './campaign.js';
import { LeaseKeeper } from './lease-keeper.js';

export { decodeLease, memberKeyOf, type LeaseValue } from './campaign.js';

const dec = new TextDecoder();
const encode = encodeLease;

// Named in the contracts library, whose NATS permissions give each service exactly these buckets.
export const [LEASES_BUCKET, MEMBERS_BUCKET, EPOCHS_BUCKET] = LEASE_BUCKETS;

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
  /** A new lease epoch (a PostgreSQL sequence) for a leases bucket that is new (see termOf). */
  readonly newEpoch?: () => Promise<number>;
  /** Without newEpoch: wait for another member to set the epoch instead of using epoch 0. */
  readonly requireEpoch?: boolean;
  /**
   * Keep the lease from a worker thread of its own (with its own NATS connection), so a busy
   * event loop in the service never delays a renewal. Services do; tests of the lease itself
   * may not.
   */
  readonly isolated?: boolean;
}

export async function openBuckets(messaging: Messaging, ttlMs: number, replicas = 1): Promise<{ leases: KV; members: KV; epochs: KV }> {
  const kvm = new Kvm(messaging.nc);
  // Each bucket is created again by the first call that misses it (JetStream's store lost or
  // wiped while PostgreSQL kept its data): campaigns then go on in the new bucket, under a new
  // epoch (see termOf), instead of failing every tick until the process restarts. A holder's
  // renew on the new bucket is refused (its revision is gone), so it stands down and campaigns.
  // Bucket TTL is the lease lifetime: a holder that stops renewing loses the key on the server,
  // without anybody having to notice it died.
  const specs: Record<string, { ttl?: number; history: number; replicas: number }> = {
    [LEASES_BUCKET]: { ttl: ttlMs, history: 1, replicas },
    [MEMBERS_BUCKET]: { ttl: ttlMs * 2, history: 1, replicas },
    [EPOCHS_BUCKET]: { history: 1, replicas },
  };
  const create = (name: string) => whileJetStreamStarts(() => kvm.create(messaging.ns.bucket(name), specs[name]!));
  // The three went together: the first call to miss one (a members put, every tick, misses at
  // once) creates them all again, rather than each waiting for a call of its own to time out.
  const open = async (name: string): Promise<KV> =>
    reopening(await create(name), async () => (await Promise.all(Object.keys(specs).map(create)))[Object.keys(specs).indexOf(name)]!, { probe: (kv) => kv.status() });
  const leases = await open(LEASES_BUCKET);
  const members = await open(MEMBERS_BUCKET);
  const epochs = await open(EPOCHS_BUCKET);
  return { leases, members, epochs };
}

/** Answers presence requests for a member while this connection lives (the dead-holder check). */
const present = new WeakMap<Messaging, Set<string>>();
export function answerPresence(messaging: Messaging, memberId: string): void {
  let members = present.get(messaging);
  if (!members) present.set(messaging, (members = new Set()));
  if (members.has(memberId)) return;
  members.add(memberId);
  messaging.nc.subscribe(presenceSubject(messaging.ns, memberId), { callback: (_err, msg) => void msg.respond() });
}

/**
 * One member's campaign for one role (see Campaign). The loop in `onLead` runs while this member
 * leads; a lost lease aborts its signal at once. The term is the fencing token the loop carries
 * into its writes.
 */
export class LeaderElection {
  private campaign: Campaign | undefined;
  private keeper: LeaseKeeper | undefined;
  private current: { term: number; controller: AbortController; run: Promise<void> } | undefined;
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
    this.stopped = false;
    const events = { elected: (term: number) => this.elect(term), demoted: (reason: string) => void this.demote(reason) };
    if (this.options.isolated) {
      this.keeper = LeaseKeeper.for(this.messaging, {
        memberId: this.options.memberId,
        ttlMs: this.options.ttlMs,
        replicas: this.replicas,
        requireEpoch: this.options.requireEpoch === true,
        ...(this.options.newEpoch ? { newEpoch: this.options.newEpoch } : {}),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      });
      await this.keeper.join(this.options.role, events);
      return;
    }
    const { leases, members, epochs } = await openBuckets(this.messaging, this.options.ttlMs, this.replicas);
    answerPresence(this.messaging, this.options.memberId);
    this.campaign = new Campaign({ leases, members, epochs, nc: this.messaging.nc, ns: this.messaging.ns }, {
      role: this.options.role,
      memberId: this.options.memberId,
      ttlMs: this.options.ttlMs,
      ...(this.options.newEpoch ? { newEpoch: this.options.newEpoch } : {}),
      requireEpoch: this.options.requireEpoch === true,
      warn: (msg, fields) => this.options.logger?.warn(fields, msg),
    }, events);
    await this.campaign.tick();
    this.schedule();
  }

  /** Stands down (deleting the key so a successor is elected at once) and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    if (this.keeper) {
      await this.keeper.leave(this.options.role);
      await this.demote('stopping');
      return;
    }
    await this.campaign?.stop();
    await this.current?.run;
    await this.campaign?.leaveMembers();
  }

  /**
   * Hands the lease to another member: the key names the successor and this member stands
   * down; the successor adopts the lease on its next tick. If it never does, the key expires
   * and everybody campaigns again.
   */
  async handover(to: string): Promise<boolean> {
    if (this.keeper) return this.keeper.handover(this.options.role, to);
    return (await this.campaign?.handover(to)) ?? false;
  }

  private schedule(): void {
    if (this.stopped || !this.campaign) return;
    const campaign = this.campaign;
    this.timer = setTimeout(() => {
      campaign.checkExpiry();
      this.ticking = campaign.tick().finally(() => this.schedule());
    }, campaign.interval);
    this.timer.unref();
  }

  private elect(term: number): void {
    const controller = new AbortController();
    const leadership: Leadership = { role: this.options.role, memberId: this.options.memberId, term, signal: controller.signal };
    this.options.logger?.info({ role: this.options.role, term }, 'elected leader');
    const run = Promise.resolve()
      .then(() => this.options.onLead?.(leadership))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) this.options.logger?.error({ err, role: this.options.role }, 'leader loop failed');
      });
    this.current = { term, controller, run };
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
/**
 * The keys a bucket holds now, from one stream-info request. Not `KV.keys()`: it counts the keys
 * pending when it starts and ends on the last one's delivery, so a key that expires (these
 * buckets have a TTL) between the count and the delivery leaves it waiting for a consumer
 * heartbeat, long enough for a caller's request to time out on a busy machine. A key listed
 * here that expires before it is read reads as absent.
 */
async function keysOf(messaging: Messaging, name: string): Promise<string[]> {
  const bucket = messaging.ns.bucket(name);
  const prefix = `$KV.${bucket}.`;
  const jsm = await messaging.jsm();
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
}

export async function readLeadership(messaging: Messaging, ttlMs: number, replicas = 1): Promise<RoleLeadership[]> {
  const { leases, members } = await openBuckets(messaging, ttlMs, replicas);
  const roles = new Map<string, RoleLeadership>();
  const ensure = (role: string) => {
    let r = roles.get(role);
    if (!r) roles.set(role, (r = { role, leader: null, term: null, since: null, members: [] }));
    return r;
  };
  for (const key of await keysOf(messaging, MEMBERS_BUCKET)) {
    const e = await members.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const m = JSON.parse(dec.decode(e.value)) as { memberId: string; role: string };
    ensure(m.role).members.push(m.memberId);
  }
  for (const role of await keysOf(messaging, LEASES_BUCKET)) {
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
