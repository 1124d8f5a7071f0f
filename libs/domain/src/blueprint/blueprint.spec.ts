import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import path from 'node:path';
import { ValidationError } from '../errors.js';
import { BROKEN_DIR, DOMAIN_ROOT, EXAMPLES_DIR, listYaml, readExample, readText } from '../testing/files.js';
import { thrownBy } from '../testing/decider-spec.js';
import { blueprintJsonSchema, blueprintJsonSchemaText } from './blueprint.json-schema.js';
import { parseBlueprint, serializeBlueprint } from './blueprint.parse.js';
import { blueprintHash, resolveBlueprint } from './blueprint.resolve.js';
import type { Blueprint } from './blueprint.schema.js';
import { DEFAULT_SCALING_POLICY } from './blueprint.types.js';
import { formatPath, validateBlueprint } from './blueprint.validate.js';

const issuesOf = (fn: () => unknown) => {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(ValidationError);
  return (err as ValidationError).issues;
};

describe('example blueprints', () => {
  const files = listYaml(EXAMPLES_DIR);

  it('ships marketing and the six seed-004 clusters', () => {
    expect(files).toEqual(['analytics.yaml', 'coordination.yaml', 'core.yaml', 'discovery.yaml', 'marketing.yaml', 'mcp.yaml', 'memory.yaml']);
  });

  it.each(files)('%s validates and resolves in every environment', (file) => {
    const bp = parseBlueprint(readExample(file));
    for (const environment of [undefined, 'development', 'staging', 'production'] as const) {
      const resolved = resolveBlueprint(bp, environment ? { environment } : {});
      const c = resolved.cluster;
      expect(c.minWorkers).toBeLessThanOrEqual(c.targetWorkers);
      expect(c.targetWorkers).toBeLessThanOrEqual(c.maxWorkers);
      expect(resolved.agents.filter((a) => a.role === 'supervisor')).toHaveLength(1);
      expect(JSON.parse(JSON.stringify(resolved))).toEqual(resolved);
    }
  });

  it('marketing-v1 has a supervisor, two leads, specialists and a 3–20 worker pool of builtin runtimes', () => {
    const bp = parseBlueprint(readExample('marketing.yaml'));
    expect(bp.metadata.id).toBe('marketing-v1');
    const roles = bp.agents.map((a) => a.role);
    expect(roles.filter((r) => r === 'supervisor')).toHaveLength(1);
    expect(roles.filter((r) => r === 'lead')).toHaveLength(2);
    expect(roles.filter((r) => r === 'specialist').length).toBeGreaterThanOrEqual(3);
    expect(bp.cluster).toMatchObject({ minWorkers: 3, targetWorkers: 6, maxWorkers: 20 });
    expect(bp.agents.every((a) => a.runtime.kind === 'builtin')).toBe(true);
    const workerHandlers = bp.agents.filter((a) => a.role === 'worker').map((a) => (a.runtime.kind === 'builtin' ? a.runtime.handler : ''));
    expect(workerHandlers.every((h) => h === 'sleep' || h === 'echo')).toBe(true);
  });

  it('seed 004 limits: total agents between the seed bounds', () => {
    const limits: Record<string, [number, number]> = {
      'core.yaml': [3, 8],
      'coordination.yaml': [2, 5],
      'memory.yaml': [2, 6],
      'mcp.yaml': [2, 8],
      'analytics.yaml': [1, 5],
      'discovery.yaml': [1, 15],
    };
    for (const [file, [lo, hi]] of Object.entries(limits)) {
      const r = resolveBlueprint(parseBlueprint(readExample(file)));
      const fixed = r.agents.reduce((n, a) => n + a.count, 0);
      expect([file, fixed + r.cluster.minWorkers, fixed + r.cluster.maxWorkers]).toEqual([file, lo, hi]);
    }
  });
});

