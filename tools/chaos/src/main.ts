/**
 * npm run chaos: the whole stack under a mixed load while services die at random, NATS loses its
 * storage once, and a node dies for good; then a quiet settle period, and the checks.
 *
 *   npm run chaos -- [--duration 60] [--settle 45] [--seed 1234] [--kills 4] [--clusters 4]
 *
 * It runs on a nats-server and a PostgreSQL database of its own (never the machine's shared
 * NATS store): every service as its own process (libs/testing's startStack), three node agents
 * (two from the start, one joining), and a load of cluster commands and tasks. During the chaos
 * phase it SIGKILLs a random service or node agent a few times (restarting it after a short
 * pause), kills one node agent for good (its agents must move), and once SIGKILLs nats-server,
 * deletes its JetStream store and starts it again on the same port: PostgreSQL keeps the event
 * store, from which JetStream, leases and queues must be rebuilt or re-fed with nobody's help.
 *
 * Then it checks and prints, PASS or FAIL with figures (exit code 1 on any FAIL):
 *   (a) every command answered 2xx is in the log exactly once (events matched by idempotency key)
 *   (b) every read model equals a fresh rebuild from the log (into a scratch database)
 *   (c) every task accepted (202) completed or was dead-lettered, exactly once
 *   (d) every desired agent of every live cluster runs, on its node; none runs twice or astray
 *   (e) every event in PostgreSQL is in the FLOTILLA_EVENTS stream, once, in order
 *   (f) the system recovered by itself: it settled, every singleton role has a leader, and a task
 *       per cluster and a command submitted after the settle period succeed
 *
 * Randomness is seeded (printed; --seed or CHAOS_SEED replays the same schedule and load). It
 * cleans up what it started (processes, nats-server and its store, databases, temp dirs) on any
 * exit, Ctrl-C included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { registrySubjects, TASKS_DLQ_STREAM, taskSubjects } from '@flotilla/contracts';
import { createEventStore } from '@flotilla/eventstore';
import { ALL_PROJECTIONS, codecFor, createReadModelOrm, EVENTS_STREAM, migrateReadModels, POSITION_HEADER, rebuildProjection } from '@flotilla/projections';
import { api, createTestDatabase, echoBlueprint, HTTP_PORT_VARIABLE, startNatsServer, startService, startStack, type AppName, type PrivateNatsServer, type ServiceProcess, type Stack, type StackNode, type TestDatabase } from '@flotilla/testing';
import {
  checkAcknowledgedCommands,
  checkAgents,
  checkEventsInStream,
  checkReadModels,
  checkRecovery,
  checkTasks,
  renderReport,
  sampleDoubleRuns,
  type AckedCommand,
  type CheckResult,
  type ClusterAgents,
  type KeyedEvent,
  type NodeReport,
  type TableComparison,
  type TaskFate,
} from './checks.ts';
import { seeded, type Random } from './random.ts';

// -- options -------------------------------------------------------------------------------------

const { values: argv } = parseArgs({
  options: {
    duration: { type: 'string' },
    settle: { type: 'string' },
    seed: { type: 'string' },
    kills: { type: 'string' },
    clusters: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (argv.help) {
  process.stdout.write('npm run chaos -- [--duration <s>] [--settle <s>] [--seed <n>] [--kills <n>] [--clusters <n>]\n(env: CHAOS_DURATION_S, CHAOS_SETTLE_S, CHAOS_SEED, CHAOS_KILLS, CHAOS_CLUSTERS; see tools/chaos/README.md)\n');
  process.exit(0);
}
const num = (flag: string | undefined, env: string, fallback: number): number => {
  const v = Number(flag ?? process.env[env]);
  return Number.isFinite(v) && v >= 0 && (flag ?? process.env[env]) !== undefined ? v : fallback;
};
const DURATION_MS = num(argv.duration, 'CHAOS_DURATION_S', 60) * 1000;
const SETTLE_MS = num(argv.settle, 'CHAOS_SETTLE_S', 45) * 1000;
const SEED = Math.floor(num(argv.seed, 'CHAOS_SEED', Math.floor(Math.random() * 2 ** 31)));
const KILLS = Math.floor(num(argv.kills, 'CHAOS_KILLS', 4));
const CLUSTERS = Math.max(1, Math.floor(num(argv.clusters, 'CHAOS_CLUSTERS', 4)));
/** Past this the run gives up (and still cleans up). */
const HARD_LIMIT_MS = DURATION_MS + SETTLE_MS + 180_000;

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s`;
const log = (msg: string) => process.stderr.write(`[chaos ${stamp()}] ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const timeline: string[] = [];
const note = (msg: string) => {
  timeline.push(`${stamp()}  ${msg}`);
  log(msg);
};

