import { setTimeout as delay } from 'node:timers/promises';
// Makes sure NATS (with JetStream) and PostgreSQL are reachable, reusing running servers and
// otherwise installing (Debian/Ubuntu packages) and starting private ones whose data lives under
// the runner's data directory. Whatever this module starts, it also stops.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export type Log = (msg: string) => void;

export interface Started {
  readonly name: string;
  readonly startedHere: boolean;
  /** A NATS server started here with one user per service (credentials to pass on). */
  readonly authenticated?: boolean;
  stop(): Promise<void>;
}

export function isReachable(host: string, port: number, timeoutMs = 700): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await isReachable(host, port, 300)) return true;
    await delay(150);
  }
  return false;
}

const isRoot = () => process.getuid?.() === 0;

function which(cmd: string, extra: string[] = []): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin', ...extra]) {
    const p = path.join(dir, cmd);
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

let aptUpdated = false;
/** Installs Debian packages (root, or passwordless sudo); returns false when it cannot. */
function aptInstall(packages: string[], log: Log): boolean {
  const apt = which('apt-get');
  if (!apt) return false;
  const prefix = isRoot() ? [] : which('sudo') ? ['sudo', '-n'] : undefined;
  if (!prefix) return false;
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...prefix, apt, ...args];
    return spawnSync(cmd!, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  };
  log(`installing ${packages.join(', ')} from the OS packages`);
  if (!aptUpdated) {
    run(['update', '-qq']);
    aptUpdated = true;
  }
  return run(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
}

/** The command that runs `<compose> config`: Docker's compose plugin, else docker-compose. */
export function composeCommand(): string[] | undefined {
  const works = (cmd: string[]) => spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
  if (which('docker') && works(['docker', 'compose'])) return ['docker', 'compose'];
  if (which('docker-compose') && works(['docker-compose'])) return ['docker-compose'];
  return undefined;
}

/**
 * The deployment tests validate docker-compose.yml with the compose CLI (no Docker engine is
 * needed for `config`). Installs Debian's docker-compose when no compose CLI is there; returns
 * false when it cannot, and the tests say they skipped that check.
 */
export function ensureComposeCli(log: Log): boolean {
  if (composeCommand()) return true;
  return aptInstall(['docker-compose'], log) && composeCommand() !== undefined;
}

/**
 * The dashboard's browser tests drive Debian's Chromium (playwright-core cannot download browsers
 * here). Installs the `chromium` package when it is missing; returns its path, or undefined.
 */
export function ensureChromium(log: Log): string | undefined {
  const found = which('chromium');
  if (found) return found;
  if (!aptInstall(['chromium'], log)) return undefined;
  return which('chromium');
}

function parseHostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

// ---------------------------------------------------------------- NATS

/**
 * `authorization` is a nats-server config block (users and their permissions) used only when a
 * server is started here; a server that is already running keeps its own configuration.
 */