describe('broken blueprints', () => {
  // Each fixture fails with (at least) this issue; paths are exact, messages are matched in part.
  const table: { file: string; path: string; message: string; maxBytes?: number }[] = [
    { file: 'two-supervisors.yaml', path: 'agents[1].role', message: 'exactly one supervisor is allowed' },
    { file: 'no-supervisor.yaml', path: 'agents', message: 'exactly one agent with role supervisor is required' },
    { file: 'reports-to-cycle.yaml', path: 'agents[1].reportsTo', message: 'reportsTo forms a cycle: lead-a → lead-b → lead-a' },
    { file: 'unknown-reports-to.yaml', path: 'agents[2].reportsTo', message: "unknown agent 'ghost'" },
    { file: 'reports-to-worker.yaml', path: 'agents[1].reportsTo', message: "'worker' is a worker; workers have no reports" },
    { file: 'duplicate-agent-names.yaml', path: 'agents[2].name', message: "duplicate agent name 'worker'" },
    { file: 'min-above-max.yaml', path: 'cluster.maxWorkers', message: 'minWorkers (5) must not exceed maxWorkers (3)' },
    { file: 'target-above-max.yaml', path: 'cluster.targetWorkers', message: 'targetWorkers (9) must be between minWorkers (1) and maxWorkers (5)' },
    { file: 'scale-down-threshold.yaml', path: 'cluster.scaling.queuePerWorkerDown', message: 'must be below the scale-up threshold (5)' },
    { file: 'cpu-thresholds-inverted.yaml', path: 'cluster.scaling.cpuDown', message: 'scale-down CPU threshold (60) must be below the scale-up threshold (40)' },
    { file: 'bad-semver.yaml', path: 'metadata.version', message: 'expected a semantic version' },
    { file: 'bad-id.yaml', path: 'metadata.id', message: 'expected a DNS label' },
    { file: 'wrong-api-version.yaml', path: 'apiVersion', message: 'flotilla/v1' },
    { file: 'unknown-field.yaml', path: 'cluster.maxWorker', message: "unknown field 'maxWorker'" },
    { file: 'worker-with-count.yaml', path: 'agents[1].count', message: 'workers form a pool' },
    { file: 'unknown-runtime.yaml', path: 'agents[0].runtime.kind', message: 'builtin' },
    { file: 'bad-http-url.yaml', path: 'agents[0].runtime.url', message: 'expected an http:// or https:// URL' },
    { file: 'api-key-env-not-agent-secret.yaml', path: 'agents[0].runtime.apiKeyEnv', message: 'starts with AGENT_SECRET_' },
    { file: 'reserved-http-header.yaml', path: 'agents[0].runtime.headers.Host', message: "header 'Host' is set by the node agent" },
    { file: 'overlay-min-above-max.yaml', path: 'environments.production.minWorkers', message: 'minWorkers (8) must not exceed maxWorkers (5)' },
    { file: 'no-worker-agent.yaml', path: 'cluster.maxWorkers', message: 'needs at least one agent with role worker' },
    { file: 'billion-laughs.yaml', path: '', message: 'too many aliases' },
    { file: 'custom-tag.yaml', path: 'metadata.description', message: 'tags are not allowed' },
    { file: 'duplicate-key.yaml', path: '', message: 'Map keys must be unique' },
    { file: 'too-large.yaml', path: '', message: 'document too large', maxBytes: 1024 },
    { file: 'many-problems.yaml', path: 'metadata.version', message: 'expected a semantic version' },
  ];

  it('covers every fixture in the folder', () => {
    expect(table.map((r) => r.file).sort()).toEqual(listYaml(BROKEN_DIR));
  });

  it.each(table)('$file → $path: $message', ({ file, path: at, message, maxBytes }) => {
    const text = readText(path.join(BROKEN_DIR, file));
    const issues = issuesOf(() => parseBlueprint(text, maxBytes ? { maxBytes } : {}));
    expect(issues).toContainEqual({ path: at, message: expect.stringContaining(message) });
  });

  it('reports all problems at once, with their paths', () => {
    const issues = issuesOf(() => parseBlueprint(readText(path.join(BROKEN_DIR, 'many-problems.yaml'))));
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'metadata.id',
        'metadata.version',
        'cluster.type',
        'cluster.maxWorkers',
        'agents[1].role',
        'agents[2].reportsTo',
        'agents[2].runtime.handler',
      ]),
    );
  });

  it('refuses a document over the default 256 KiB limit without parsing it', () => {
    const huge = `${readExample('core.yaml')}\n# ${'x'.repeat(300 * 1024)}\n`;
    expect(issuesOf(() => parseBlueprint(huge))).toEqual([{ path: '', message: expect.stringContaining('the limit is 262144') }]);
  });

  it('counts the limit in UTF-8 bytes', () => {
    const text = `${readExample('core.yaml')}# ${'é'.repeat(1000)}\n`;
    const bytes = new TextEncoder().encode(text).byteLength;
    expect(() => parseBlueprint(text, { maxBytes: bytes })).not.toThrow();
    expect(issuesOf(() => parseBlueprint(text, { maxBytes: bytes - 1 }))[0]?.message).toContain('document too large');
  });

  it('refuses invalid JSON and non-object documents', () => {
    expect(issuesOf(() => parseBlueprint('{"apiVersion": ', { format: 'json' }))[0]?.message).toMatch(/^invalid JSON/);
    expect(issuesOf(() => parseBlueprint('- just\n- a list\n'))[0]).toMatchObject({ path: '' });
  });
});

