import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Messaging } from '@flotilla/messaging';
import { createTestDatabase, createTestNamespace, eventually, type TestDatabase, type TestNamespace } from '@flotilla/testing';
import { Fence, FencedOutError } from './fence.js';
import { NotFoundError, RuleViolationError } from '@flotilla/domain';
import { handoverRole, LeaderElection, memberKeyOf, openBuckets, readLeadership, type Leadership } from './lease.js';

const TTL = 900;
/** Waits until `cond` holds and returns how long that took, in ms. */
const timeUntil = async (cond: () => boolean, timeoutMs: number, what: string) => {
  const start = Date.now();
  await eventually(cond, { timeoutMs, what });
  return Date.now() - start;
};

/**
 * A fresh NATS namespace for the enclosing describe block, and connections in it (all closed,
 * and the namespace's buckets deleted, after the block).
 */
function leaseConnections() {
  let ns: TestNamespace;
  const conns: Messaging[] = [];
  beforeAll(() => {
    ns = createTestNamespace();
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await ns.cleanup();
  });
  return {
    ns: () => ns,
    /** The first connection opened in this block. */
    first: () => conns[0]!,
    connect: async (name: string) => {
      const m = await Messaging.connect({ servers: [ns.natsUrl], namespace: ns.prefix, name, requestTimeoutMs: 1000 });
      conns.push(m);
      return m;
    },
  };
}

describe('leases in NATS KV', () => {
  const { connect, ...lease } = leaseConnections();

  it('elects exactly one leader and runs its loop only while it leads', async () => {
    const running = new Set<string>();
    const onLead = (l: Leadership) =>
      new Promise<void>((resolve) => {
        running.add(l.memberId);
        l.signal.addEventListener('abort', () => (running.delete(l.memberId), resolve()));
      });
    const a = new LeaderElection(await connect('a'), { role: 'relay', memberId: 'a', ttlMs: TTL, onLead });
    const b = new LeaderElection(await connect('b'), { role: 'relay', memberId: 'b', ttlMs: TTL, onLead });
    await Promise.all([a.start(), b.start()]);
    await eventually(() => a.isLeader || b.isLeader, { timeoutMs: 2000, what: 'a or b leads' });
    expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
    expect(running.size).toBe(1);
    const leader = a.isLeader ? a : b;
    const follower = leader === a ? b : a;
    const firstTerm = leader.term!;

    // A leader that stops cleanly hands over at once.
    await leader.stop();
    const took = await timeUntil(() => follower.isLeader, 2000, 'follower leads');
    expect(took).toBeLessThan(1000);
    expect(follower.term!).toBeGreaterThan(firstTerm);
    expect([...running]).toEqual([follower.memberId]);
    await follower.stop();
    expect(running.size).toBe(0);
  });

  it('replaces a leader that vanished without a word within 2 s', async () => {
    const conn = await connect('crash');
    const a = new LeaderElection(conn, { role: 'reconciler', memberId: 'a', ttlMs: TTL });
    await a.start();
    await eventually(() => a.isLeader, { timeoutMs: 2000, what: 'a leads' });
    const b = new LeaderElection(await connect('b2'), { role: 'reconciler', memberId: 'b', ttlMs: TTL });
    await b.start();
    expect(b.isLeader).toBe(false);
    // The leader's connection dies (as with kill -9): nobody deletes the key; it expires.
    await conn.nc.close();
    const took = await timeUntil(() => b.isLeader, 3000, 'b leads');
    expect(took).toBeLessThan(2000);
    await b.stop();
  });

  it('hands leadership to a named member and lists leaders and members', async () => {
    const a = new LeaderElection(await connect('ha'), { role: 'autoscaler', memberId: 'a', ttlMs: TTL });
    const b = new LeaderElection(await connect('hb'), { role: 'autoscaler', memberId: 'b', ttlMs: TTL });
    await a.start();
    await eventually(() => a.isLeader, { timeoutMs: 2000, what: 'a leads' });
    await b.start();
    const view = await readLeadership(lease.first(), TTL);
    const role = view.find((r) => r.role === 'autoscaler');
    expect(role?.leader).toBe('a');
    expect(role?.members).toEqual(['a', 'b']);
    expect(await a.handover('b')).toBe(true);
    await eventually(() => b.isLeader, { timeoutMs: 2000, what: 'b leads' });
    expect(a.isLeader).toBe(false);
    const after = (await readLeadership(lease.first(), TTL)).find((r) => r.role === 'autoscaler');
    expect(after?.leader).toBe('b');
    expect(after!.term!).toBeGreaterThan(role!.term!);
    await Promise.all([a.stop(), b.stop()]);
  });
});