/**
 * The echo cluster, plus a slow specialist (1.5 s a task) whose queue a burst fills right before
 * the NATS wipe: tasks queued and running when the store is lost, which the orchestrator's task
 * ledger must queue again, each to end exactly once.
 */
const SLOW_TASK_MS = 1500;
const BLUEPRINT = (() => {
  const bp = echoBlueprint('chaos-v1', 'Chaos cluster') as { agents: unknown[] };
  bp.agents.push({ name: 'slow', role: 'specialist', capabilities: ['slow'], runtime: { kind: 'builtin', handler: 'sleep', delayMs: SLOW_TASK_MS } });
  return bp;
})();
/** Slow tasks per stable cluster queued right before the wipe. */
const WIPE_BURST = 4;

const SERVICES = ['gateway', 'orchestrator', 'registry', 'autoscaler', 'metrics'] as const;
const NODES: readonly StackNode[] = [
  { id: 'chaos-node-1', zone: 'zone-a', env: { NODE_MAX_AGENTS: '100' } },
  { id: 'chaos-node-2', zone: 'zone-b', env: { NODE_MAX_AGENTS: '100' } },
  { id: 'chaos-node-3', zone: 'zone-c', env: { NODE_MAX_AGENTS: '100' } },
];

// -- what the run records --------------------------------------------------------------------------

const acked: AckedCommand[] = [];
let refusedCommands = 0;
let failedCommands = 0;
interface Accepted {
  readonly id: string;
  readonly clusterId: string;
  readonly at: number;
}
/** When NATS lost its store, and when it was back (0: not yet). */
let wipedAt = 0;
let natsBackAt = 0;
/** When each command was acknowledged (by key). */
const ackedAt = new Map<string, number>();
const accepted = new Map<string, Accepted>();
let refusedTasks = 0;
let failedTasks = 0;
const announced = new Map<string, { completedAttempts: number[]; timedCompletions: number; finalFailures: number }>();
const heartbeats = new Map<string, { at: number; report: NodeReport }>();
const doubleStreaks = new Map<string, number>();
const doubleRuns = new Map<string, string[]>();

// -- resources, cleaned up whatever happens ------------------------------------------------------------

let nats: PrivateNatsServer | undefined;
let stack: Stack | undefined;
let nc: NatsConnection | undefined;
let pool: pg.Pool | undefined;
let scratch: TestDatabase | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await nc?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    if (nats && !nats.running()) await nats.restart().catch(() => undefined);
    await stack?.stop().catch((err: unknown) => log(`stopping the stack: ${(err as Error).message}`));
    const logs = process.env['CHAOS_LOGS'];
    if (logs && stack) {
      // Every process's log lines, for a run that needs explaining (a restarted process's lines
      // replace those of the one it replaced; the earlier ones are in `killed`).
      fs.mkdirSync(logs, { recursive: true });
      for (const [label, proc] of stack.procs) fs.writeFileSync(path.join(logs, `${label}.log`), `${proc.lines.join('\n')}\n`);
      for (const [i, k] of killed.entries()) fs.writeFileSync(path.join(logs, `${k.label}.killed-${i + 1}.log`), `${k.lines.join('\n')}\n`);
      log(`logs in ${logs}`);
    }
    await scratch?.drop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything this run started`);
    void cleanup().finally(() => process.exit(130));
  });
}
const hardLimit = setTimeout(() => {
  log(`gave up after ${HARD_LIMIT_MS / 1000} s`);
  void cleanup().finally(() => process.exit(2));
}, HARD_LIMIT_MS);
hardLimit.unref();

// -- the stack -------------------------------------------------------------------------------------------

const down = new Set<string>();
const deadForGood = new Set<string>();
const restarts: Promise<void>[] = [];

function spawnAgain(label: string): ServiceProcess {
  const s = stack!;
  const node = NODES.find((n) => n.id === label);
  if (node) return s.startNode(node, label);
  const app = label as (typeof SERVICES)[number];
  const own: NodeJS.ProcessEnv = { [HTTP_PORT_VARIABLE[app]!]: String(s.ports[label]) };
  if (app === 'gateway') own['GATEWAY_GRPC_PORT'] = String(s.grpcPort);
  const proc = startService(app as AppName, { ...s.env, ...own }, label);
  s.procs.set(label, proc);
  return proc;
}

/** The processes killed so far (their log lines, for CHAOS_LOGS). */
const killed: { label: string; lines: string[] }[] = [];

async function kill(label: string): Promise<void> {
  const proc = stack!.procs.get(label);
  if (!proc || !proc.running) return;
  down.add(label);
  killed.push({ label, lines: proc.lines });
  proc.kill('SIGKILL');
  await proc.exited;
}

function restartLater(label: string, afterMs: number): void {
  restarts.push(
    (async () => {
      await sleep(afterMs);
      const proc = spawnAgain(label);
      try {
        await proc.waitFor(undefined, 60_000);
        note(`${label} is back`);
      } catch (err) {
        note(`${label} did not come back: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        down.delete(label);
      }
    })(),
  );
}

