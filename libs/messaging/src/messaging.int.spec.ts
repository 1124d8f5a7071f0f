import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { route } from '@flotilla/contracts';
import { ConcurrencyError, NotFoundError, RuleViolationError, TimeoutError, UnavailableError, ValidationError } from '@flotilla/domain';
import { createTestNamespace, type TestNamespace } from '@flotilla/testing';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { startTracing, withSpan } from '@flotilla/telemetry';
import { ensureConsumer, ensureStream } from './jetstream.js';
import { Messaging } from './messaging.js';

const echo = route('orchestrator', 'orchestrator.test.echo', z.object({ word: z.string().min(1), fail: z.string().optional() }), z.object({ said: z.string() }), 'test', 'service');
const slow = route('orchestrator', 'orchestrator.test.slow', z.object({}), z.object({}), 'test', 'service');
const nobody = route('registry', 'registry.test.nobody', z.object({}), z.object({}), 'test', 'service');
const perNode = route('registry', 'registry.test.node.*', z.object({}), z.object({ node: z.string(), identity: z.string() }), 'test', 'service');

describe('Messaging (real NATS)', () => {
  const exporter = new InMemorySpanExporter();
  let ns: TestNamespace;
  let server: Messaging;
  let client: Messaging;
  let other: Messaging;

  beforeAll(async () => {
    startTracing({ serviceName: 'messaging-test', instanceId: 'x', exporter });
    ns = createTestNamespace();
    const opts = { servers: [ns.natsUrl], namespace: ns.prefix, requestTimeoutMs: 2000 };
    server = await Messaging.connect({ ...opts, name: 'server' });
    client = await Messaging.connect({ ...opts, name: 'client' });
    other = await Messaging.connect({ ...opts, namespace: `${ns.prefix}x`, name: 'other' });
    server.serve(echo, (data, meta) => {
      switch (data.fail) {
        case 'not_found':
          throw NotFoundError.of('cluster', data.word);
        case 'rule':
          throw new RuleViolationError('target_above_max', 'target 30 is above max_workers 20', { max: 20 });
        case 'conflict':
          throw new ConcurrencyError('expected revision 3, found 4', { expected: '3', actual: '4' });
        case 'bug':
          throw new Error('kaboom');
        default:
          return { said: `${data.word} from ${meta.identity?.actor ?? 'anonymous'}` };
      }
    });
    server.serve(slow, () => new Promise((resolve) => setTimeout(() => resolve({}), 1500)));
  });

  afterAll(async () => {
    await Promise.all([server.close(), client.close(), other.close()]);
    await ns.cleanup();
  });

  it('carries a reply and the caller identity', async () => {
    const reply = await client.request(echo, { word: 'hi' }, { identity: { actor: 'alice', tenantId: 't1', role: 'operator' } });
    expect(reply).toEqual({ said: 'hi from alice' });
  });

  it('a request without identity headers is refused, not served as the all-tenant system', async () => {
    // A service's own request says who it is (the system identity), it never relies on silence.
    expect(await client.request(echo, { word: 'hi' })).toEqual({ said: 'hi from system' });
    const raw = await client.nc.request(client.subject(echo.subject), JSON.stringify({ word: 'hi' }), { timeout: 2000 });
    expect(raw.json()).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it("a per-node route takes its node from the subject, and needs no identity header", async () => {
    server.serve(perNode, (_data, meta) => ({ node: meta.node ?? 'none', identity: meta.identity?.actor ?? 'none' }));
    await server.nc.flush();
    expect(await client.request(perNode, {}, { node: 'node-7' })).toEqual({ node: 'node-7', identity: 'none' });
    await expect(client.request(perNode, {})).rejects.toThrow(/needs a node id/);
    await expect(client.request(perNode, {}, { node: 'a.b' })).rejects.toThrow(/needs a node id/);
  });

  it('rebuilds the typed error the server raised', async () => {
    await expect(client.request(echo, { word: 'c-1', fail: 'not_found' })).rejects.toBeInstanceOf(NotFoundError);
    const rule = await client.request(echo, { word: 'x', fail: 'rule' }).catch((e: unknown) => e);
    expect(rule).toBeInstanceOf(RuleViolationError);
    expect((rule as RuleViolationError).rule).toBe('target_above_max');
    expect((rule as RuleViolationError).details['max']).toBe(20);
    await expect(client.request(echo, { word: 'x', fail: 'conflict' })).rejects.toBeInstanceOf(ConcurrencyError);
    const bug = await client.request(echo, { word: 'x', fail: 'bug' }).catch((e: unknown) => e);
    expect((bug as { code: string }).code).toBe('internal');
  });

  it('validates requests on the server and names the bad path', async () => {
    const err = await client.request(echo, { word: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]?.path).toBe('word');
  });

  it('reports a missing service as unavailable and a slow one as a timeout', async () => {
    await expect(client.request(nobody, {})).rejects.toBeInstanceOf(UnavailableError);
    await expect(client.request(slow, {}, { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('keeps namespaces apart', async () => {
    await expect(other.request(echo, { word: 'hi' })).rejects.toBeInstanceOf(UnavailableError);
  });

  it('propagates the trace across the request', async () => {
    exporter.reset();
    await withSpan('test-root', {}, () => client.request(echo, { word: 'traced' }));
    await new Promise((r) => setTimeout(r, 50));
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'test-root');
    const handled = spans.find((s) => s.name === 'process orchestrator.test.echo');
    expect(root).toBeDefined();
    expect(handled?.spanContext().traceId).toBe(root?.spanContext().traceId);
    expect(handled?.attributes['messaging.destination.name']).toBe(`${ns.prefix}.orchestrator.test.echo`);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('lets the in-flight handler finish when draining', async () => {
    const pending = client.request(slow, {}, { timeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 100));
    const finished = await server.drainHandlers(3000);
    expect(finished).toBe(true);
    await expect(pending).resolves.toEqual({});
  });

  it('provisions streams and consumers idempotently', async () => {
    const jsm = await client.jsm();
    const name = ns.ns.stream('PROVISION');
    const spec = { name, subjects: [ns.ns.subject('prov.>')], max_age: 0 };
    const first = await ensureStream(jsm, spec);
    const again = await ensureStream(jsm, spec);
    expect(again.created).toEqual(first.created);
    const updated = await ensureStream(jsm, { ...spec, subjects: [ns.ns.subject('prov.>'), ns.ns.subject('prov2.>')] });
    expect(updated.config.subjects).toHaveLength(2);
    const c1 = await ensureConsumer(jsm, name, { durable_name: 'c1', ack_wait: 5_000_000_000 });
    const c2 = await ensureConsumer(jsm, name, { durable_name: 'c1', ack_wait: 5_000_000_000 });
    expect(c2.created).toEqual(c1.created);
  });
});
