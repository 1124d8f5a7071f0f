import { setTimeout as delay } from 'node:timers/promises';
// The local stack runner: `npm start` (servers, build, every service and node agents, example
// blueprint, gateway URL), `npm test` (servers, lint, type-check, unit then integration tests,
// one totals line), `npm run stack -- reset` (wipe the data directory).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ProcessGroup } from './processes.ts';
import { dataDirectory, ensureChromium, ensureComposeCli, ensureNats, ensurePostgres, repoRoot, startNatsCluster, type Started } from './servers.ts';
import { summarize } from './totals.ts';

const root = repoRoot();
const log = (msg: string) => process.stdout.write(`[flotilla] ${msg}\n`);

function checkNode(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(`flotilla: Node 22 or newer is required, this is ${process.version}. Run through npm (npm start / npm test).\n`);
    process.exit(1);
  }
}

function nx(args: string[], extraEnv: NodeJS.ProcessEnv = {}): number {
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'nx'), args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: process.env['NX_SKIP_NX_CACHE'], ...extraEnv },
  });
  return r.status ?? 1;
}

async function ensureServers(env: NodeJS.ProcessEnv, natsAuthorization?: string, opts: { skipNats?: boolean } = {}): Promise<Started[]> {
  const dataDir = dataDirectory(env);
  fs.mkdirSync(dataDir, { recursive: true });
  const natsUrl = (env['NATS_URL'] ?? 'nats://127.0.0.1:4222').split(',')[0]!;
  const dbUrl = env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/flotilla';
  const started: Started[] = [];
  try {
    if (!opts.skipNats) started.push(await ensureNats(natsUrl, dataDir, log, natsAuthorization));
    started.push(await ensurePostgres(dbUrl, dataDir, log));
  } catch (err) {
    await stopServers(started);
    throw err;
  }
  return started;
}

async function stopServers(started: Started[]): Promise<void> {
  for (const s of [...started].reverse()) await s.stop();
}

async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      log(`creating database ${name}`);
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    }
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- test

async function test(): Promise<number> {
  const started = await ensureServers(process.env);
  if (!ensureComposeCli(log)) log('no compose CLI (docker compose / docker-compose) and none could be installed: the compose validation test will skip');
  const chromium = ensureChromium(log);
  if (chromium) process.env['CHROMIUM_PATH'] = chromium;
  else log('no chromium and it could not be installed (apt-get install chromium): the dashboard browser tests will fail');
  const resultsDir = path.join(root, 'tmp', 'jest-results');
  fs.rmSync(resultsDir, { recursive: true, force: true });
  const failures: string[] = [];
  try {
    log('lint, type-check and unit tests');
    if (nx(['run-many', '-t', 'lint', 'typecheck', 'test', '--outputStyle=static']) !== 0) failures.push('lint, type-check or unit tests');
    log('integration tests (real NATS and PostgreSQL)');
    if (nx(['run-many', '-t', 'test-int', '--parallel=1', '--outputStyle=static']) !== 0) failures.push('integration tests');
  } finally {
    await stopServers(started);
  }
  const totals = summarize(resultsDir);
  if (failures.length) log(`failed: ${failures.join('; ')}`);
  for (const s of totals.failedSuites) log(`suite failed to run: ${s}`);
  // CI reads this last line.
  process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
  return failures.length || totals.failed ? 1 : 0;
}

// ---------------------------------------------------------------- start

const SERVICES = [
  { name: 'orchestrator', port: 'ORCHESTRATOR_HTTP_PORT' },
  { name: 'registry', port: 'REGISTRY_HTTP_PORT' },
  { name: 'autoscaler', port: 'AUTOSCALER_HTTP_PORT' },
  { name: 'metrics', port: 'METRICS_HTTP_PORT' },
  { name: 'gateway', port: 'GATEWAY_HTTP_PORT' },
] as const;