describe('leases that hold under load and terms that only grow', () => {
  const { connect, ...lease } = leaseConnections();
  /** Keeps this thread busy, as a long synchronous batch or a GC pause would. */
  const blockEventLoop = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      /* busy */
    }
  };

  it('a leader whose event loop is blocked for longer than its lease keeps it when the lease is kept from a worker thread (finding: leases a busy event loop cannot renew)', async () => {
    // The follower campaigns from its own worker thread, so this thread's stall does not stop it.
    const inProcess = new LeaderElection(await connect('busy-a'), { role: 'busy-in-process', memberId: 'a', ttlMs: TTL });
    const follower1 = new LeaderElection(await connect('busy-b'), { role: 'busy-in-process', memberId: 'b', ttlMs: TTL, isolated: true });
    await inProcess.start();
    await eventually(() => inProcess.isLeader, { timeoutMs: 2000, what: 'inProcess leads' });
    await follower1.start();
    const elections = [inProcess, follower1];
    try {
      const firstTerm = inProcess.term!;
      blockEventLoop(3 * TTL);
      // Its lease ran out while its thread was stuck: it stands down as soon as the thread runs
      // again, and the role is led again under a newer term, by whichever member wins the free
      // key (the follower, which campaigned through the stall, or the old holder once more).
      await eventually(() => !inProcess.isLeader || inProcess.term !== firstTerm, { timeoutMs: 2000, what: 'inProcess stands down' });
      await eventually(() => elections.some((e) => e.isLeader && e.term! > firstTerm), { timeoutMs: 6000, what: 'the role led again under a newer term' });

      const isolated = new LeaderElection(await connect('busy-c'), { role: 'busy-isolated', memberId: 'c', ttlMs: TTL, isolated: true });
      const follower2 = new LeaderElection(await connect('busy-d'), { role: 'busy-isolated', memberId: 'd', ttlMs: TTL, isolated: true });
      elections.push(isolated, follower2);
      await isolated.start();
      await eventually(() => isolated.isLeader, { timeoutMs: 3000, what: 'isolated leads' });
      await follower2.start();
      const term = isolated.term;
      blockEventLoop(3 * TTL);
      await new Promise((r) => setTimeout(r, TTL));
      expect([isolated.isLeader, isolated.term, follower2.isLeader]).toEqual([true, term, false]);
    } finally {
      // Stopped even when an expectation failed, so no election outlives this test.
      await Promise.all(elections.map((e) => e.stop()));
    }
  }, 20_000);

  it('terms keep growing after the leases bucket is lost and created anew', async () => {
    let epochs = 0;
    const newEpoch = async () => ++epochs;
    const m = await connect('epochs');
    const first = new LeaderElection(m, { role: 'reconciler', memberId: 'a', ttlMs: TTL, newEpoch });
    await first.start();
    await eventually(() => first.isLeader, { timeoutMs: 2000, what: 'first leads' });
    const before = first.term!;
    await first.stop();
    // NATS loses its JetStream data (another cluster, a store restored): the bucket starts over.
    const jsm = await m.jsm();
    await jsm.streams.delete(`KV_${lease.ns().ns.bucket('flotilla_leases')}`);
    const second = new LeaderElection(m, { role: 'reconciler', memberId: 'b', ttlMs: TTL, newEpoch });
    await second.start();
    await eventually(() => second.isLeader, { timeoutMs: 2000, what: 'second leads' });
    expect(second.term!).toBeGreaterThan(before);
    await second.stop();
  });

  it('chaos: a leader whose buckets vanish under it (JetStream store wiped, PostgreSQL kept) stands down and the role is led again, under a higher term, without a restart', async () => {
    let epochs = 100;
    const newEpoch = async () => ++epochs;
    const m = await connect('wiped');
    const a = new LeaderElection(m, { role: 'failure-detector', memberId: 'a', ttlMs: TTL, newEpoch });
    await a.start();
    await eventually(() => a.isLeader, { timeoutMs: 2000, what: 'a leads' });
    const before = a.term!;
    const jsm = await m.jsm();
    for (const bucket of ['flotilla_leases', 'flotilla_members', 'flotilla_lease_epochs']) await jsm.streams.delete(`KV_${lease.ns().ns.bucket(bucket)}`);
    // The same process, the same bucket handles: they provision the buckets again and campaign on.
    await eventually(() => a.isLeader && a.term! > before, { timeoutMs: 5000, what: 'a leads under a term above the one before the wipe' });
    expect(Math.floor(a.term! / 2 ** 32)).toBeGreaterThan(Math.floor(before / 2 ** 32));
    const view = await readLeadership(m, TTL);
    expect(view.find((r) => r.role === 'failure-detector')?.leader).toBe('a');
    await a.stop();
  });
});

