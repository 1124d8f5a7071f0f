// Runs each service as a child in its own process group, prefixes and colours its JSON log lines,
// keeps a raw copy under <data>/logs, and stops every child (SIGTERM, then SIGKILL) on the way out.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const COLORS = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];
const LEVEL_COLORS: Record<string, number> = { error: 31, fatal: 31, warn: 33, info: 0, debug: 90, trace: 90 };
const useColor = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number, s: string) => (useColor && code ? `\x1b[${code}m${s}\x1b[0m` : s);

export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

export class ProcessGroup {
  private readonly procs: ServiceProcess[] = [];
  private color = 0;

  private readonly logDir: string;

  constructor(logDir: string) {
    this.logDir = logDir;
    fs.mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): ServiceProcess {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const color = COLORS[this.color++ % COLORS.length]!;
    const prefix = paint(color, `[${name}]`.padEnd(15));
    const raw = fs.createWriteStream(path.join(this.logDir, `${name}.log`), { flags: 'a' });
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        raw.write(`${line}\n`);
        process.stdout.write(`${prefix} ${pretty(line)}\n`);
      });
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (raw.end(), resolve(code))));
    const proc = { name, child, exited };
    this.procs.push(proc);
    return proc;
  }

  get started(): number {
    return this.procs.length;
  }

  get running(): ServiceProcess[] {
    return this.procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  }

  /** SIGTERM every process group, wait up to graceMs, then SIGKILL what is left. */
  async stopAll(graceMs = 12_000): Promise<void> {
    const alive = this.running;
    for (const p of alive) signalGroup(p.child, 'SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    await Promise.race([Promise.all(alive.map((p) => p.exited)), timeout]);
    for (const p of this.running) signalGroup(p.child, 'SIGKILL');
    await Promise.all(this.procs.map((p) => p.exited));
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