// -- the load ------------------------------------------------------------------------------------------

let stopLoad = false;
let commandSeq = 0;
let taskSeq = 0;
const REQUEST_TIMEOUT_MS = 20_000;

type Reply = Awaited<ReturnType<ReturnType<typeof api>>>;
async function call(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Reply> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      api(stack!.url)(method, path, body, headers),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A command as a careful client sends it: with an idempotency key, retried with the same key
 * while the answer is a failure that may or may not have been applied (network, 5xx).
 */
async function command(what: string, method: string, path: string, body: unknown): Promise<Reply | undefined> {
  const key = `cmd-${++commandSeq}`;
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      const r = await call(method, path, body, { 'idempotency-key': key, 'x-request-id': key });
      if (r.status >= 200 && r.status < 300) {
        const types = r.headers.get('flotilla-events');
        acked.push({ key, what, status: r.status, eventTypes: types ? types.split(',').filter(Boolean) : [], position: r.headers.get('flotilla-position') });
        ackedAt.set(key, Date.now());
        return r;
      }
      if (r.status < 500) {
        refusedCommands++;
        return r;
      }
    } catch {
      /* no answer: maybe applied, maybe not; the same key makes the retry safe */
    }
    if (stopLoad && attempt >= 2) break;
    await sleep(400 * attempt);
  }
  failedCommands++;
  return undefined;
}

async function submitTask(clusterId: string, n: number, capability?: string): Promise<void> {
  const key = `task-${n}`;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const r = await call('POST', `/api/clusters/${clusterId}/tasks`, { payload: { n }, idempotency_key: key, timeout_ms: 10_000, max_attempts: 3, ...(capability ? { capability } : {}) }, {});
      if (r.status === 202 || r.status === 200 || r.status === 201) {
        const id = String((r.body as { id: string }).id);
        if (!accepted.has(id)) accepted.set(id, { id, clusterId, at: Date.now() });
        return;
      }
      if (r.status < 500) {
        refusedTasks++;
        return;
      }
    } catch {
      /* retried with the same key */
    }
    if (stopLoad) break;
    await sleep(300 * attempt);
  }
  failedTasks++;
}

/** Clusters the load plays with: the first ones take tasks and are never decommissioned. */
const stable: string[] = [];
const extra = new Set<string>();

async function commandLoop(rng: Random): Promise<void> {
  let created = 0;
  while (!stopLoad) {
    await sleep(rng.int(250, 600));
    if (stopLoad) break;
    const roll = rng.next();
    const any = [...stable, ...extra];
    const id = rng.pick(any);
    if (roll < 0.35) await command('scale', 'POST', `/api/clusters/${id}/scale`, { target_workers: rng.int(1, 3) });
    else if (roll < 0.7) await command('update', 'PUT', `/api/clusters/${id}`, { description: `chaos ${commandSeq}` });
    else if (roll < 0.85) {
      if (extra.size >= 3) continue;
      const newId = `chaos-x${++created}`;
      const r = await command('create', 'POST', '/api/clusters', { id: newId, blueprint_id: 'chaos-v1', name: newId, target_workers: 1 });
      if (r && r.status < 300) extra.add(newId);
    } else {
      const victim = [...extra][0];
      if (!victim) continue;
      const r = await command('decommission', 'DELETE', `/api/clusters/${victim}`, undefined);
      if (r && r.status < 300) extra.delete(victim);
    }
  }
}

