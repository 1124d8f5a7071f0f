import nodeHttp from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  RuleViolationError,
  TimeoutError,
  UnavailableError,
  ValidationError,
  type AgentSpec,
  type ResolvedRuntime,
} from '@flotilla/domain';
import { loadConfig, parseEgressTargets } from '@flotilla/config';
import { startStubServer, type StubHandler } from '../testing/stub-server.js';
import { BuiltinRuntime } from './builtin.runtime.js';
import { EgressPolicy, type EgressGuard } from './egress.policy.js';
import { HttpRuntime } from './http.runtime.js';
import { OpenAiRuntime } from './openai.runtime.js';
import { createRuntime, parseResolvedRuntime } from './runtime.factory.js';
import type { RuntimeContext } from './runtime.js';
import type { AgentTask } from './task-source.js';

const task = (input: AgentTask['input'], extra: Partial<AgentTask> = {}): AgentTask => ({
  taskId: 'task-1',
  clusterId: 'cluster-1',
  capability: null,
  input,
  timeoutMs: null,
  attempt: 1,
  ...extra,
});
const spec = (runtime: ResolvedRuntime): AgentSpec => ({
  name: 'writer',
  role: 'worker',
  capabilities: ['drafting'],
  runtime,
});
const ctx = (runtime: ResolvedRuntime, signal = new AbortController().signal): RuntimeContext => ({
  agentId: 'agent-1',
  spec: spec(runtime),
  signal,
});
/** The egress policy with these destinations opened for every tenant (the stubs listen on loopback). */
const allowing = (...destinations: string[]): EgressGuard =>
  new EgressPolicy({ allow: { '*': parseEgressTargets(destinations.join(',')) } }).forTenant('acme');