describe("a blueprint cannot point a runtime at the node agent's own secrets", () => {
  const withOpenAi = (apiKeyEnv: string) =>
    parseBlueprint(`apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: exfil, name: exfil, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, maxWorkers: 1 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: openai, baseUrl: 'https://collector.example.com/v1', model: m, apiKeyEnv: ${apiKeyEnv} } }
  - { name: hand, role: worker, runtime: { kind: builtin, handler: echo } }
`);

  it.each(['FLOTILLA_BOOTSTRAP_ADMIN_KEY', 'AUTH_JWT_SECRET', 'DATABASE_URL', 'NATS_PASSWORD', 'OPENAI_API_KEY', 'AGENT_SECRET_'])(
    'refuses apiKeyEnv %s, naming the path and the AGENT_SECRET_ prefix',
    (name) => {
      const issues = issuesOf(() => withOpenAi(name));
      expect(issues).toEqual([{ path: 'agents[0].runtime.apiKeyEnv', message: expect.stringContaining('AGENT_SECRET_') }]);
    },
  );

  it('accepts a variable with the AGENT_SECRET_ prefix', () => {
    const bp = withOpenAi('AGENT_SECRET_OPENAI_KEY');
    expect(bp.agents[0]!.runtime).toMatchObject({ kind: 'openai', apiKeyEnv: 'AGENT_SECRET_OPENAI_KEY' });
  });
});

describe('validateBlueprint', () => {
  it('formats paths like agents[2].reportsTo', () => {
    expect(formatPath(['agents', 2, 'reportsTo'])).toBe('agents[2].reportsTo');
    expect(formatPath(['cluster', 'placement', 'requiredLabels', 'a b'])).toBe('cluster.placement.requiredLabels["a b"]');
    expect(formatPath([])).toBe('');
  });

  it('says what a missing field should be', () => {
    const bp = parseBlueprint(readExample('core.yaml'));
    const { name: _name, ...metadata } = bp.metadata;
    expect(issuesOf(() => validateBlueprint({ ...bp, metadata }))).toEqual([{ path: 'metadata.name', message: 'required: expected string' }]);
  });

  it('accepts TypeID blueprint ids as well as DNS labels', () => {
    const bp = parseBlueprint(readExample('core.yaml'));
    const id = 'blueprint_01h455vb4pex5vsknk084sn02q';
    expect(validateBlueprint({ ...bp, metadata: { ...bp.metadata, id } }).metadata.id).toBe(id);
    expect(issuesOf(() => validateBlueprint({ ...bp, metadata: { ...bp.metadata, id: 'cluster_01h455vb4pex5vsknk084sn02q' } }))[0]?.path).toBe('metadata.id');
  });

  it('checks thresholds against the defaults when only one side is set', () => {
    const bp = parseBlueprint(readExample('core.yaml'));
    const issues = issuesOf(() => validateBlueprint({ ...bp, cluster: { ...bp.cluster, scaling: { queuePerWorkerDown: 12 } } }));
    expect(issues).toContainEqual({ path: 'cluster.scaling.queuePerWorkerDown', message: expect.stringContaining('(10)') });
  });
});