async function taskLoop(rng: Random): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  while (!stopLoad) {
    await sleep(rng.int(80, 220));
    if (stopLoad) break;
    const p = submitTask(rng.pick(stable), ++taskSeq).finally(() => inFlight.delete(p));
    inFlight.add(p);
    // Bounded: a dead gateway must not pile up thousands of pending submissions.
    if (inFlight.size >= 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

// -- the chaos schedule ------------------------------------------------------------------------------

type Action = { at: number; kind: 'kill'; downMs: number; target: string } | { at: number; kind: 'join'; node: string } | { at: number; kind: 'node-death' } | { at: number; kind: 'wipe'; downMs: number };

function schedule(rng: Random): Action[] {
  const d = DURATION_MS;
  const wipeAt = Math.round(d * 0.55);
  const deathAt = Math.round(d * 0.35);
  const actions: Action[] = [
    { at: Math.round(d * 0.15), kind: 'join', node: NODES[2]!.id },
    { at: deathAt, kind: 'node-death' },
    { at: wipeAt, kind: 'wipe', downMs: rng.int(500, 2000) },
  ];
  const targets = [...SERVICES, ...NODES.map((n) => n.id)];
  for (let i = 0; i < KILLS; i++) {
    let at = 0;
    for (let tries = 0; tries < 20; tries++) {
      at = Math.round(d * (0.08 + 0.84 * rng.next()));
      if (Math.abs(at - wipeAt) > 4000 && Math.abs(at - deathAt) > 2000) break;
    }
    actions.push({ at, kind: 'kill', downMs: rng.int(500, 3000), target: rng.pick(targets) });
  }
  return actions.sort((a, b) => a.at - b.at);
}

async function runSchedule(actions: readonly Action[], rng: Random, started: number): Promise<void> {
  for (const a of actions) {
    const wait = started + a.at - Date.now();
    if (wait > 0) await sleep(wait);
    switch (a.kind) {
      case 'join':
        note(`node ${a.node} joins`);
        stack!.startNode(NODES.find((n) => n.id === a.node)!);
        break;
      case 'node-death': {
        const candidates = NODES.map((n) => n.id).filter((id) => stack!.procs.get(id)?.running && !down.has(id));
        if (candidates.length < 2) break;
        const victim = rng.pick(candidates);
        deadForGood.add(victim);
        await kill(victim);
        note(`SIGKILL node agent ${victim}, for good (its agents must move)`);
        break;
      }
      case 'wipe': {
        const before = accepted.size;
        await Promise.all(stable.flatMap((c) => Array.from({ length: WIPE_BURST }, () => submitTask(c, ++taskSeq, 'slow'))));
        note(`${accepted.size - before} slow tasks (${SLOW_TASK_MS} ms each) queued right before the wipe`);
        await nats!.kill('SIGKILL');
        wipedAt = Date.now();
        nats!.wipe();
        note(`SIGKILL nats-server and delete its JetStream store (${nats!.storeDir}); back in ${a.downMs} ms`);
        await sleep(a.downMs);
        await nats!.restart();
        natsBackAt = Date.now();
        note('nats-server restarted with an empty store');
        break;
      }
      case 'kill': {
        let target = a.target;
        // A node already dead for good, or a process still down from an earlier kill: another service instead.
        if (deadForGood.has(target) || down.has(target) || !stack!.procs.get(target)) target = rng.pick(SERVICES.filter((s) => !down.has(s)));
        if (!target || down.has(target)) break;
        await kill(target);
        note(`SIGKILL ${target}; restart in ${a.downMs} ms`);
        restartLater(target, a.downMs);
        break;
      }
    }
  }
}

// -- reading back ----------------------------------------------------------------------------------------

async function jsm(): Promise<JetStreamManager> {
  return jetstreamManager(nc!);
}

async function head(): Promise<bigint> {
  const { rows } = await pool!.query<{ p: string | null }>('SELECT max(position)::text AS p FROM eventstore.events');
  return BigInt(rows[0]!.p ?? '0');
}

/**
 * Projections whose checkpoint is behind the last event they handle. (A projector that reads only
 * its own streams, as the registry's does, leaves its checkpoint at the last of those.)
 */
async function projectionsBehind(): Promise<string[]> {
  const { rows } = await pool!.query<{ name: string; position: string }>('SELECT name, position::text FROM projection_checkpoints');
  const behind: string[] = [];
  for (const p of ALL_PROJECTIONS) {
    const checkpoint = rows.find((r) => r.name === p.name)?.position ?? '0';
    // The events after its checkpoint that it would apply (its types, its streams).
    const { rows: after } = await pool!.query<{ type: string; stream_id: string; data: Record<string, unknown>; metadata: Record<string, unknown>; position: string; revision: string; id: string }>(
      'SELECT id::text, type, stream_id, data, metadata, position::text, revision::text FROM eventstore.events WHERE position > $1 ORDER BY position LIMIT 2000',
      [checkpoint],
    );
    const pending = after.some((e) => {
      if (!p.handles.has(e.type)) return false;
      const stored = { id: e.id, type: e.type, streamId: e.stream_id, revision: BigInt(e.revision), position: BigInt(e.position), occurredAt: new Date(), data: e.data, metadata: e.metadata } as unknown as Parameters<typeof p.keyOf>[0];
      return p.keyOf(stored) !== null;
    });
    if (pending) behind.push(p.name);
  }
  return behind;
}

async function streamTail(): Promise<bigint | null> {
  try {
    const m = await jsm();
    const name = stack!.ns.ns.stream(EVENTS_STREAM);
    const info = await m.streams.info(name);
    if (info.state.messages === 0) return 0n;
    const msg = await m.streams.getMessage(name, { seq: info.state.last_seq });
    const p = msg?.header.get(POSITION_HEADER);
    return p ? BigInt(p) : null;
  } catch {
    return null;
  }
}

interface ClusterListItem {
  id: string;
  status: string;
  desired_agents: number;
  running_agents: number;
}

async function clusters(): Promise<ClusterListItem[]> {
  const r = await call('GET', '/api/clusters?limit=1000', undefined, {});
  if (r.status !== 200) throw new Error(`GET /api/clusters: ${r.status}`);
  return (r.body as { clusters: ClusterListItem[] }).clusters;
}

/** Why the system has not settled yet (empty when it has). */
async function unsettled(): Promise<string[]> {
  const why: string[] = [];
  for (const [label, proc] of stack!.procs) if (!proc.running && !deadForGood.has(label)) why.push(`${label} down`);
  try {
    const h = await head();
    const behind = await projectionsBehind();
    if (behind.length) why.push(`read models behind the log: ${behind.join(', ')}`);
    const tail = await streamTail();
    if (tail === null || tail < h) why.push(`FLOTILLA_EVENTS at ${tail ?? 'unknown'}, log at ${h}`);
  } catch (err) {
    why.push(`reading the log: ${(err as Error).message}`);
  }
  try {
    const list = await clusters();
    for (const c of list) {
      if (c.status === 'decommissioned') continue;
      if (c.status !== 'active' || c.running_agents !== c.desired_agents) why.push(`${c.id} ${c.status} ${c.running_agents}/${c.desired_agents}`);
    }
  } catch (err) {
    why.push(`clusters: ${(err as Error).message}`);
  }
  const open = [...accepted.keys()].filter((id) => !ended(id));
  if (open.length) {
    // Announcements are at most once: ask the records of those not heard of yet.
    for (const id of open.slice(0, 40)) {
      const r = await call('GET', `/api/tasks/${id}`, undefined, {}).catch(() => undefined);
      const status = (r?.body as { status?: string } | undefined)?.status;
      if (r?.status === 200 && (status === 'completed' || status === 'dead_lettered' || status === 'failed')) settledTasks.add(id);
    }
    const still = open.filter((id) => !ended(id)).length;
    if (still) why.push(`${still} tasks without an outcome yet`);
  }
  return why;
}
const settledTasks = new Set<string>();
const ended = (id: string) => settledTasks.has(id) || (announced.get(id)?.completedAttempts.length ?? 0) > 0 || (announced.get(id)?.finalFailures ?? 0) > 0;

async function checkCommands(): Promise<CheckResult> {
  const { rows } = await pool!.query<{ key: string; stream_id: string; revision: string; type: string; position: string }>(
    `SELECT metadata->>'idempotencyKey' AS key, stream_id, revision::text, type, position::text FROM eventstore.events WHERE metadata->>'idempotencyKey' LIKE 'cmd-%'`,
  );
  const logged: KeyedEvent[] = rows.map((r) => ({ key: r.key, streamId: r.stream_id, revision: Number(r.revision), type: r.type, position: r.position }));
  return checkAcknowledgedCommands(acked, logged);
}

async function checkRebuild(db: TestDatabase): Promise<CheckResult> {
  scratch = await createTestDatabase('chaos_rebuild');
  const orm = await createReadModelOrm({ url: scratch.url, poolSize: 2 });
  const scratchPool = new pg.Pool({ connectionString: scratch.url, max: 2 });
  const store = await createEventStore({ kind: 'postgres', url: db.url, poolSize: 2 });
  try {
    await migrateReadModels(orm, scratch.url);
    const tables: TableComparison[] = [];
    for (const projection of ALL_PROJECTIONS) {
      const table = codecFor(orm, projection).table;
      const q = `SELECT to_jsonb(t)::text AS r FROM ${table} t`;
      // The system keeps running: compare only when no event arrived between the rebuild and the
      // reads, and once the live read model has caught up with what was rebuilt.
      for (let attempt = 1; ; attempt++) {
        const before = await head();
        await rebuildProjection({ pool: scratchPool, orm, store }, projection);
        const until = Date.now() + 10_000;
        while (Date.now() < until && (await projectionsBehind()).includes(projection.name)) await sleep(200);
        const [live, rebuilt] = await Promise.all([pool!.query<{ r: string }>(q), scratchPool.query<{ r: string }>(q)]);
        if ((await head()) === before || attempt >= 3) {
          tables.push({ table, live: live.rows.map((x) => x.r), rebuilt: rebuilt.rows.map((x) => x.r) });
          break;
        }
      }
    }
    return checkReadModels(tables);
  } finally {
    await store.close().catch(() => undefined);
    await orm.close().catch(() => undefined);
    await scratchPool.end().catch(() => undefined);
  }
}

async function deadLettersByTask(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const info = await (await jsm()).streams.info(stack!.ns.ns.stream(TASKS_DLQ_STREAM), { subjects_filter: '>' });
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
      const id = subject.split('.').at(-1)!;
      out.set(id, (out.get(id) ?? 0) + n);
    }
  } catch {
    /* no dead-letter stream: none */
  }
  return out;
}

