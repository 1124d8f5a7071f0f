import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { api, eventually, startStack, type Stack } from '@flotilla/testing';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { loadFlotillaProto } from '@flotilla/gateway/routes';

/**
 * Crash windows and unbounded resources, through the running system: a gateway, an orchestrator and a
 * registry as processes on real NATS and PostgreSQL (no node agents: tasks stay queued).
 */

const BLUEPRINT = (id: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: ${id}, name: ${id}, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 0, maxWorkers: 2 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: { type: string; position: string; metadata: { tenantId: string }; aggregate_id: string };
}

/** A server-sent event stream read with fetch. */
class Sse {
  readonly events: SseEvent[] = [];
  private constructor(private readonly controller: AbortController) {}

  static async open(url: string, key: string, lastEventId?: string): Promise<{ status: number; headers: Headers; body: string; sse?: Sse }> {
    const controller = new AbortController();
    const res = await fetch(`${url}/api/events/stream`, { headers: { 'x-api-key': key, ...(lastEventId !== undefined ? { 'last-event-id': lastEventId } : {}) }, signal: controller.signal });
    if (res.status !== 200) return { status: res.status, headers: res.headers, body: await res.text() };
    const sse = new Sse(controller);
    void sse.read(res.body!.getReader());
    return { status: 200, headers: res.headers, body: '', sse };
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, cut);
          text = text.slice(cut + 2);
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
          const data = field('data');
          if (data && field('event') !== 'error') this.events.push({ id: field('id') ?? '', event: field('event') ?? '', data: JSON.parse(data) });
        }
      }
    } catch {
      /* closed */
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/** A command answered as stored: 201, or 202 when the read models were slower than the wait. */
const stored = (status: number) => expect([201, 202]).toContain(status);

describe('crash windows and unbounded resources (every service a process)', () => {
  let stack: Stack;
  let nc: NatsConnection;
  const keys: Record<'acme' | 'beta', string> = { acme: '', beta: '' };

  beforeAll(async () => {
    stack = await startStack({
      label: 'crashwin',
      apps: ['orchestrator', 'registry', 'gateway'],
      env: {
        READ_YOUR_WRITES_TIMEOUT_MS: '3000',
        EVENT_WATCHERS_PER_CALLER: '2',
        TENANT_MAX_QUEUED_TASKS: '3',
        AUTH_FAILURE_LIMIT: '5',
        AUTH_FAILURE_WINDOW_S: '60',
      },
    });
    nc = await connect({ servers: stack.ns.natsUrl });
    for (const tenant of ['acme', 'beta'] as const) {
      const r = await stack.call('POST', '/api/admin/keys', { tenant_id: tenant, role: 'admin', name: `${tenant}-admin` });
      expect(r.status).toBe(201);
      keys[tenant] = r.body.secret;
    }
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  it('?wait=true answers 202 Accepted with its position when the read models lag, never 503; a retry is not needed and the write shows once they catch up', async () => {
    const acme = api(stack.url, keys.acme);
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    try {
      // Hold the projector: it cannot write the blueprint's row (nor move its checkpoint).
      await db.query('BEGIN');
      await db.query('LOCK TABLE cluster_blueprints IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const r = await acme('POST', '/api/blueprints?wait=true', BLUEPRINT('rw-lag'));
      expect(r.status).toBe(202);
      expect(r.headers.get('flotilla-read-models')).toBe('behind');
      expect(r.headers.get('flotilla-position')).toMatch(/^\d+$/);
      expect(r.body).toMatchObject({ id: 'rw-lag' });
      expect(Date.now() - started).toBeLessThan(10_000);
      // Another command stuck behind the same projector: also a success, not an error.
      const cluster = await acme('POST', '/api/clusters?wait=true', { blueprint_id: 'rw-lag', name: 'lagging', cluster_id: 'rw-lag-1' });
      expect(cluster.status).toBe(202);
      expect(cluster.body).toMatchObject({ id: 'rw-lag-1' });
    } finally {
      await db.query('COMMIT').catch(() => undefined);
      await db.end();
    }
    await eventually(async () => (await acme('GET', '/api/blueprints/rw-lag')).status === 200, { timeoutMs: 15_000, intervalMs: 100, what: 'the blueprint in the read model' });
    // With the projector free, the same kind of command is read-your-writes again.
    const fresh = await acme('POST', '/api/blueprints?wait=true', BLUEPRINT('rw-fresh'));
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get('flotilla-read-models')).toBeNull();
  });

  it('a one-tenant watcher reads only its tenant’s events: history from a tenant-filtered query, live from its tenant subject, no consumer on the shared events stream', async () => {
    stored((await api(stack.url, keys.acme)('POST', '/api/blueprints?wait=true', BLUEPRINT('acme-hist'))).status);
    stored((await api(stack.url, keys.beta)('POST', '/api/blueprints?wait=true', BLUEPRINT('beta-hist'))).status);
    const jsm = await jetstreamManager(nc);
    const stream = stack.ns.ns.stream('FLOTILLA_EVENTS');
    const consumers = async () => (await jsm.consumers.list(stream).next()).length;
    const before = await consumers();

    const opened = await Sse.open(stack.url, keys.acme, '0');
    expect(opened.status).toBe(200);
    const sse = opened.sse!;
    try {
      await eventually(() => sse.events.some((e) => e.data.aggregate_id === 'acme-hist'), { timeoutMs: 20_000, intervalMs: 100, what: "acme's history" });
      expect(await consumers()).toBe(before);
      stored((await api(stack.url, keys.acme)('POST', '/api/blueprints?wait=true', BLUEPRINT('acme-live'))).status);
      stored((await api(stack.url, keys.beta)('POST', '/api/blueprints?wait=true', BLUEPRINT('beta-live'))).status);
      await eventually(() => sse.events.some((e) => e.data.aggregate_id === 'acme-live'), { timeoutMs: 20_000, intervalMs: 100, what: "acme's live event" });
      await new Promise((r) => setTimeout(r, 500));
      expect(sse.events.length).toBeGreaterThan(0);
      expect(sse.events.every((e) => e.data.metadata.tenantId === 'acme')).toBe(true);
      const positions = sse.events.map((e) => BigInt(e.id));
      expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
      // Every acme event of the log up to the last one received, replayed then live, each once and
      // in order: the audit trail (the same read model, which may lag the live feed) agrees.
      const last = BigInt(sse.events.at(-1)!.id);
      const logged = await eventually(async () => {
        const audit = await api(stack.url, keys.acme)('GET', '/api/audit?limit=5000');
        const positions = (audit.body.events as { position: string }[]).map((e) => e.position);
        return positions.some((p) => BigInt(p) >= last) && positions.filter((p) => BigInt(p) <= last);
      }, { timeoutMs: 10_000, intervalMs: 100, what: 'the audit trail up to the last event received' });
      expect(sse.events.map((e) => e.id)).toEqual(logged);
    } finally {
      sse.close();
    }

    // The platform watcher (every tenant) does read the shared stream: the check above can fail.
    const platform = await Sse.open(stack.url, stack.env['FLOTILLA_BOOTSTRAP_ADMIN_KEY']!);
    try {
      await eventually(async () => (await consumers()) === before + 1, { timeoutMs: 5_000, intervalMs: 100, what: 'a consumer for the platform watcher' });
    } finally {
      platform.sse?.close();
    }
  });

  it('watchers are capped per caller (EVENT_WATCHERS_PER_CALLER): beyond, SSE answers 429 with Retry-After and gRPC WatchEvents RESOURCE_EXHAUSTED; closing one frees its slot', async () => {
    const first = await Sse.open(stack.url, keys.beta);
    const second = await Sse.open(stack.url, keys.beta);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await Sse.open(stack.url, keys.beta);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(third.body)).toMatchObject({ error: { code: 'rate_limited', details: { reason: 'too_many_watchers_per_caller' } } });

    const pkg = loadFlotillaProto() as unknown as { flotilla: { v1: Record<string, grpc.ServiceClientConstructor> } };
    const client = new pkg.flotilla.v1['EventService']!(`127.0.0.1:${stack.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      WatchEvents(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<unknown>;
    };
    const md = new grpc.Metadata();
    md.set('x-api-key', keys.beta);
    const code = await new Promise<number>((resolve) => {
      const call = client.WatchEvents({}, md);
      call.on('error', (err: grpc.ServiceError) => resolve(err.code));
      call.on('data', () => undefined);
      call.on('end', () => resolve(grpc.status.OK));
    });
    expect(code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Another caller is not affected.
    const other = await Sse.open(stack.url, keys.acme);
    expect(other.status).toBe(200);
    other.sse?.close();

    first.sse!.close();
    const again = await eventually(async () => {
      const r = await Sse.open(stack.url, keys.beta);
      if (r.status === 200) return r;
      return undefined;
    }, { timeoutMs: 5_000, intervalMs: 100, what: 'a slot freed by closing a stream' });
    again.sse!.close();
    second.sse!.close();
    client.close();
  });

  it('through REST: a repeated Idempotency-Key answers the one queued task; beyond TENANT_MAX_QUEUED_TASKS a tenant gets 429 while another is accepted', async () => {
    const acme = api(stack.url, keys.acme);
    const beta = api(stack.url, keys.beta);
    stored((await acme('POST', '/api/blueprints?wait=true', BLUEPRINT('q-acme'))).status);
    stored((await beta('POST', '/api/blueprints?wait=true', BLUEPRINT('q-beta'))).status);
    stored((await acme('POST', '/api/clusters?wait=true', { blueprint_id: 'q-acme', name: 'qa', cluster_id: 'q-acme-1' })).status);
    stored((await beta('POST', '/api/clusters?wait=true', { blueprint_id: 'q-beta', name: 'qb', cluster_id: 'q-beta-1' })).status);

    const once = await acme('POST', '/api/clusters/q-acme-1/tasks', { payload: { n: 1 } }, { 'idempotency-key': 'order-1' });
    const twice = await acme('POST', '/api/clusters/q-acme-1/tasks', { payload: { n: 1 } }, { 'idempotency-key': 'order-1' });
    expect(once.status).toBeLessThan(300);
    expect(twice.body.id).toBe(once.body.id);
    expect(once.body).toMatchObject({ status: 'queued' });
    expect(once.body).not.toHaveProperty('queue_seq');
    for (let i = 2; i <= 3; i++) expect((await acme('POST', '/api/clusters/q-acme-1/tasks', { payload: { n: i } })).status).toBeLessThan(300);
    const refused = await eventually(async () => {
      const r = await acme('POST', '/api/clusters/q-acme-1/tasks', { payload: { n: 4 } });
      return r.status === 429 ? r : undefined;
    }, { timeoutMs: 5_000, intervalMs: 100, what: 'the tenant quota' });
    expect(refused.body).toMatchObject({ error: { code: 'rate_limited', details: { reason: 'tenant_queue_full', quota: 3 } } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await beta('POST', '/api/clusters/q-beta-1/tasks', { payload: { n: 1 } })).status).toBeLessThan(300);
  });

  // Last: it leaves 127.0.0.1 limited for a while.
  it('failed authentications from one address get 429 with Retry-After once AUTH_FAILURE_LIMIT is reached; a key verified lately still works', async () => {
    const acme = api(stack.url, keys.acme);
    expect((await acme('GET', '/api/blueprints')).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const bogus = `flk.key_01jbogus${String(i).padStart(18, '0')}.${'x'.repeat(43)}`;
      statuses.push((await api(stack.url, bogus)('GET', '/api/blueprints')).status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const limited = await api(stack.url, 'not-even-a-key')('GET', '/api/blueprints');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Verified moments ago: answered from the cache, not refused with the address.
    expect((await acme('GET', '/api/blueprints')).status).toBe(200);
  });
});
