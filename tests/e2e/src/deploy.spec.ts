// The docker-compose deployment, checked without a Docker engine: `docker compose config` (or
// docker-compose, which `npm test` installs when no compose CLI is there) accepts the file, and —
// parsed here, so these always run — every Flotilla service has a health check, a restart policy,
// depends_on with conditions and every setting its config schema reads (from deploy/compose.env or
// its own `environment`, so a new variable cannot be forgotten); Prometheus scrapes every service;
// the Grafana dashboard only queries metrics the code exports and tables the migrations create.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import promClient from 'prom-client';
import { parse } from 'yaml';
import { CONTROL_PLANE_SECRETS, loadConfig, variables } from '@flotilla/config';
import { COMPOSE_NODES, deploymentNatsAuthorization, nodeAgentPasswordVariable, nodeAgentUserName, natsPasswordVariable, SERVICES } from '@flotilla/contracts';

const root = path.resolve(import.meta.dirname, '..', '..', '..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  env_file?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  healthcheck?: {
    test: string[] | string;
    disable?: boolean;
    interval?: string;
    timeout?: string;
    retries?: number;
    start_period?: string;
  };
  restart?: string;
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  ports?: string[];
  init?: boolean;
  stop_grace_period?: string;
  command?: string[] | string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;

/** `${VAR:-default}` / `${VAR}` interpolation as compose does it, with an empty environment. */
const interpolate = (value: string) =>
  value.replace(
    /\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g,
    (_m, _name: string, fallback?: string) => fallback ?? '',
  );

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const i = line.indexOf('=');
    env[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return env;
}

/** The Flotilla services: built from deploy/Dockerfile, keyed by compose name, with their app. */
const flotilla = Object.entries(services)
  .filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile')
  .map(([name, s]) => ({ name, app: s.build!.args!['APP']!, service: s }));

/** What a container of this service sees: its env_file(s), then its `environment`. */
function environmentOf(s: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  for (const file of [s.env_file ?? []].flat()) Object.assign(env, parseEnvFile(read(file)));
  const own = Array.isArray(s.environment)
    ? Object.fromEntries(
        s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      )
    : Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]),
      );
  for (const [k, v] of Object.entries(own)) env[k] = interpolate(v);
  return env;
}

/** Every variable a service reads (its own or '*'). */
function variablesOf(app: string): string[] {
  return Object.entries(variables)
    .filter(([, spec]) => (spec.usedBy as readonly string[]).some((u) => u === '*' || u === app))
    .map(([name]) => name);
}

const portVariable = (app: string) => `${app.replace(/-/g, '_').toUpperCase()}_HTTP_PORT`;

/** Docker's compose plugin, else docker-compose (`npm test` installs it when neither is there). */
const composeCli = [['docker', 'compose'], ['docker-compose']].find(
  ([cmd, ...args]) => spawnSync(cmd!, [...args, 'version'], { encoding: 'utf8', timeout: 20_000 }).status === 0,
);