describe('resolveBlueprint', () => {
  const marketing = () => parseBlueprint(readExample('marketing.yaml'));

  it('fills defaults', () => {
    const r = resolveBlueprint(parseBlueprint(readExample('coordination.yaml')));
    expect(r.cluster.resources).toEqual({ cpu: 0.5, memoryMb: 512 });
    expect(r.cluster.scaling).toEqual({ ...DEFAULT_SCALING_POLICY, cooldownDownSeconds: 600 });
    expect(r.cluster.circuitBreaker).toEqual({ enabled: true, failureThreshold: 5, openSeconds: 30, halfOpenProbes: 1 });
    expect(r.cluster.placement).toMatchObject({ strategy: 'health-based', antiAffinity: true, zoneSpread: false, maxPerZone: null });
    expect(r.cluster.hibernation).toEqual({ keepFixedAgents: true });
    expect(r.cluster.backupCluster).toBeNull();
    expect(r.agents.find((a) => a.name === 'consensus-builder')).toMatchObject({ reportsTo: 'adaptive-coordinator', count: 0, weight: 1 });
    expect(r.agents[0]?.runtime).toEqual({ kind: 'builtin', handler: 'echo', delayMs: 0, failureRate: 0 });
    expect(r.environment).toBe('base');
  });

  it('applies an environment overlay', () => {
    const dev = resolveBlueprint(marketing(), { environment: 'development' });
    expect(dev.cluster).toMatchObject({ minWorkers: 1, targetWorkers: 2, maxWorkers: 4, resources: { cpu: 0.25, memoryMb: 256 } });
    expect(dev.cluster.scaling).toMatchObject({ cooldownUpSeconds: 30, queuePerWorkerUp: 10 });
    const staging = resolveBlueprint(marketing(), { environment: 'staging' });
    expect(staging.cluster).toMatchObject({ minWorkers: 3, targetWorkers: 6, maxWorkers: 10 });
    const prod = resolveBlueprint(marketing(), { environment: 'production' });
    expect(prod.cluster.placement.antiAffinity).toBe(true);
    expect(prod.cluster.circuitBreaker.openSeconds).toBe(60);
    expect(prod.environment).toBe('production');
  });

  it('clamps an inherited target into an overlay’s bounds', () => {
    const bp = marketing();
    const r = resolveBlueprint({ ...bp, environments: { staging: { maxWorkers: 4 } } }, { environment: 'staging' });
    expect(r.cluster).toMatchObject({ minWorkers: 3, targetWorkers: 4, maxWorkers: 4 });
  });

  it('hashes each agent spec stably: equal specs hash equal, any change changes the hash', () => {
    const a = resolveBlueprint(marketing());
    const b = resolveBlueprint(parseBlueprint(serializeBlueprint(marketing(), 'json')));
    expect(b.agents.map((x) => x.specHash)).toEqual(a.agents.map((x) => x.specHash));
    expect(b.hash).toBe(a.hash);
    expect(new Set(a.agents.map((x) => x.specHash)).size).toBe(a.agents.length);
    for (const x of a.agents) expect(x.specHash).toMatch(/^[0-9a-f]{64}$/);

    const bp = marketing();
    const changed = resolveBlueprint({
      ...bp,
      agents: bp.agents.map((x) => (x.name === 'content-worker' ? { ...x, capabilities: [...(x.capabilities ?? []), 'translation'] } : x)),
    });
    const hashOf = (r: typeof a, name: string) => r.agents.find((x) => x.name === name)?.specHash;
    expect(hashOf(changed, 'content-worker')).not.toBe(hashOf(a, 'content-worker'));
    expect(hashOf(changed, 'research-worker')).toBe(hashOf(a, 'research-worker'));
    expect(changed.hash).not.toBe(a.hash);

    // An overlay that changes resources changes the lineage of every agent that inherits them.
    const dev = resolveBlueprint(bp, { environment: 'development' });
    expect(hashOf(dev, 'content-worker')).not.toBe(hashOf(a, 'content-worker'));
    expect(hashOf(dev, 'campaign-director')).toBe(hashOf(a, 'campaign-director'));
  });

  it('is insensitive to key order and to how the document was written', () => {
    const yaml = readExample('memory.yaml');
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(parseBlueprint(yaml)))).reverse()));
    expect(blueprintHash(parseBlueprint(reordered))).toBe(blueprintHash(parseBlueprint(yaml)));
  });
});

describe('JSON Schema', () => {
  it('the committed schema/blueprint.schema.json equals freshly generated output', () => {
    const committed = readText(path.join(DOMAIN_ROOT, 'schema', 'blueprint.schema.json'));
    expect(committed).toBe(blueprintJsonSchemaText());
  });

  it('describes the format (title, required sections, strategies)', () => {
    const schema = blueprintJsonSchema() as { title: string; required: string[]; properties: Record<string, unknown> };
    expect(schema.title).toContain('flotilla/v1');
    expect(schema.required).toEqual(['apiVersion', 'kind', 'metadata', 'cluster', 'agents']);
    expect(JSON.stringify(schema.properties)).toContain('least-loaded');
  });
});