async function start(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '1' },
      'no-build': { type: 'boolean', default: false },
      'nats-cluster': { type: 'string', default: '1' },
      replicas: { type: 'string', default: '1' },
    },
    allowPositionals: false,
  });
  const nodes = Math.max(0, Number(values.nodes));
  const natsNodes = Math.max(1, Number(values['nats-cluster']));
  const replicas = Math.max(1, Number(values.replicas));
  const env: NodeJS.ProcessEnv = { ...process.env };
  const dataDir = dataDirectory(env);
  // A fresh clone has none yet: the admin key and NATS passwords are kept here.
  fs.mkdirSync(dataDir, { recursive: true });
  env['FLOTILLA_DATA_DIR'] = dataDir;
  env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/flotilla';
  env['FLOTILLA_BOOTSTRAP_ADMIN_KEY'] ??= adminKey(dataDir);
  if (!values['no-build']) {
    log('building');
    if (nx(['run-many', '-t', 'build', '--outputStyle=static']) !== 0) {
      process.stderr.write('[flotilla] build failed\n');
      return 1;
    }
  }
  const nodeIds = Array.from({ length: nodes }, (_, i) => (env['NODE_ID'] && nodes === 1 ? env['NODE_ID'] : `node-${i + 1}`));
  const credentials = await natsCredentials(dataDir, nodeIds);
  let started: Started[];
  if (natsNodes > 1) {
    // Scale-out on one machine: a NATS cluster of its own (streams replicated 3 times) plus PostgreSQL.
    const cluster = await startNatsCluster(natsNodes, Number(env['NATS_CLUSTER_BASE_PORT'] ?? 4250), dataDir, log, credentials.authorization);
    env['NATS_URL'] = cluster.urls.join(',');
    env['NATS_STREAM_REPLICAS'] = String(Math.min(3, natsNodes));
    started = [cluster, ...(await ensureServers(env, undefined, { skipNats: true }))];
  } else {
    started = await ensureServers(env, credentials.authorization);
  }
  const natsAuth = started.some((s) => s.name === 'nats' && s.authenticated);
  const group = new ProcessGroup(path.join(dataDir, 'logs'));
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping services');
    await group.stopAll();
    await stopServers(started);
    log('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  try {
    await ensureDatabase(env['DATABASE_URL']);
    const asUser = (user: string): NodeJS.ProcessEnv => (natsAuth ? { NATS_USER: user, NATS_PASSWORD: credentials.passwords[user] } : {});
    const gateways: string[] = [];
    for (const s of SERVICES) {
      for (let r = 1; r <= replicas; r++) {
        // Extra replicas take free ports, except gateways, which get the next ones (8090, 8100...).
        const ports: NodeJS.ProcessEnv =
          r === 1
            ? {}
            : s.name === 'gateway'
              ? { GATEWAY_HTTP_PORT: String(Number(env['GATEWAY_HTTP_PORT'] ?? 8080) + 10 * (r - 1)), GATEWAY_GRPC_PORT: String(Number(env['GATEWAY_GRPC_PORT'] ?? 50051) + r - 1) }
              : { [s.port]: '0' };
        if (s.name === 'gateway') gateways.push(`http://${env['HTTP_HOST'] ?? '127.0.0.1'}:${ports['GATEWAY_HTTP_PORT'] ?? env['GATEWAY_HTTP_PORT'] ?? 8080}`);
        const name = replicas === 1 ? s.name : `${s.name}-${r}`;
        group.start(name, process.execPath, [path.join(root, 'apps', s.name, 'dist', 'main.js')], { ...env, ...ports, ...asUser(`flotilla-${s.name}`) }, root);
      }
    }
    const zones = ['zone-a', 'zone-b', 'zone-c'];
    const basePort = Number(env['NODE_AGENT_HTTP_PORT'] ?? 8085);
    // Loaded once the build has run (it reads the config library's dist).
    const { LOCAL_NODE_CAPACITY, nodeAgentProcessEnv } = await import('./node-env.ts');
    for (let i = 1; i <= nodes; i++) {
      // Not the runner's whole environment: no bootstrap key, database URL or JWT secret.
      const nodeEnv = nodeAgentProcessEnv(env, {
        NODE_ID: nodeIds[i - 1]!,
        NODE_ZONE: zones[(i - 1) % zones.length],
        NODE_AGENT_HTTP_PORT: String(basePort + i - 1),
        // Simulated nodes share this host: each advertises LOCAL_NODE_CAPACITY (16 cores, 32 GiB)
        // unless told otherwise, so every example blueprint runs at its own maxWorkers on one node.
        NODE_CPU: env['NODE_CPU'] ?? String(LOCAL_NODE_CAPACITY.cpu),
        NODE_MEMORY_MB: env['NODE_MEMORY_MB'] ?? String(LOCAL_NODE_CAPACITY.memoryMb),
        ...asUser(`flotilla-node-agent-${i}`),
      });
      group.start(nodes === 1 ? 'node-agent' : `node-agent-${i}`, process.execPath, [path.join(root, 'apps', 'node-agent', 'dist', 'main.js')], nodeEnv, root);
    }
    const gateway = gateways[0]!;
    await waitReady(gateway, group, 90_000);
    if (gateways.length > 1) log(`gateways: ${gateways.join(', ')}`);
    await loadExampleBlueprint(gateway, env['FLOTILLA_BOOTSTRAP_ADMIN_KEY']);
    log(`Flotilla is up: ${gateway}  (health: ${gateway}/health, API docs: ${gateway}/docs). Ctrl-C stops everything.`);
    log(`admin key (every tenant; create narrower keys with POST /api/admin/keys): export FLOTILLA_API_KEY=${env['FLOTILLA_BOOTSTRAP_ADMIN_KEY']}`);
    if (natsAuth) log(`NATS integrator for tenant 'default' (read-only, its events only): user integrator-default, password ${credentials.passwords['integrator-default']}`);
    await new Promise(() => undefined);
    return 0;
  } catch (err) {
    process.stderr.write(`[flotilla] ${(err as Error).message}\n`);
    await shutdown(1);
    return 1;
  }
}