async function checkTaskFates(): Promise<CheckResult> {
  const dead = await deadLettersByTask();
  const fates: TaskFate[] = [];
  const ids = [...accepted.keys()];
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(
      ids.slice(i, i + 16).map(async (id) => {
        const r = await call('GET', `/api/tasks/${id}`, undefined, {}).catch(() => undefined);
        const status = r?.status === 200 ? String((r.body as { status: string }).status) : null;
        const a = announced.get(id);
        const beforeWipe = wipedAt > 0 && accepted.get(id)!.at < wipedAt;
        fates.push({ id, recordStatus: status, completedAttempts: a?.completedAttempts ?? [], timedCompletions: a?.timedCompletions ?? 0, finalFailures: a?.finalFailures ?? 0, deadLetters: dead.get(id) ?? 0, beforeWipe });
      }),
    );
  }
  return checkTasks(fates);
}

async function checkAgentPlacement(): Promise<CheckResult> {
  const list = await clusters();
  const out: ClusterAgents[] = [];
  for (const c of list) {
    const r = await call('GET', `/api/clusters/${c.id}/agents`, undefined, {});
    const agents = ((r.body as { agents?: { id: string; state: string; node_id: string | null }[] }).agents ?? []).map((a) => ({ id: a.id, state: a.state, nodeId: a.node_id }));
    out.push({ id: c.id, status: c.status, desired: c.desired_agents, agents });
  }
  // The nodes alive now: a heartbeat within the last three seconds.
  await sleep(1500);
  const recent = [...heartbeats.values()].filter((h) => Date.now() - h.at < 3000).map((h) => h.report);
  return checkAgents(out, recent, doubleRuns);
}