export async function ensureNats(natsUrl: string, dataDir: string, log: Log, authorization?: string): Promise<Started> {
  const { host, port } = parseHostPort(natsUrl, 4222);
  if (await isReachable(host, port)) {
    await assertJetStream(host, port);
    log(`NATS: reusing ${host}:${port}`);
    return { name: 'nats', startedHere: false, stop: async () => undefined };
  }
  let bin = which('nats-server');
  if (!bin && aptInstall(['nats-server'], log)) bin = which('nats-server');
  if (!bin) throw new Error(`NATS is not reachable at ${host}:${port} and nats-server could not be installed`);
  const dir = path.join(dataDir, 'nats');
  fs.mkdirSync(dir, { recursive: true });
  log(`NATS: starting ${bin} on ${host}:${port} with JetStream in ${dir}${authorization ? ', one user per service' : ''}`);
  const conf = path.join(dir, 'nats.conf');
  fs.writeFileSync(
    conf,
    `listen: ${JSON.stringify(`${host}:${port}`)}\njetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }\nlog_file: ${JSON.stringify(path.join(dir, 'nats.log'))}\n${authorization ?? ''}`,
    { mode: 0o600 },
  );
  const child = spawn(bin, ['-c', conf], { detached: true, stdio: 'ignore' });
  child.unref();
  fs.writeFileSync(path.join(dir, 'nats.pid'), String(child.pid));
  if (!(await waitReachable(host, port, 15_000))) throw new Error(`nats-server did not start; see ${dir}/nats.log`);
  await assertJetStream(host, port);
  return {
    name: 'nats',
    startedHere: true,
    authenticated: Boolean(authorization),
    stop: async () => {
      log('NATS: stopping the server started here');
      try {
        process.kill(child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const until = Date.now() + 5000;
      while (Date.now() < until && (await isReachable(host, port, 200))) await delay(100);
    },
  };
}

/**
 * A NATS cluster of `size` servers with clustered JetStream, started here (ports from `basePort`,
 * routes from `basePort + 2000`), for running the stack as it would run across machines.
 */
export async function startNatsCluster(size: number, basePort: number, dataDir: string, log: Log, authorization?: string): Promise<Started & { urls: string[] }> {
  let bin = which('nats-server');
  if (!bin && aptInstall(['nats-server'], log)) bin = which('nats-server');
  if (!bin) throw new Error('nats-server is not installed and could not be installed');
  const children: import('node:child_process').ChildProcess[] = [];
  const urls: string[] = [];
  for (let i = 0; i < size; i++) {
    const port = basePort + i;
    if (await isReachable('127.0.0.1', port)) throw new Error(`port ${port} is taken; set NATS_CLUSTER_BASE_PORT`);
    const dir = path.join(dataDir, 'nats-cluster', `n${i + 1}`);
    fs.mkdirSync(dir, { recursive: true });
    const routes = Array.from({ length: size }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => JSON.stringify(`nats://127.0.0.1:${basePort + 2000 + j}`));
    const conf = path.join(dir, 'nats.conf');
    fs.writeFileSync(
      conf,
      [
        `server_name: n${i + 1}`,
        `listen: 127.0.0.1:${port}`,
        `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }`,
        `cluster { name: flotilla, listen: 127.0.0.1:${basePort + 2000 + i}, routes: [${routes.join(', ')}] }`,
        `log_file: ${JSON.stringify(path.join(dir, 'nats.log'))}`,
        authorization ?? '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const child = spawn(bin, ['-c', conf], { detached: true, stdio: 'ignore' });
    child.unref();
    children.push(child);
    urls.push(`nats://127.0.0.1:${port}`);
  }
  for (let i = 0; i < size; i++) {
    if (!(await waitReachable('127.0.0.1', basePort + i, 15_000))) throw new Error(`NATS cluster node n${i + 1} did not start`);
  }
  log(`NATS: a ${size}-node cluster with JetStream on ${urls.join(', ')}`);
  return {
    name: 'nats',
    startedHere: true,
    authenticated: Boolean(authorization),
    urls,
    stop: async () => {
      log('NATS: stopping the cluster started here');
      for (const c of children) {
        try {
          process.kill(c.pid!, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      await delay(500);
    },
  };
}

async function assertJetStream(host: string, port: number): Promise<void> {
  // INFO is the first line a NATS server sends; it says whether JetStream is on.
  const info = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host, port });
    let buf = '';
    s.setTimeout(2000, () => (s.destroy(), reject(new Error('no INFO from NATS'))));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', reject);
  });
  if (!/"jetstream":\s*true/.test(info)) {
    throw new Error(`NATS at ${host}:${port} runs without JetStream; restart it with -js`);
  }
}

// ---------------------------------------------------------------- PostgreSQL

function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** initdb and the server refuse to run as root; run them as the `postgres` user then. */
function asPostgres(cmd: string, args: string[]): { status: number | null; output: string } {
  const full = isRoot() ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
  const r = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export async function ensurePostgres(databaseUrl: string, dataDir: string, log: Log): Promise<Started> {
  const { host, port } = parseHostPort(databaseUrl, 5432);
  if (await isReachable(host, port)) {
    log(`PostgreSQL: reusing ${host}:${port}`);
    return { name: 'postgres', startedHere: false, stop: async () => undefined };
  }
  let bin = pgBinDir();
  if (!bin && aptInstall(['postgresql'], log)) {
    bin = pgBinDir();
    // The package may have started its own cluster on the default port: use it if so.
    if (await waitReachable(host, port, 3000)) {
      log(`PostgreSQL: reusing the server the package started on ${host}:${port}`);
      return { name: 'postgres', startedHere: false, stop: async () => undefined };
    }
  }
  if (!bin) throw new Error(`PostgreSQL is not reachable at ${host}:${port} and could not be installed`);
  const dir = path.resolve(dataDir, 'postgres');
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    fs.mkdirSync(dir, { recursive: true });
    if (isRoot()) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    fs.chmodSync(dir, 0o700);
    log(`PostgreSQL: initdb in ${dir}`);
    const init = asPostgres(path.join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.output}`);
  }
  log(`PostgreSQL: starting ${bin}/postgres on ${host}:${port} with data in ${dir}`);
  const opts = `-c listen_addresses=${host} -p ${port} -k ${dir} -c fsync=on -c max_connections=300`;
  const start = asPostgres(path.join(bin, 'pg_ctl'), ['-D', dir, '-l', path.join(dir, 'server.log'), '-o', opts, '-w', '-t', '30', 'start']);
  if (start.status !== 0) throw new Error(`PostgreSQL did not start:\n${start.output}\nsee ${dir}/server.log`);
  if (!(await waitReachable(host, port, 10_000))) throw new Error(`PostgreSQL started but ${host}:${port} is not reachable`);
  return {
    name: 'postgres',
    startedHere: true,
    stop: async () => {
      log('PostgreSQL: stopping the server started here');
      asPostgres(path.join(bin!, 'pg_ctl'), ['-D', dir, '-m', 'fast', '-w', 'stop']);
    },
  };
}

export function dataDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['FLOTILLA_DATA_DIR'] ?? path.join(repoRoot(), '.flotilla'));
}

export function repoRoot(): string {
  return path.resolve(import.meta.dirname, '..', '..', '..');
}

export const hostName = os.hostname();