const portOf = (url: string) => new URL(url).port;
const failure = async (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('builtin runtime', () => {
  const builtin = (
    handler: 'echo' | 'sleep' | 'cpu-burn' | 'fail',
    delayMs = 0,
    failureRate = handler === 'fail' ? 1 : 0,
  ) => ({ kind: 'builtin' as const, handler, delayMs, failureRate });

  it('echo answers its input', async () => {
    const rt = builtin('echo');
    expect(await new BuiltinRuntime(rt).execute(task({ brief: 'launch' }), ctx(rt))).toEqual({
      brief: 'launch',
    });
  });

  it('sleep waits its delay, and stops waiting when aborted', async () => {
    const rt = builtin('sleep', 60);
    const started = performance.now();
    expect(await new BuiltinRuntime(rt).execute(task(null), ctx(rt))).toEqual({ slept_ms: 60 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    const abort = new AbortController();
    const long = { ...rt, delayMs: 10_000 };
    const pending = failure(new BuiltinRuntime(long).execute(task(null), ctx(long, abort.signal)));
    abort.abort(new UnavailableError('stopped'));
    expect(await pending).toBeInstanceOf(UnavailableError);
  });

  it('cpu-burn keeps the CPU busy for its delay, yielding so timers still run', async () => {
    // Long enough that a machine loaded past its cores still schedules this process during it
    // (80 ms once saw no timer tick at all, on two cores running five busy processes).
    const rt = builtin('cpu-burn', 250);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const cpu = process.cpuUsage();
    const result = (await new BuiltinRuntime(rt).execute(task(null), ctx(rt))) as {
      burned_ms: number;
      rounds: number;
    };
    clearInterval(timer);
    const used = process.cpuUsage(cpu);
    expect(result.burned_ms).toBeGreaterThanOrEqual(250);
    expect(result.rounds).toBeGreaterThan(0);
    // Busy, not asleep: a sleep of the same length uses next to no CPU (the bound is loose: a
    // loaded machine preempts the burn, so CPU time lags the wall clock).
    expect((used.user + used.system) / 1000).toBeGreaterThan(10);
    expect(ticks).toBeGreaterThan(0);
  });

  it('fail fails with a typed error, and failureRate fails that share of tasks', async () => {
    const rt = builtin('fail');
    const err = await failure(new BuiltinRuntime(rt).execute(task(null), ctx(rt)));
    expect(err).toBeInstanceOf(RuleViolationError);
    expect((err as RuleViolationError).rule).toBe('task_failed');
    const flaky = { ...builtin('echo'), failureRate: 0.5 };
    const rolls = [0.1, 0.9];
    const runtime = new BuiltinRuntime(flaky, () => rolls.shift()!);
    expect(await failure(runtime.execute(task('x'), ctx(flaky)))).toBeInstanceOf(
      RuleViolationError,
    );
    expect(await runtime.execute(task('x'), ctx(flaky))).toBe('x');
  });
});

describe('http runtime (against a stub on 127.0.0.1)', () => {
  let stub: Awaited<ReturnType<typeof startStubServer>>;
  let handler: StubHandler = () => ({ body: {} });
  beforeAll(async () => {
    stub = await startStubServer((req) => handler(req));
  });
  afterAll(() => stub.close());
  const egress = () => allowing(`127.0.0.1:${portOf(stub.url)}`, '127.0.0.1:9');
  const http = (path = '/run', timeoutMs = 2000): Extract<ResolvedRuntime, { kind: 'http' }> => ({
    kind: 'http',
    url: `${stub.url}${path}`,
    method: 'POST',
    timeoutMs,
    headers: { 'x-team': 'growth' },
  });

  it('POSTs the task and returns the reply as the result', async () => {
    handler = (req) => ({ body: { echoed: (req.body as { input: unknown }).input, ok: true } });
    const rt = http();
    const result = await new HttpRuntime(rt, egress()).execute(
      task({ q: 'hello' }, { capability: 'drafting' }),
      ctx(rt),
    );
    expect(result).toEqual({ echoed: { q: 'hello' }, ok: true });
    const sent = stub.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', url: '/run' });
    expect(sent.headers['x-team']).toBe('growth');
    expect(sent.body).toEqual({
      task_id: 'task-1',
      cluster_id: 'cluster-1',
      capability: 'drafting',
      attempt: 1,
      agent: { agent_id: 'agent-1', name: 'writer', role: 'worker', capabilities: ['drafting'] },
      input: { q: 'hello' },
    });
  });

  it('returns a text reply as text', async () => {
    handler = () => ({ body: 'plain words', contentType: 'text/plain' });
    const rt = http();
    expect(await new HttpRuntime(rt, egress()).execute(task(null), ctx(rt))).toBe('plain words');
  });

  it('maps failures to typed errors: 5xx unavailable, 4xx refused, slow timeout, bad JSON invalid, nobody listening unavailable', async () => {
    const rt = http();
    handler = () => ({ status: 503, body: { error: 'overloaded' } });
    expect(await failure(new HttpRuntime(rt, egress()).execute(task(null), ctx(rt)))).toBeInstanceOf(
      UnavailableError,
    );
    handler = () => ({ status: 422, body: { error: 'nope' } });
    const refused = await failure(new HttpRuntime(rt, egress()).execute(task(null), ctx(rt)));
    expect(refused).toBeInstanceOf(RuleViolationError);
    expect((refused as RuleViolationError).details).toMatchObject({
      status: 422,
      rule: 'task_rejected',
    });
    handler = () => ({ body: '{not json', contentType: 'application/json' });
    expect(await failure(new HttpRuntime(rt, egress()).execute(task(null), ctx(rt)))).toBeInstanceOf(
      ValidationError,
    );
    handler = () => ({ body: {}, delayMs: 500 });
    const slow = http('/run', 100);
    expect(await failure(new HttpRuntime(slow, egress()).execute(task(null), ctx(slow)))).toBeInstanceOf(
      TimeoutError,
    );
    // The task's own timeout wins when it is shorter.
    expect(
      await failure(new HttpRuntime(rt, egress()).execute(task(null, { timeoutMs: 100 }), ctx(rt))),
    ).toBeInstanceOf(TimeoutError);
    const closed = { ...rt, url: 'http://127.0.0.1:9/run' };
    expect(await failure(new HttpRuntime(closed, egress()).execute(task(null), ctx(closed)))).toBeInstanceOf(
      UnavailableError,
    );
  });
});

describe('openai runtime (against a stub chat-completions server on 127.0.0.1)', () => {
  let stub: Awaited<ReturnType<typeof startStubServer>>;
  beforeAll(async () => {
    stub = await startStubServer((req) => {
      const body = req.body as { model: string; messages: { role: string; content: string }[] };
      if (req.url !== '/v1/chat/completions') return { status: 404, body: { error: 'not found' } };
      if (body.model === 'broken') return { body: { choices: [] } };
      const user = body.messages.find((m) => m.role === 'user')!.content;
      return {
        body: {
          id: 'chatcmpl-1',
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: `You said: ${user}` },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
        },
      };
    });
  });
  afterAll(() => stub.close());
  const egress = () => allowing(`127.0.0.1:${portOf(stub.url)}`);
  const openai = (
    extra: Partial<Extract<ResolvedRuntime, { kind: 'openai' }>> = {},
  ): Extract<ResolvedRuntime, { kind: 'openai' }> => ({
    kind: 'openai',
    baseUrl: `${stub.url}/v1/`,
    model: 'llama3.2',
    systemPrompt: 'You write campaign copy.',
    apiKeyEnv: 'AGENT_SECRET_TEST_LLM_KEY',
    temperature: 0.2,
    maxTokens: 64,
    timeoutMs: 2000,
    ...extra,
  });

  it('sends the system prompt and the task as the user message, with the key from the named variable', async () => {
    const rt = openai();
    const result = await new OpenAiRuntime(rt, egress(), { AGENT_SECRET_TEST_LLM_KEY: 'sk-local' }).execute(
      task('a tagline for spring'),
      ctx(rt),
    );
    expect(result).toEqual({
      content: 'You said: a tagline for spring',
      model: 'llama3.2',
      finish_reason: 'stop',
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    });
    const sent = stub.requests.at(-1)!;
    expect(sent.headers['authorization']).toBe('Bearer sk-local');
    expect(sent.body).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'You write campaign copy.' },
        { role: 'user', content: 'a tagline for spring' },
      ],
      temperature: 0.2,
      max_tokens: 64,
    });
  });

  it('sends structured input as JSON and needs no key when none is named', async () => {
    const rt = openai({ apiKeyEnv: null, systemPrompt: null, temperature: null, maxTokens: null });
    await new OpenAiRuntime(rt, egress(), {}).execute(task({ product: 'tea' }), ctx(rt));
    const sent = stub.requests.at(-1)!;
    expect(sent.headers['authorization']).toBeUndefined();
    expect(sent.body).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: '{"product":"tea"}' }],
    });
  });

  it('refuses to start without the key it names, and treats an answer without a completion as invalid', async () => {
    expect(() => createRuntime(openai(), egress(), {})).toThrow(UnavailableError);
    const broken = openai({ model: 'broken', apiKeyEnv: null });
    expect(
      await failure(new OpenAiRuntime(broken, egress(), {}).execute(task('x'), ctx(broken))),
    ).toBeInstanceOf(ValidationError);
  });
});