/** After the settle period: leaders, one task per initial cluster, one command. */
async function checkRecovered(settled: boolean, why: readonly string[]): Promise<CheckResult> {
  const leader = await call('GET', '/api/cluster/leader', undefined, {}).catch(() => undefined);
  const roles = leader?.status === 200 ? ((leader.body as { roles: { role: string; leader: string | null; members: string[] }[] }).roles ?? []) : [];
  const tasks = await Promise.all(
    stable.map(async (clusterId) => {
      const r = await call('POST', `/api/clusters/${clusterId}/tasks`, { payload: { probe: true } }, {}).catch(() => undefined);
      if (!r || r.status !== 202) return { clusterId, status: `not accepted (${r?.status ?? 'no answer'})` };
      const id = String((r.body as { id: string }).id);
      const until = Date.now() + 20_000;
      let status = 'queued';
      while (Date.now() < until) {
        const g = await call('GET', `/api/tasks/${id}`, undefined, {}).catch(() => undefined);
        status = g?.status === 200 ? String((g.body as { status: string }).status) : `record unreadable (${g?.status ?? 'no answer'})`;
        if (status === 'completed' || status === 'dead_lettered' || status === 'failed') break;
        await sleep(250);
      }
      return { clusterId, status };
    }),
  );
  const probe = await command('probe update', 'PUT', `/api/clusters/${stable[0]}`, { description: 'chaos probe after settling' });
  return checkRecovery({
    settled,
    unsettled: why,
    roles,
    tasks,
    commandStatus: probe?.status ?? 0,
    afterWipe: {
      tasks: natsBackAt ? [...accepted.values()].filter((t) => t.at > natsBackAt).length : 0,
      commands: natsBackAt ? [...ackedAt.values()].filter((at) => at > natsBackAt).length : 0,
    },
  });
}

