import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { nodeAgentEnvironment } from '@flotilla/config';

/** The repository root (where apps/<name>/dist/main.js live once built). */
export const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');

export type AppName = 'gateway' | 'orchestrator' | 'registry' | 'autoscaler' | 'metrics' | 'node-agent';

/** Ports this process has handed out (a service may not have bound one yet). */
const handedOut = new Set<number>();

/** The kernel's ephemeral range: the local ports outgoing connections take. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // Not Linux: the IANA range.
  }
  return [49152, 65535];
}

/** Whether nothing listens on `port` of 127.0.0.1 now (and, with 0, which port the kernel chose). */
function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const chosen = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(chosen));
    });
  });
}

/**
 * A port for a service under test to listen on. Taken below the kernel's ephemeral range: a port
 * from that range (what `listen(0)` answers) can be taken, between this check and the service's
 * own bind, as the local port of any outgoing connection on the machine (to PostgreSQL, to NATS),
 * which made a service fail at start with EADDRINUSE on a busy run. A port is handed out once
 * per process, and one that something listens on is skipped.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const low = 10_000;
  const high = ephemeralLow - 1;
  if (high - low < 1000) {
    const port = await tryListen(0);
    if (port === null) throw new Error('no free port');
    return port;
  }
  const span = high - low + 1;
  // Each process walks up from its own point of the range (a different one per process id), so
  // two test processes running at once hand out different ports.
  const start = (process.pid * 7919) % span;
  for (let i = handedOut.size; i < span + handedOut.size; i++) {
    const port = low + ((start + i) % span);
    if (handedOut.has(port)) continue;
    if ((await tryListen(port)) !== null) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${low}-${high}`);
}

/**
 * A service running as its own OS process from its built `dist/main.js`, as in production.
 * Its JSON log lines are kept (and printed when FLOTILLA_TEST_LOGS=1) so a failing test can
 * show what the service said.
 */
export class ServiceProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(
    readonly app: AppName,
    readonly label: string,
    env: NodeJS.ProcessEnv,
  ) {
    const main = path.join(repoRoot, 'apps', app, 'dist', 'main.js');
    // A node agent gets what it reads and nothing else, as in the deployments: no control-plane
    // secret (database URL, bootstrap key, JWT secret) reaches the process that runs agents.
    const full = { ...process.env, ...env };
    this.child = spawn(process.execPath, [main], { env: app === 'node-agent' ? nodeAgentEnvironment(full) : full, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        if (process.env['FLOTILLA_TEST_LOGS']) process.stdout.write(`[${label}] ${line}\n`);
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when a log line matches (by default the service's "<app> ready" line). */
  async waitFor(pattern: RegExp = new RegExp(`"msg":"${this.app} ready"`), timeoutMs = 30_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < until) {
      for (; seen < this.lines.length; seen++) {
        if (pattern.test(this.lines[seen]!)) return this.lines[seen]!;
      }
      if (!this.running) throw new Error(`${this.label} exited before ${pattern}:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.label}: no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }
}

export function startService(app: AppName, env: NodeJS.ProcessEnv, label: string = app): ServiceProcess {
  if (app !== 'node-agent' || env['FLOTILLA_DATA_DIR']) return new ServiceProcess(app, label, env);
  // A node agent keeps state on disk: give it a directory of its own, removed when it exits.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `flotilla-${label}-`));
  const proc = new ServiceProcess(app, label, { ...env, FLOTILLA_DATA_DIR: dataDir });
  void proc.exited.then(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return proc;
}

/** A bootstrap admin key for the gateways a test starts (FLOTILLA_BOOTSTRAP_ADMIN_KEY). */
export const TEST_ADMIN_KEY = `test-admin-${process.pid}-${Math.random().toString(36).slice(2)}-${Date.now()}`;

/** fetch() against a gateway, authenticated with TEST_ADMIN_KEY unless `apiKey` says otherwise. */
export function api(baseUrl: string, apiKey: string | null = TEST_ADMIN_KEY) {
  // Replies are asserted field by field in tests, so the body is deliberately untyped.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> => {
    const h: Record<string, string> = { ...headers };
    if (apiKey) h['x-api-key'] = apiKey;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= typeof body === 'string' ? 'application/yaml' : 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* Markdown or empty */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