describe('docker-compose.yml', () => {
  (composeCli ? it : it.skip)(
    `${composeCli ? composeCli.join(' ') : 'docker compose'} config accepts it and resolves every service's settings${composeCli ? '' : ' (skipped: no compose CLI is installed; the structural checks below still run)'}`,
    () => {
      const r = spawnSync(composeCli![0]!, [...composeCli!.slice(1), '-f', 'docker-compose.yml', 'config'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        // Secrets without defaults, as an operator's .env gives them.
        env: { ...process.env, GRAFANA_ADMIN_PASSWORD: 'grafana-admin-secret', GRAFANA_DB_PASSWORD: 'grafana-db-secret' },
      });
      expect([r.status, r.stderr]).toEqual([0, expect.anything()]);
      const resolved = parse(r.stdout) as { services: Record<string, ComposeService> };
      expect(Object.keys(resolved.services).sort()).toEqual(Object.keys(services).sort());
      for (const { name, app } of flotilla) {
        const env = resolved.services[name]!.environment as Record<string, string>;
        const missing = variablesOf(app).filter((v) => !(v in env));
        expect([name, missing]).toEqual([name, []]);
      }
    },
    60_000,
  );

  it('runs every Flotilla service (node agents twice, in two zones) from deploy/Dockerfile', () => {
    expect([...new Set(flotilla.map((f) => f.app))].sort()).toEqual([...SERVICES].sort());
    const agents = flotilla
      .filter((f) => f.app === 'node-agent')
      .map((f) => environmentOf(f.service));
    expect(agents).toHaveLength(2);
    expect(new Set(agents.map((e) => e['NODE_ID'])).size).toBe(2);
    expect(new Set(agents.map((e) => e['NODE_ZONE'])).size).toBe(2);
  });

  it('node agents are given no control-plane secret', () => {
    const agents = flotilla.filter((f) => f.app === 'node-agent');
    expect(agents.length).toBeGreaterThan(0);
    for (const { name, service } of agents) {
      expect([name, service.env_file]).toEqual([name, 'deploy/node-agent.env']);
      const env = environmentOf(service);
      for (const secret of CONTROL_PLANE_SECRETS) expect([name, secret, env[secret]]).toEqual([name, secret, undefined]);
      // Their agents may not reach the control plane's containers (NATS is always denied).
      const deny = loadConfig(env).AGENT_EGRESS_DENY.map((t) => t.text);
      for (const host of ['postgres', 'eventstoredb', 'gateway', 'orchestrator', 'registry'])
        expect([name, deny]).toEqual([name, expect.arrayContaining([host])]);
    }
  });

  it.each(flotilla.map((f) => [f.name, f] as const))(
    '%s: has a health check, a restart policy and depends_on with conditions',
    (_name, { service }) => {
      expect(service.healthcheck?.disable).not.toBe(true);
      expect(service.healthcheck?.test).toEqual(['CMD', 'node', 'healthcheck.mjs']);
      expect(service.restart).toMatch(/^(always|unless-stopped|on-failure)/);
      expect(service.init).toBe(true);
      // Docker's default stop timeout (10 s) would SIGKILL a service still draining (SHUTDOWN_GRACE_MS).
      expect(Number.parseInt(service.stop_grace_period ?? '10', 10) * 1000).toBeGreaterThan(
        Number(variables.SHUTDOWN_GRACE_MS.example),
      );
      expect(Array.isArray(service.depends_on)).toBe(false);
      const deps = Object.entries(
        (service.depends_on ?? {}) as Record<string, { condition: string }>,
      );
      expect(deps.length).toBeGreaterThan(0);
      for (const [dep, { condition }] of deps) {
        expect([dep, dep in services]).toEqual([dep, true]);
        expect(['service_healthy', 'service_started', 'service_completed_successfully']).toContain(
          condition,
        );
        // Waiting for health needs a health check on the other side (its own, or the Flotilla anchor's).
        if (condition === 'service_healthy')
          expect([dep, Boolean(services[dep]!.healthcheck?.test)]).toEqual([dep, true]);
      }
      expect(service.depends_on).toMatchObject({ nats: { condition: 'service_healthy' } });
    },
  );

  it.each(flotilla.map((f) => [f.name, f] as const))(
    '%s: every variable its config schema reads is set, and the result parses',
    (_name, { app, service }) => {
      const env = environmentOf(service);
      expect(variablesOf(app).filter((v) => !(v in env))).toEqual([]);
      expect(() => loadConfig(env)).not.toThrow();
      expect(env[portVariable(app)]).toBeDefined();
    },
  );

  it('connects each Flotilla service to NATS as its own user, with the password the NATS server is given', () => {
    const server = environmentOf(services['nats']!);
    for (const { name, app, service } of flotilla) {
      const env = environmentOf(service);
      // A node agent connects as its own node's user, never a shared one: identity comes from the connection.
      const node = app === 'node-agent' ? env['NODE_ID']! : undefined;
      const variable = node ? nodeAgentPasswordVariable(node) : natsPasswordVariable(app as (typeof SERVICES)[number]);
      expect([name, env['NATS_USER'], env['NATS_PASSWORD']]).toEqual([name, node ? nodeAgentUserName(node) : `flotilla-${app}`, server[variable]]);
      expect([name, (env['NATS_PASSWORD'] ?? '').length >= 8]).toEqual([name, true]);
    }
    // Every node agent's user is in auth.conf, and no user is shared by the node agents.
    const nodes = flotilla.filter((f) => f.app === 'node-agent').map((f) => environmentOf(f.service)['NODE_ID']);
    expect([...nodes].sort()).toEqual([...COMPOSE_NODES].sort());
    expect(read('deploy/nats/auth.conf')).not.toContain('user: "flotilla-node-agent",');
    // The server loads the users: nats.conf includes auth.conf, which the container mounts beside it.
    expect(read('deploy/nats/nats.conf')).toMatch(/^include \.\/auth\.conf$/m);
    expect(services['nats']!.volumes).toContain('./deploy/nats/auth.conf:/etc/nats/auth.conf:ro');
  });

  it('deploy/nats/auth.conf holds the users the permissions define (npm run env:example)', () => {
    const body = read('deploy/nats/auth.conf')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    expect(body).toEqual(deploymentNatsAuthorization());
  });

  it('wires the services to the containers of the stack (NATS, PostgreSQL, EventStoreDB as the event store, Jaeger over OTLP)', () => {
    for (const { name, app, service } of flotilla) {
      const config = loadConfig(environmentOf(service));
      const host = (url: string) => new URL(url).hostname;
      for (const url of config.NATS_URL) expect([name, host(url)]).toEqual([name, 'nats']);
      expect([
        name,
        config.OTEL_ENABLED,
        host(config.OTEL_EXPORTER_OTLP_ENDPOINT),
        new URL(config.OTEL_EXPORTER_OTLP_ENDPOINT).port,
      ]).toEqual([name, true, 'jaeger', '4318']);
      expect([name, config.HTTP_HOST]).toEqual([name, '0.0.0.0']);
      if (variablesOf(app).includes('DATABASE_URL'))
        expect([name, host(config.DATABASE_URL)]).toEqual([name, 'postgres']);
      if (variablesOf(app).includes('EVENT_STORE')) {
        expect([name, config.EVENT_STORE, host(config.EVENTSTORE_URL!)]).toEqual([
          name,
          'eventstoredb',
          'eventstoredb',
        ]);
        expect(services[name]!.depends_on).toMatchObject({
          eventstoredb: { condition: 'service_healthy' },
        });
      }
    }
    expect(services['jaeger']!.ports).toEqual(
      expect.arrayContaining([expect.stringMatching(/:16686:16686$|^16686:16686$/)]),
    );
  });

  it('has no dependency cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, trail: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting')
        throw new Error(`depends_on cycle: ${[...trail, name].join(' → ')}`);
      state.set(name, 'visiting');
      for (const dep of Object.keys(services[name]!.depends_on ?? {})) visit(dep, [...trail, name]);
      state.set(name, 'done');
    };
    expect(() => Object.keys(services).forEach((s) => visit(s, []))).not.toThrow();
  });

  it('mounts only files that exist, and declares every named volume', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const [source] = v.split(':');
        if (source!.startsWith('.'))
          expect([name, source, fs.existsSync(path.join(root, source!))]).toEqual([
            name,
            source,
            true,
          ]);
        else
          expect([name, source, source! in (compose.volumes ?? {})]).toEqual([name, source, true]);
      }
    }
  });

  it('runs NATS from deploy/nats/nats.conf with JetStream on a persistent volume', () => {
    const nats = services['nats']!;
    expect(nats.command).toEqual(['-c', '/etc/nats/nats.conf']);
    expect(nats.volumes).toEqual(
      expect.arrayContaining(['./deploy/nats/nats.conf:/etc/nats/nats.conf:ro', 'nats-data:/data']),
    );
    const conf = read('deploy/nats/nats.conf');
    expect(conf).toMatch(/jetstream\s*\{[^}]*store_dir:\s*\/data\//);
    // A single server has no replicas: it must fsync what it acknowledges.
    expect(conf).toMatch(/sync_interval:\s*always/);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds one image per app on Node 22, installing only the production dependencies the app imports', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22[-.\w]*$/m);
    expect(dockerfile).toContain('node tools/docker/src/app-dependencies.ts "${APP}" --out /stage');
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(fs.existsSync(path.join(root, 'tools/docker/src/app-dependencies.ts'))).toBe(true);
  });

  it('runs as the non-root node user, with a health check and node in exec form (it receives SIGTERM)', () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["node", "healthcheck.mjs"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/main.js"\]$/m);
    expect(runtime).toMatch(/^COPY deploy\/healthcheck.mjs \.\/healthcheck.mjs$/m);
  });

  it("carries the script the Kubernetes init containers derive the node agents' NATS passwords with (/app/nats-node-password.mjs)", () => {
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/^COPY deploy\/nats-node-password.mjs \.\/nats-node-password.mjs$/m);
    expect(fs.existsSync(path.join(root, 'deploy', 'nats-node-password.mjs'))).toBe(true);
  });

  it('the health check knows the port variable of every app', () => {
    const check = read('deploy/healthcheck.mjs');
    for (const app of SERVICES) {
      expect(check).toContain(
        `['${portVariable(app)}', ${variables[portVariable(app) as keyof typeof variables].example}]`,
      );
    }
  });
});