async function checkStream(): Promise<CheckResult> {
  // The log as of now; the relay is given a few seconds to publish up to it. Messages of events
  // appended after this moment are left out of the comparison.
  const h = await head();
  const until = Date.now() + 10_000;
  while (Date.now() < until && ((await streamTail()) ?? -1n) < h) await sleep(250);
  const { rows } = await pool!.query<{ id: string; position: string }>('SELECT id::text, position::text FROM eventstore.events WHERE position <= $1 ORDER BY position', [h.toString()]);
  const m = await jsm();
  const name = stack!.ns.ns.stream(EVENTS_STREAM);
  const inStream: { id: string; seq: number; position: string | null }[] = [];
  const info = await m.streams.info(name).catch(() => undefined);
  if (info && info.state.messages > 0) {
    const seqs: number[] = [];
    for (let s = info.state.first_seq; s <= info.state.last_seq; s++) seqs.push(s);
    for (let i = 0; i < seqs.length; i += 100) {
      const got = await Promise.all(seqs.slice(i, i + 100).map((seq) => m.streams.getMessage(name, { seq }).catch(() => null)));
      for (const msg of got) {
        if (!msg) continue;
        const id = msg.header.get('Nats-Msg-Id') || String((msg.json<{ id: string }>()).id);
        const position = msg.header.get(POSITION_HEADER) || null;
        if (position !== null && BigInt(position) > h) continue;
        inStream.push({ id, seq: msg.seq, position });
      }
    }
  }
  return checkEventsInStream(rows, inStream);
}