describe('runtime from an assignment', () => {
  it('accepts what resolution produced (nulls for unset fields) and fills defaults', () => {
    expect(
      parseResolvedRuntime({ kind: 'builtin', handler: 'sleep', delayMs: 200, failureRate: 0 }),
    ).toEqual({ kind: 'builtin', handler: 'sleep', delayMs: 200, failureRate: 0 });
    expect(
      parseResolvedRuntime({
        kind: 'openai',
        baseUrl: 'http://127.0.0.1:11434/v1',
        model: 'm',
        systemPrompt: null,
        apiKeyEnv: null,
        temperature: null,
        maxTokens: null,
        timeoutMs: 1000,
      }),
    ).toMatchObject({ kind: 'openai', apiKeyEnv: null, timeoutMs: 1000 });
    expect(parseResolvedRuntime({ kind: 'http', url: 'http://127.0.0.1:1/x' })).toMatchObject({
      method: 'POST',
      timeoutMs: 30_000,
      headers: {},
    });
  });

  it('refuses what no blueprint could say, naming the path', () => {
    for (const bad of [
      { kind: 'shell', cmd: 'rm -rf /' },
      { kind: 'builtin', handler: 'teleport' },
      'echo',
      null,
    ]) {
      const err = (() => {
        try {
          parseResolvedRuntime(bad);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues[0]!.path).toMatch(/^runtime/);
    }
  });
});

describe("the openai runtime sends an agent secret, never one of the node agent's own (at run time)", () => {
  let stub: Awaited<ReturnType<typeof startStubServer>>;
  beforeAll(async () => {
    stub = await startStubServer(() => ({ body: { choices: [{ message: { role: 'assistant', content: 'ok' } }] } }));
  });
  afterAll(() => stub.close());
  const runtime = (apiKeyEnv: string): Extract<ResolvedRuntime, { kind: 'openai' }> => ({
    kind: 'openai',
    baseUrl: `${stub.url}/v1`,
    model: 'm',
    systemPrompt: null,
    apiKeyEnv,
    temperature: null,
    maxTokens: null,
    timeoutMs: 2000,
  });
  const env = {
    DATABASE_URL: 'postgres://flotilla:db-password@postgres:5432/flotilla',
    FLOTILLA_BOOTSTRAP_ADMIN_KEY: 'bootstrap-admin-key-0123456789',
    NATS_PASSWORD: 'nats-password',
    AGENT_SECRET_LLM: 'sk-agent',
  };

  it.each(['DATABASE_URL', 'FLOTILLA_BOOTSTRAP_ADMIN_KEY', 'NATS_PASSWORD'])(
    'refuses to read %s (not an AGENT_SECRET_* variable), at start and per task, and sends nothing',
    async (name) => {
      const rt = runtime(name);
      const egress = allowing(`127.0.0.1:${portOf(stub.url)}`);
      const before = stub.requests.length;
      const err = await failure(new OpenAiRuntime(rt, egress, env).execute(task('x'), ctx(rt)));
      expect(err).toBeInstanceOf(RuleViolationError);
      expect((err as RuleViolationError).details).toMatchObject({ rule: 'agent_secret_forbidden', variable: name });
      expect(() => createRuntime(rt, egress, env)).toThrow(RuleViolationError);
      expect(stub.requests.length).toBe(before);
    },
  );

  it('reads an AGENT_SECRET_* variable', async () => {
    const rt = runtime('AGENT_SECRET_LLM');
    await new OpenAiRuntime(rt, allowing(`127.0.0.1:${portOf(stub.url)}`), env).execute(task('x'), ctx(rt));
    expect(stub.requests.at(-1)!.headers['authorization']).toBe('Bearer sk-agent');
  });

  it('refuses such a runtime when an assignment carries it (the node checks the blueprint rule again)', () => {
    const err = (() => {
      try {
        parseResolvedRuntime({ ...runtime('DATABASE_URL') });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]).toMatchObject({ path: 'runtime.apiKeyEnv', message: expect.stringContaining('AGENT_SECRET_') });
  });
});

describe('the HTTP runtime is no open proxy', () => {
  let stub: Awaited<ReturnType<typeof startStubServer>>;
  let handler: StubHandler = () => ({ body: { ok: true } });
  beforeAll(async () => {
    stub = await startStubServer((req) => handler(req));
  });
  afterAll(() => stub.close());
  const http = (url: string, headers: Record<string, string> = {}): Extract<ResolvedRuntime, { kind: 'http' }> => ({
    kind: 'http',
    url,
    method: 'POST',
    timeoutMs: 2000,
    headers,
  });
  const run = (rt: Extract<ResolvedRuntime, { kind: 'http' }>, egress: EgressGuard) => failure(new HttpRuntime(rt, egress).execute(task('x'), ctx(rt)));
  const denied = (err: unknown) => {
    expect(err).toBeInstanceOf(RuleViolationError);
    expect((err as RuleViolationError).details).toMatchObject({ rule: 'egress_denied' });
  };

  it('does not reach loopback, link-local (cloud metadata) or unspecified addresses by default, and sends nothing there', async () => {
    const policy = new EgressPolicy({}).forTenant('acme');
    const before = stub.requests.length;
    for (const url of [
      `${stub.url}/run`,
      `http://localhost:${portOf(stub.url)}/run`,
      `http://[::ffff:127.0.0.1]:${portOf(stub.url)}/run`,
      `http://[::1]:${portOf(stub.url)}/run`,
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[fe80::1]/',
      'http://0.0.0.0/',
    ])
      denied(await run(http(url, { authorization: 'Bearer tenant-token' }), policy));
    expect(stub.requests.length).toBe(before);
  });

  it('reaches a destination the operator allows for the agent’s tenant, and only for that tenant', async () => {
    const policy = new EgressPolicy({ allow: { acme: parseEgressTargets(`127.0.0.1:${portOf(stub.url)}`) } });
    expect(await new HttpRuntime(http(`${stub.url}/run`), policy.forTenant('acme')).execute(task('x'), ctx(http(`${stub.url}/run`)))).toEqual({ ok: true });
    denied(await run(http(`${stub.url}/run`), policy.forTenant('globex')));
    denied(await run(http(`${stub.url}/run`), policy.forTenant(null)));
  });

  it('never reaches the control plane, even where loopback is open: the NATS servers and AGENT_EGRESS_DENY', async () => {
    const policy = EgressPolicy.fromConfig(
      loadConfig({
        NATS_URL: `nats://127.0.0.1:${portOf(stub.url)}`,
        AGENT_EGRESS_ALLOW: '*=127.0.0.0/8',
        AGENT_EGRESS_DENY: '127.0.0.2:5432',
      }),
    );
    denied(await run(http(`${stub.url}/run`), policy.forTenant('acme')));
    denied(await run(http('http://127.0.0.2:5432/'), policy.forTenant('acme')));
    const open = EgressPolicy.fromConfig(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', AGENT_EGRESS_ALLOW: `*=127.0.0.1:${portOf(stub.url)}` }));
    expect(await new HttpRuntime(http(`${stub.url}/run`), open.forTenant('acme')).execute(task('x'), ctx(http(`${stub.url}/run`)))).toEqual({ ok: true });
    denied(await run(http('http://127.0.0.1:4222/'), open.forTenant('acme')));
  });

  it('connects to the address it checked, not to whatever the name resolves to later (DNS rebinding)', async () => {
    let lookups = 0;
    const policy = new EgressPolicy(
      { allow: { '*': parseEgressTargets(`127.0.0.1:${portOf(stub.url)}`) } },
      {
        // The first answer is checked and pinned; a second lookup (by the socket) would get 169.254.169.254.
        resolve: async () => (lookups++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]),
      },
    );
    const rt = http(`http://rebind.invalid:${portOf(stub.url)}/run`);
    expect(await new HttpRuntime(rt, policy.forTenant('acme')).execute(task('x'), ctx(rt))).toEqual({ ok: true });
    expect(lookups).toBe(1);
    // A name with any denied address is refused as a whole.
    const mixed = new EgressPolicy({}, { resolve: async () => [{ address: '93.184.215.14', family: 4 }, { address: '169.254.169.254', family: 4 }] });
    denied(await run(http('http://mixed.invalid/'), mixed.forTenant('acme')));
  });

  it('follows no redirect, and caps the reply at AGENT_MAX_RESPONSE_BYTES', async () => {
    const server = nodeHttp.createServer((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const err = await run(http(`http://127.0.0.1:${port}/`), allowing(`127.0.0.1:${port}`));
      expect(err).toBeInstanceOf(RuleViolationError);
      expect((err as RuleViolationError).details).toMatchObject({ rule: 'task_rejected', status: 302 });
    } finally {
      server.close();
    }
    handler = () => ({ body: { blob: 'x'.repeat(4000) } });
    const small = new EgressPolicy(
      { allow: { '*': parseEgressTargets(`127.0.0.1:${portOf(stub.url)}`) } },
      { maxResponseBytes: 1024 },
    ).forTenant('acme');
    expect(await run(http(`${stub.url}/run`), small)).toBeInstanceOf(ValidationError);
    expect(EgressPolicy.fromConfig(loadConfig({ AGENT_MAX_RESPONSE_BYTES: '2048' })).maxResponseBytes).toBe(2048);
  });

  it('sends the openai runtime’s key only where the policy allows', async () => {
    const rt: Extract<ResolvedRuntime, { kind: 'openai' }> = {
      kind: 'openai',
      baseUrl: 'http://169.254.169.254/v1',
      model: 'm',
      systemPrompt: null,
      apiKeyEnv: 'AGENT_SECRET_LLM',
      temperature: null,
      maxTokens: null,
      timeoutMs: 2000,
    };
    denied(await failure(new OpenAiRuntime(rt, new EgressPolicy({}).forTenant('acme'), { AGENT_SECRET_LLM: 'sk' }).execute(task('x'), ctx(rt))));
  });
});