async function waitReady(gateway: string, group: ProcessGroup, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    // A service that dies is restarted (with backoff); one that cannot be (exit code 78, a bad
    // setting) ends the start.
    if (group.gaveUp.size > 0) throw new Error(`${[...group.gaveUp.keys()].join(', ')} exited and will not be restarted; see its log lines above`);
    try {
      const res = await fetch(`${gateway}/ready`, { signal: AbortSignal.timeout(3000) });
      const body = (await res.json()) as { ready: boolean; down: string[] };
      if (body.ready) return;
      const now = `waiting for: ${body.down.join(', ')}`;
      if (now !== last) log((last = now));
    } catch {
      /* gateway not listening yet */
    }
    await delay(500);
  }
  throw new Error(`the stack did not become ready within ${timeoutMs / 1000} s`);
}

/**
 * NATS users for a server started here: one per service and per node agent (limited to its own
 * node's heartbeat and telemetry subjects), each limited to its subjects, and a read-only
 * integrator of tenant 'default'. Passwords are generated once and kept
 * in the data directory. Loaded from the built contracts library (after the build).
 */
async function natsCredentials(dataDir: string, nodeIds: readonly string[]): Promise<{ authorization: string; passwords: Record<string, string> }> {
  // The specifier is a variable so the runner's type-check does not pull in the library's sources.
  const specifier = '@flotilla/contracts';
  const contracts = (await import(specifier)) as {
    serviceUser(service: string, password: string): { user: string; password: string; permissions: unknown };
    integratorUser(tenant: string, password: string): { user: string; password: string; permissions: unknown };
    nodeAgentUser(nodeId: string, user: string, password: string): { user: string; password: string; permissions: unknown };
    natsAuthorizationConfig(users: readonly unknown[]): string;
  };
  const file = path.join(dataDir, 'nats-users.json');
  const passwords: Record<string, string> = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const password = (user: string) => (passwords[user] ??= randomBytes(18).toString('base64url'));
  const users = [
    ...(['gateway', 'orchestrator', 'registry', 'autoscaler', 'metrics'] as const).map((s) => contracts.serviceUser(s, password(`flotilla-${s}`))),
    // Each node agent speaks only for its own node (heartbeats, telemetry).
    ...nodeIds.map((nodeId, i) => contracts.nodeAgentUser(nodeId, `flotilla-node-agent-${i + 1}`, password(`flotilla-node-agent-${i + 1}`))),
    contracts.integratorUser('default', password('integrator-default')),
  ];
  fs.writeFileSync(file, JSON.stringify(passwords, null, 2), { mode: 0o600 });
  return { authorization: contracts.natsAuthorizationConfig(users), passwords };
}

/** The local stack's bootstrap admin key: generated once, kept in the data directory. */
function adminKey(dataDir: string): string {
  const file = path.join(dataDir, 'admin-key');
  if (!fs.existsSync(file)) fs.writeFileSync(file, `flotilla-local-${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  return fs.readFileSync(file, 'utf8').trim();
}

async function loadExampleBlueprint(gateway: string, key: string | undefined): Promise<void> {
  const file = path.join(root, 'examples', 'blueprints', 'marketing.yaml');
  if (!fs.existsSync(file)) return;
  const res = await fetch(`${gateway}/api/blueprints`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml', ...(key ? { 'x-api-key': key } : {}) },
    body: fs.readFileSync(file),
  }).catch(() => undefined);
  if (!res) return;
  if (res.status === 404) return; // the blueprint API is not served by this build
  if (res.ok || res.status === 409) log(`example blueprint ${path.relative(root, file)} loaded`);
  else log(`loading the example blueprint answered ${res.status}: ${await res.text()}`);
}

// ---------------------------------------------------------------- reset / servers

function reset(): number {
  const dir = dataDirectory();
  if (!dir.startsWith(root) && !process.argv.includes('--force')) {
    process.stderr.write(`refusing to wipe ${dir} outside the repository without --force\n`);
    return 1;
  }
  const pid = path.join(dir, 'postgres', 'postmaster.pid');
  if (fs.existsSync(pid)) {
    process.stderr.write('a PostgreSQL started by the runner is still running from this directory; stop the stack first\n');
    return 1;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  log(`wiped ${dir}`);
  return 0;
}

async function main(): Promise<void> {
  checkNode();
  const [command = 'help', ...rest] = process.argv.slice(2);
  switch (command) {
    case 'start':
      process.exitCode = await start(rest);
      break;
    case 'test':
      process.exitCode = await test();
      break;
    case 'reset':
      process.exitCode = reset();
      break;
    case 'servers': {
      const started = await ensureServers(process.env);
      log(started.some((s) => s.startedHere) ? 'servers started; Ctrl-C stops them' : 'servers already running');
      if (started.some((s) => s.startedHere)) {
        process.on('SIGINT', () => void stopServers(started).then(() => process.exit(0)));
        await new Promise(() => undefined);
      }
      break;
    }
    default:
      process.stdout.write('usage: npm start [-- --nodes N] | npm test | npm run stack -- reset | npm run stack -- servers\n');
      process.exitCode = command === 'help' ? 0 : 1;
  }
}

await main();