// Arbitrary valid blueprints, for round trips.
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('yes', 'no', 'null', '~', '0x1F', '1e3', ': colon', '# hash', ' lead', 'trail ', '- dash', '"quoted"', "it's", 'multi\nline', 'émoji 🚀'),
);
const runtime = fc.oneof(
  fc.record({ kind: fc.constant('builtin' as const), handler: fc.constantFrom('echo' as const, 'sleep' as const, 'cpu-burn' as const, 'fail' as const) }),
  fc.record({ kind: fc.constant('http' as const), url: fc.constantFrom('http://127.0.0.1:9999/tasks', 'https://agents.example.com/run?x=1') }),
  fc.record(
    { kind: fc.constant('openai' as const), baseUrl: fc.constant('http://localhost:11434/v1'), model: fc.constantFrom('llama3', 'gpt-4o-mini'), systemPrompt: text },
    { requiredKeys: ['kind', 'baseUrl', 'model'] },
  ),
);
const blueprintArb: fc.Arbitrary<Blueprint> = fc
  .record({
    id: label,
    name: text.filter((s) => s.length > 0),
    version: fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map(([a, b, c]) => `${a}.${b}.${c}`),
    description: fc.option(text, { nil: undefined }),
    tags: fc.option(fc.uniqueArray(label, { maxLength: 3 }), { nil: undefined }),
    bounds: fc.tuple(fc.nat(10), fc.nat(10), fc.nat(10)).map((xs) => xs.sort((a, b) => a - b)),
    fixed: fc.array(fc.record({ role: fc.constantFrom('lead' as const, 'specialist' as const), count: fc.integer({ min: 1, max: 3 }), runtime }), { maxLength: 4 }),
    workers: fc.array(fc.record({ weight: fc.integer({ min: 1, max: 3 }), runtime }), { minLength: 1, maxLength: 3 }),
    strategy: fc.constantFrom('round-robin' as const, 'least-loaded' as const, 'random' as const),
    zoneSpread: fc.oneof(fc.boolean(), fc.record({ maxPerZone: fc.integer({ min: 1, max: 5 }) })),
    labels: fc.dictionary(label, text.map((s) => s.slice(0, 20)), { maxKeys: 3 }),
  })
  .map((x) => {
    const [min, target, max] = x.bounds as [number, number, number];
    // Leads report to the supervisor, specialists to the first lead if any: always a tree.
    const firstLead = x.fixed.findIndex((f) => f.role === 'lead');
    const agents: Blueprint['agents'] = [
      { name: 'root', role: 'supervisor', runtime: { kind: 'builtin', handler: 'echo' } },
      ...x.fixed.map((f, i) => ({
        name: `${f.role}-${i}`,
        role: f.role,
        count: f.count,
        runtime: f.runtime,
        ...(f.role === 'specialist' && firstLead >= 0 ? { reportsTo: `lead-${firstLead}` } : {}),
      })),
      ...x.workers.map((w, i) => ({ name: `worker-${i}`, role: 'worker' as const, weight: w.weight, runtime: w.runtime, capabilities: ['work'] })),
    ];
    return {
      apiVersion: 'flotilla/v1',
      kind: 'Blueprint',
      metadata: {
        id: x.id,
        name: x.name,
        version: x.version,
        ...(x.description !== undefined ? { description: x.description } : {}),
        ...(x.tags !== undefined ? { tags: x.tags } : {}),
      },
      cluster: {
        type: 'project',
        minWorkers: min,
        targetWorkers: target,
        maxWorkers: max,
        placement: { strategy: x.strategy, zoneSpread: x.zoneSpread, requiredLabels: x.labels },
      },
      agents,
    } satisfies Blueprint;
  });

describe('round trips (property)', () => {
  it('generated blueprints are valid', () => {
    fc.assert(fc.property(blueprintArb, (bp) => expect(validateBlueprint(bp)).toEqual(bp)), { numRuns: 100 });
  });

  it('parse → serialize → parse is the identity, in YAML and JSON', () => {
    fc.assert(
      fc.property(blueprintArb, fc.constantFrom('yaml' as const, 'json' as const), (bp, format) => {
        const once = parseBlueprint(serializeBlueprint(bp, format));
        expect(once).toEqual(bp);
        expect(parseBlueprint(serializeBlueprint(once, format), { format })).toEqual(once);
      }),
      { numRuns: 100 },
    );
  });

  it('every example survives a YAML and a JSON round trip', () => {
    for (const file of listYaml(EXAMPLES_DIR)) {
      const bp = parseBlueprint(readExample(file));
      expect(parseBlueprint(serializeBlueprint(bp, 'yaml'))).toEqual(bp);
      expect(parseBlueprint(serializeBlueprint(bp, 'json'))).toEqual(bp);
    }
  });
});
