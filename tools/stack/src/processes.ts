// Runs each service as a child in its own process group, prefixes and colours its JSON log lines,
// keeps a raw copy under <data>/logs, restarts a service that dies on its own (RestartPolicy:
// exponential backoff, logged with the exit code or signal and the restart count), and stops
// every child (SIGTERM, then SIGKILL) on the way out, restarting nothing while it does.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { describeExit, RestartPolicy, type RestartPolicyOptions } from './restart-policy.ts';

const COLORS = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];
const LEVEL_COLORS: Record<string, number> = { error: 31, fatal: 31, warn: 33, info: 0, debug: 90, trace: 90 };
const useColor = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number, s: string) => (useColor && code ? `\x1b[${code}m${s}\x1b[0m` : s);

/** One supervised service: its current child (a new one after each restart). */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Settles when the current child exits. */
  readonly exited: Promise<void>;
  /** Restarts so far. */
  readonly restarts: number;
}

interface ServiceSpec {
  readonly name: string;
  readonly command: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly prefix: string;
  readonly raw: fs.WriteStream;
  readonly policy: RestartPolicy;
}

class Supervised implements ServiceProcess {
  readonly spec: ServiceSpec;
  child!: ChildProcess;
  exited: Promise<void> = Promise.resolve();
  startedAt = 0;
  /** Between spawning the current child and its exit (or failure to start). */
  alive = false;
  restartTimer: NodeJS.Timeout | undefined;

  constructor(spec: ServiceSpec) {
    this.spec = spec;
  }

  get name(): string {
    return this.spec.name;
  }

  get restarts(): number {
    return this.spec.policy.restarts;
  }
}

export interface ProcessGroupOptions {
  readonly restart?: Partial<RestartPolicyOptions>;
  /** Where the group says what it does (restarts, give-ups); the runner's `[flotilla]` lines by default. */
  readonly log?: (message: string) => void;
  /** Copy each child's lines to the runner's stdout (default true). */
  readonly echo?: boolean;
}

export class ProcessGroup {
  private readonly procs: Supervised[] = [];
  private color = 0;
  private stopping = false;
  private readonly logDir: string;
  private readonly options: ProcessGroupOptions;
  private readonly log: (message: string) => void;
  /** Services that died and will not be restarted (a configuration error), with why. */
  readonly gaveUp = new Map<string, string>();

  constructor(logDir: string, options: ProcessGroupOptions = {}) {
    this.logDir = logDir;
    this.options = options;
    this.log = options.log ?? ((message) => process.stdout.write(`[flotilla] ${message}\n`));
    fs.mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): ServiceProcess {
    const color = COLORS[this.color++ % COLORS.length]!;
    const proc = new Supervised({
      name,
      command,
      args,
      env,
      cwd,
      prefix: paint(color, `[${name}]`.padEnd(15)),
      raw: fs.createWriteStream(path.join(this.logDir, `${name}.log`), { flags: 'a' }),
      policy: new RestartPolicy(this.options.restart),
    });
    this.spawn(proc);
    this.procs.push(proc);
    return proc;
  }

  private spawn(proc: Supervised): void {
    const { command, args, cwd, env, prefix, raw } = proc.spec;
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.child = child;
    proc.alive = true;
    proc.startedAt = performance.now();
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        raw.write(`${line}\n`);
        if (this.options.echo !== false) process.stdout.write(`${prefix} ${pretty(line)}\n`);
      });
    }
    proc.exited = new Promise<void>((resolve) => {
      let settled = false;
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        proc.alive = false;
        resolve();
        this.onExit(proc, { code, signal, uptimeMs: performance.now() - proc.startedAt });
      };
      child.once('exit', done);
      // A command that cannot be spawned at all emits 'error' (and possibly no 'exit').
      child.once('error', (err) => {
        raw.write(`[flotilla] cannot start ${command}: ${err.message}\n`);
        done(child.exitCode ?? 127, null);
      });
    });
  }

  private onExit(proc: Supervised, exit: { code: number | null; signal: NodeJS.Signals | null; uptimeMs: number }): void {
    const decision = proc.spec.policy.decide(exit, this.stopping);
    if (this.stopping) return;
    const ran = `after ${(exit.uptimeMs / 1000).toFixed(1)} s`;
    if (!decision.restart) {
      this.gaveUp.set(proc.name, decision.reason);
      this.log(`${proc.name} exited (${describeExit(exit)}) ${ran}; not restarting it: ${decision.reason}`);
      return;
    }
    this.log(
      `${proc.name} exited (${describeExit(exit)}) ${ran}; restarting it in ${(decision.delayMs / 1000).toFixed(1)} s (restart ${decision.restarts}${decision.restarts > 1 ? `, ${decision.restarts - 1} before` : ''})`,
    );
    proc.restartTimer = setTimeout(() => {
      proc.restartTimer = undefined;
      if (!this.stopping) this.spawn(proc);
    }, decision.delayMs);
  }

  get started(): number {
    return this.procs.length;
  }

  get running(): ServiceProcess[] {
    return this.procs.filter((p) => p.alive);
  }

  /** No more restarts; SIGTERM every process group, wait up to graceMs, then SIGKILL what is left. */
  async stopAll(graceMs = 12_000): Promise<void> {
    this.stopping = true;
    for (const p of this.procs) {
      clearTimeout(p.restartTimer);
      p.restartTimer = undefined;
    }
    const alive = this.running;
    for (const p of alive) signalGroup(p.child, 'SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    await Promise.race([Promise.all(alive.map((p) => p.exited)), timeout]);
    for (const p of this.running) signalGroup(p.child, 'SIGKILL');
    await Promise.all(this.procs.map((p) => p.exited));
    for (const p of this.procs) p.spec.raw.end();
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function pretty(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const { level, time, msg, service: _s, instance: _i, context, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const t = typeof time === 'string' ? time.slice(11, 23) : '';
    const lvl = String(level ?? 'info');
    const extra = Object.keys(rest).length ? ` ${paint(90, JSON.stringify(rest))}` : '';
    const ctx = context ? paint(90, `${String(context)}: `) : '';
    return `${paint(90, t)} ${paint(LEVEL_COLORS[lvl] ?? 0, lvl.padEnd(5))} ${ctx}${String(msg ?? '')}${extra}`;
  } catch {
    return line;
  }
}