describe('handing a role over from any process', () => {
  const { connect } = leaseConnections();

  it('makes the holder stand down and the named member adopt the lease with a higher term', async () => {
    const led: string[] = [];
    const onLead = (l: Leadership) =>
      new Promise<void>((resolve) => {
        led.push(`${l.memberId}@${l.term}`);
        l.signal.addEventListener('abort', () => resolve());
      });
    const a = new LeaderElection(await connect('ha'), { role: 'failure-detector', memberId: 'registry-a', ttlMs: TTL, onLead });
    const b = new LeaderElection(await connect('hb'), { role: 'failure-detector', memberId: 'registry-b', ttlMs: TTL, onLead });
    const c = new LeaderElection(await connect('hc'), { role: 'failure-detector', memberId: 'registry-c', ttlMs: TTL, onLead });
    await a.start();
    await eventually(() => a.isLeader, { timeoutMs: 2000, what: 'a leads' });
    await Promise.all([b.start(), c.start()]);
    const firstTerm = a.term!;
    // A third connection that holds no lease at all (as a registry replica answering the API).
    const outsider = await connect('outsider');
    const written = await handoverRole(outsider, 'failure-detector', 'registry-c', { ttlMs: TTL });
    expect(written).toMatchObject({ holder: 'registry-a', handoverTo: 'registry-c' });
    const took = await timeUntil(() => c.isLeader && !a.isLeader, 3000, 'c leads, a no longer');
    expect(took).toBeLessThan(2000);
    expect(b.isLeader).toBe(false);
    expect(c.term!).toBeGreaterThan(firstTerm);
    const view = (await readLeadership(outsider, TTL)).find((r) => r.role === 'failure-detector');
    expect(view).toMatchObject({ leader: 'registry-c', term: c.term });
    expect(led).toEqual([`registry-a@${firstTerm}`, `registry-c@${c.term}`]);
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  });

  it('refuses an unknown member and a role nobody leads, with typed errors', async () => {
    const m = await connect('refusals');
    const a = new LeaderElection(m, { role: 'drain-completion', memberId: 'registry-a', ttlMs: TTL });
    await a.start();
    await eventually(() => a.isLeader, { timeoutMs: 2000, what: 'a leads' });
    const unknown = await handoverRole(m, 'drain-completion', 'nobody', { ttlMs: TTL }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(NotFoundError);
    await a.stop();
    // A member of a role whose lease nobody holds (written as a campaigning member would).
    const { members } = await openBuckets(m, TTL);
    await members.put(memberKeyOf('quiet-role', 'registry-b'), new TextEncoder().encode(JSON.stringify({ memberId: 'registry-b', role: 'quiet-role', at: new Date().toISOString() })));
    const leaderless = await handoverRole(m, 'quiet-role', 'registry-b', { ttlMs: TTL }).catch((e: unknown) => e);
    expect(leaderless).toBeInstanceOf(RuleViolationError);
    expect((leaderless as RuleViolationError).rule).toBe('role_has_no_leader');
  });
});

describe('fencing', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('fence');
    pool = new pg.Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it("refuses a deposed leader's late write once a newer term has written", async () => {
    const fence = new Fence(pool);
    await fence.ensureSchema();
    await fence.admit('registry', 10);
    await fence.admit('registry', 10);
    await fence.admit('registry', 14);
    const late = await fence.admit('registry', 10).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(FencedOutError);
    expect((late as FencedOutError).details).toMatchObject({ reason: 'fenced_out', term: 10, current_term: 14 });
    await fence.admit('other-role', 1);
  });
});