// -- the run --------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const rng = seeded(SEED);
  const loadRng = seeded(SEED + 1);
  const taskRng = seeded(SEED + 2);
  log(`seed ${SEED} (replay: npm run chaos -- --seed ${SEED}); chaos ${DURATION_MS / 1000} s, settle up to ${SETTLE_MS / 1000} s, ${KILLS} kills, ${CLUSTERS} clusters`);
  nats = await startNatsServer();
  log(`nats-server of its own on ${nats.url} (store ${nats.storeDir})`);
  stack = await startStack({
    label: 'chaos',
    natsUrls: [nats.url],
    nodes: NODES.slice(0, 2),
    env: {
      RATE_LIMIT_RPS: '100000',
      RATE_LIMIT_BURST: '100000',
      TENANT_MAX_TASKS_PER_SECOND: '100000',
      TENANT_MAX_AGENTS: '100000',
      TENANT_MAX_CLUSTERS: '100000',
      // A task held by a killed node agent goes to another within seconds, not 30.
      TASK_ACK_WAIT_MS: '6000',
      SHUTDOWN_GRACE_MS: '3000',
    },
  });
  log(`stack up: ${stack.url}, database ${stack.db.name}, namespace ${stack.ns.prefix}`);
  pool = new pg.Pool({ connectionString: stack.db.url, max: 4 });
  nc = await connect({ servers: nats.url, name: 'chaos-observer', reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const ns = stack.ns.ns;
  nc.subscribe(ns.subject(taskSubjects.results), {
    callback: (_err, m) => {
      const o = m.json<{ task_id: string; outcome: string; final: boolean; attempt: number; latency_ms: number }>();
      if (!o.final) return;
      let a = announced.get(o.task_id);
      if (!a) announced.set(o.task_id, (a = { completedAttempts: [], timedCompletions: 0, finalFailures: 0 }));
      if (o.outcome === 'completed') {
        a.completedAttempts.push(o.attempt);
        if (o.latency_ms > 0) a.timedCompletions++;
      } else a.finalFailures++;
    },
  });
  nc.subscribe(ns.subject(registrySubjects.heartbeat('*')), {
    callback: (_err, m) => {
      const h = m.json<{ node_id: string; agents?: { agent_id: string; cluster_id: string; state: string }[] }>();
      heartbeats.set(h.node_id, { at: Date.now(), report: { nodeId: h.node_id, agents: (h.agents ?? []).map((a) => ({ agentId: a.agent_id, clusterId: a.cluster_id, state: a.state })) } });
    },
  });

  // -- set-up: a blueprint and the stable clusters, all of them acknowledged commands too
  const bp = await command('register blueprint', 'POST', '/api/blueprints?wait=true', BLUEPRINT);
  if (!bp || bp.status >= 300) throw new Error(`registering the blueprint: ${bp?.status} ${JSON.stringify(bp?.body)}`);
  for (let i = 1; i <= CLUSTERS; i++) {
    const id = `chaos-c${i}`;
    const r = await command('create', 'POST', '/api/clusters?wait=true', { id, blueprint_id: 'chaos-v1', name: id });
    if (!r || r.status >= 300) throw new Error(`creating ${id}: ${r?.status} ${JSON.stringify(r?.body)}`);
    stable.push(id);
  }
  const readyBy = Date.now() + 60_000;
  while (Date.now() < readyBy) {
    const list = await clusters().catch(() => []);
    if (list.length >= CLUSTERS && list.every((c) => c.status === 'active' && c.running_agents === c.desired_agents)) break;
    await sleep(500);
  }
  log(`${CLUSTERS} clusters active; chaos for ${DURATION_MS / 1000} s`);

  // -- chaos
  const chaosStarted = Date.now();
  const actions = schedule(rng);
  const doubleSampler = setInterval(() => {
    const fresh = [...heartbeats.values()].filter((h) => Date.now() - h.at < 1500).map((h) => h.report);
    sampleDoubleRuns(fresh, doubleStreaks, doubleRuns);
  }, 1000);
  const loads = [commandLoop(loadRng), taskLoop(taskRng)];
  const progress = setInterval(() => log(`load: ${acked.length} commands acknowledged (${refusedCommands} refused, ${failedCommands} unanswered), ${accepted.size} tasks accepted (${refusedTasks} refused, ${failedTasks} unanswered), ${[...announced.values()].filter((a) => a.completedAttempts.length).length} completions heard`), 10_000);
  try {
    await runSchedule(actions, rng, chaosStarted);
    const left = chaosStarted + DURATION_MS - Date.now();
    if (left > 0) await sleep(left);
  } finally {
    stopLoad = true;
    clearInterval(progress);
  }
  await Promise.all(loads);
  await Promise.all(restarts);
  note(`load stopped: ${acked.length} commands acknowledged, ${accepted.size} tasks accepted; settling`);

  // -- settle
  const settleStarted = Date.now();
  let why: string[] = ['not looked yet'];
  let lastLog = 0;
  let stuckTasks = { count: -1, since: 0 };
  while (Date.now() - settleStarted < SETTLE_MS) {
    why = await unsettled();
    if (why.length === 0) break;
    // Only tasks without an outcome are left, and their number has not moved for 10 s: more
    // waiting will not change the verdict.
    const open = /^(\d+) tasks without an outcome yet$/.exec(why.length === 1 ? why[0]! : '');
    if (open) {
      const n = Number(open[1]);
      if (n !== stuckTasks.count) stuckTasks = { count: n, since: Date.now() };
      else if (Date.now() - stuckTasks.since >= 10_000) {
        note(`${n} tasks still without an outcome after 10 s of calm; checking`);
        break;
      }
    }
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`settling: ${why.slice(0, 6).join('; ')}${why.length > 6 ? ` (+${why.length - 6})` : ''}`);
    }
    await sleep(1000);
  }
  clearInterval(doubleSampler);
  const settleSeconds = (Date.now() - settleStarted) / 1000;
  note(why.length === 0 ? `settled after ${settleSeconds.toFixed(1)} s` : `not settled after ${settleSeconds.toFixed(1)} s: ${why.slice(0, 6).join('; ')}`);

  // -- checks
  const results: CheckResult[] = [];
  const run = async (name: string, check: () => Promise<CheckResult>) => {
    try {
      results.push(await check());
    } catch (err) {
      results.push({ name, pass: false, figures: `the check itself failed: ${(err as Error).message}`, problems: [] });
    }
  };
  // The probes first: their command is then checked with the others.
  await run('the system recovered by itself', () => checkRecovered(why.length === 0, why));
  await run('acknowledged commands in the log exactly once', checkCommands);
  await run('read models equal a fresh rebuild', () => checkRebuild(stack!.db));
  await run('accepted tasks completed or dead-lettered exactly once', checkTaskFates);
  await run('no agent lost or running twice', checkAgentPlacement);
  await run('no event missing from JetStream', checkStream);

  const leaderChanges = [...[...stack.procs.values()].map((p) => p.lines), ...killed.map((k) => k.lines)].reduce((n, lines) => n + lines.filter((l) => l.includes('"msg":"no longer leader"')).length, 0);
  const out = [
    '',
    `chaos run, seed ${SEED}: ${DURATION_MS / 1000} s of chaos, settled ${why.length === 0 ? `in ${settleSeconds.toFixed(1)} s` : `NOT within ${SETTLE_MS / 1000} s`}, ${((Date.now() - t0) / 1000).toFixed(0)} s in all`,
    ...timeline.map((l) => `  ${l}`),
    `load: ${acked.length} commands acknowledged, ${refusedCommands} refused (4xx), ${failedCommands} never answered; ${accepted.size} tasks accepted, ${refusedTasks} refused, ${failedTasks} never answered; ${leaderChanges} leadership losses logged`,
    '',
    renderReport(results),
    '',
  ];
  process.stdout.write(out.join('\n'));
  const failed = results.filter((r) => !r.pass).length;
  process.stdout.write(failed ? `${failed} of ${results.length} checks FAILED (replay: npm run chaos -- --seed ${SEED})\n` : `all ${results.length} checks passed\n`);
  return failed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`the run failed: ${(err as Error).stack ?? String(err)}`);
  for (const [label, proc] of stack?.procs ?? []) if (!proc.running || process.env['CHAOS_TAILS']) log(`${label} (last lines):\n${proc.tail(15)}`);
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
