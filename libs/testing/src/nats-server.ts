import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './services.js';

export interface PrivateNatsServer {
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (what `wipe` deletes). */
  readonly storeDir: string;
  running(): boolean;
  /** Kills the server (SIGKILL by default, as a crash would) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Deletes every stream, consumer and KV bucket on disk (the server must be down). */
  wipe(): void;
  /** Starts the server again on the same port and store directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function natsServerBinary(): string {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/bin', '/usr/bin']) {
    const p = path.join(dir, 'nats-server');
    if (dir && fs.existsSync(p)) return p;
  }
  throw new Error('nats-server is not installed (npm test installs it when NATS is absent)');
}

/**
 * A nats-server of the test's own, on a free loopback port with JetStream and the given extra
 * configuration (users and permissions, say), for tests that need server-side behaviour the
 * shared server is not configured for. `env` adds to the server's environment (what `$VAR`
 * references in the configuration resolve to).
 */
export async function startNatsServer(extraConfig = '', opts: { env?: Record<string, string> } = {}): Promise<PrivateNatsServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-nats-'));
  const conf = path.join(dir, 'nats.conf');
  const storeDir = path.join(dir, 'js');
  fs.writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(storeDir)} }\n${extraConfig}`);
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (!child || !running()) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const start = async () => {
    child = spawn(natsServerBinary(), ['-c', conf], { stdio: 'ignore', env: { ...process.env, ...opts.env } });
    const until = Date.now() + 10_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (up) return;
      if (Date.now() > until || child.exitCode !== null) {
        if (child.exitCode === null) child.kill('SIGKILL');
        throw new Error(`nats-server did not start on ${port}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await start();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    running,
    kill,
    wipe: () => {
      if (running()) throw new Error('stop the NATS server before wiping its store');
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
    restart: start,
    stop: async () => {
      await kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateNatsCluster {
  /** Client URLs of every node, for NATS_URL. */
  readonly urls: string[];
  readonly nodes: { readonly name: string; readonly url: string; running(): boolean; kill(signal?: NodeJS.Signals): Promise<void>; restart(): Promise<void> }[];
  stop(): Promise<void>;
}

async function waitPort(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * A NATS cluster of `size` servers with clustered JetStream on loopback ports, for tests that
 * kill a server mid-run. Streams created with 3 replicas survive one node.
 */
export async function startNatsCluster(size = 3): Promise<PrivateNatsCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-natsc-'));
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const bin = natsServerBinary();
  const nodes = ports.map((port, i) => {
    const name = `n${i + 1}`;
    const conf = path.join(dir, `${name}.conf`);
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    fs.writeFileSync(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${port}`,
        `jetstream { store_dir: ${JSON.stringify(path.join(dir, name))} }`,
        `cluster { name: flotilla-test, listen: 127.0.0.1:${clusterPorts[i]}, routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}] }`,
      ].join('\n'),
    );
    let child: ChildProcess | undefined;
    const start = async () => {
      child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
      if (!(await waitPort(port, 10_000))) throw new Error(`NATS node ${name} did not start`);
    };
    return {
      name,
      url: `nats://127.0.0.1:${port}`,
      start,
      running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill(signal);
        await exited;
      },
      restart: async () => start(),
    };
  });
  await Promise.all(nodes.map((n) => n.start()));
  // JetStream elects its meta leader after the routes connect; give it a moment to settle.
  await new Promise((r) => setTimeout(r, 2500));
  return {
    urls: nodes.map((n) => n.url),
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