describe('Prometheus and Grafana', () => {
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/flotilla.json')) as Obj;
  const panels = (dashboard['panels'] as Obj[]).filter((p) => p['type'] !== 'row');
  const queries = panels.flatMap((p) =>
    (p['targets'] as Obj[]).map((t) => ({
      panel: p['title'] as string,
      expr: t['expr'] as string | undefined,
      sql: t['rawSql'] as string | undefined,
      ds: t['datasource']?.uid as string,
    })),
  );

  it('Prometheus scrapes every Flotilla container on its HTTP port', () => {
    const targets = prometheus.scrape_configs.flatMap((j) =>
      j.static_configs.flatMap((c) => c.targets),
    );
    for (const { name, app, service } of flotilla) {
      expect(targets).toContain(`${name}:${environmentOf(service)[portVariable(app)]}`);
    }
  });

  it('Grafana has no admin/admin login and no anonymous viewer, and reads the read models as a read-only login', () => {
    const env = services['grafana']!.environment as Record<string, string>;
    expect(env['GF_AUTH_ANONYMOUS_ENABLED']).toBe('false');
    expect(env).not.toHaveProperty('GF_AUTH_ANONYMOUS_ORG_ROLE');
    // A required secret: compose refuses to start without it, rather than fall back to 'admin'.
    expect(env['GF_SECURITY_ADMIN_PASSWORD']).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]*\}$/);
    const datasources = parse(read('deploy/grafana/provisioning/datasources/flotilla.yml')) as {
      datasources: { type: string; user?: string; secureJsonData?: { password?: string } }[];
    };
    const postgres = datasources.datasources.filter((d) => d.type === 'grafana-postgresql-datasource');
    const owner = (services['postgres']!.environment as Record<string, string>)['POSTGRES_USER'];
    expect(postgres.length).toBeGreaterThan(0);
    for (const d of postgres) {
      expect(d.user).toBe('flotilla_grafana');
      expect(d.user).not.toBe(owner);
      expect(d.secureJsonData?.password).toBe('$GRAFANA_DB_PASSWORD');
    }
    expect(env['GRAFANA_DB_PASSWORD']).toMatch(/^\$\{GRAFANA_DB_PASSWORD:\?[^}]*\}$/);
    // The login is created on the database's first start, in the read-only role the migrations grant SELECT to.
    expect(services['postgres']!.volumes).toContain('./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro');
    const init = read('deploy/postgres/initdb/10-grafana-reader.sh');
    expect(init).toMatch(/CREATE ROLE flotilla_grafana LOGIN NOSUPERUSER NOBYPASSRLS [^;]*IN ROLE flotilla_readonly;/);
    expect(init).toContain('ALTER ROLE flotilla_grafana SET default_transaction_read_only = on;');
    expect(read('libs/projections/src/migrations/Migration20261125030000_app_roles.ts')).toContain("READONLY_ROLE = 'flotilla_readonly'");
  });

  it('Grafana is provisioned with the datasources the dashboard uses', () => {
    const datasources = parse(read('deploy/grafana/provisioning/datasources/flotilla.yml')) as {
      datasources: { uid: string; url: string }[];
    };
    const uids = datasources.datasources.map((d) => d.uid);
    for (const q of queries) expect([q.panel, uids.includes(q.ds)]).toEqual([q.panel, true]);
    for (const d of datasources.datasources)
      expect(services).toHaveProperty(d.url.replace(/^https?:\/\//, '').split(':')[0]!);
    const providers = parse(read('deploy/grafana/provisioning/dashboards/flotilla.yml')) as {
      providers: { options: { path: string } }[];
    };
    const mounted = services['grafana']!.volumes!.map((v) => v.split(':'));
    expect(mounted).toEqual(
      expect.arrayContaining([
        ['./deploy/grafana/dashboards', providers.providers[0]!.options.path, 'ro'],
      ]),
    );
  });

  it('the dashboard shows clusters by status, workers, queue depth, task rate and latency, scaling decisions and node health', () => {
    const titles = panels.map((p) => p['title']);
    for (const t of [
      'Clusters by status',
      'Running workers',
      'Queue depth',
      'Task rate',
      'Task latency p95',
      'Scaling decisions',
      'Nodes by status',
      'Heartbeats',
    ]) {
      expect(titles).toContain(t);
    }
  });

  it('the dashboard queries only metrics the code exports', () => {
    // Names registered in the code (string literals starting with flotilla_ next to a metric
    // constructor or the collector's gauge helper), plus prom-client's default process metrics.
    const sources = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory())
          return ['node_modules', 'dist', 'testing'].includes(e.name) ? [] : sources(p);
        return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [p] : [];
      });
    const code = ['apps', 'libs'].flatMap((d) =>
      fs
        .readdirSync(path.join(root, d))
        .flatMap((p) =>
          fs.existsSync(path.join(root, d, p, 'src')) ? sources(path.join(root, d, p, 'src')) : [],
        ),
    );
    const exported = new Set<string>();
    for (const file of code) {
      for (const m of fs
        .readFileSync(file, 'utf8')
        .matchAll(/(?:name:\s*|gauge\()'(flotilla_[a-z0-9_]+)'/g))
        exported.add(m[1]!);
    }
    const registry = new promClient.Registry();
    promClient.collectDefaultMetrics({ register: registry, prefix: 'flotilla_process_' });
    const defaults = (registry.getMetricsAsArray() as { name: string }[]).map((m) => m.name);
    expect(exported.has('flotilla_cluster_queue_depth')).toBe(true);
    const used = new Set(
      queries.flatMap((q) =>
        [...(q.expr ?? '').matchAll(/\bflotilla_[a-z0-9_]+/g)].map((m) => m[0]),
      ),
    );
    const unknown = [...used].filter((name) => {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return !exported.has(name) && !exported.has(base) && !defaults.includes(name);
    });
    expect(unknown).toEqual([]);
    expect(used.size).toBeGreaterThan(10);
  });

  it('the dashboard SQL reads only tables the read-model migrations create', () => {
    const migrations = fs
      .readdirSync(path.join(root, 'libs/projections/src/migrations'))
      .map((f) => fs.readFileSync(path.join(root, 'libs/projections/src/migrations', f), 'utf8'))
      .join('\n');
    const tables = new Set(
      [...migrations.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)].map((m) => m[1]),
    );
    const sql = queries.filter((q) => q.sql);
    expect(sql.length).toBeGreaterThan(0);
    for (const q of sql) {
      for (const m of q.sql!.matchAll(/\bFROM\s+([a-z_]+)/gi))
        expect([q.panel, tables.has(m[1]!)]).toEqual([q.panel, true]);
    }
  });
});
