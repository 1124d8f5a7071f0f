// What every benchmark measures the same way: latency distributions, CPU per process (from
// /proc, so the cost of each part is attributed, PostgreSQL's backends and nats-server included),
// PostgreSQL's own counters, and the table + JSON report.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const CLK_TCK = 100;

export const round = (x: number | null | undefined, digits = 1): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Distribution {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : null);
  return { count: s.length, p50: round(q(0.5), 2), p90: round(q(0.9), 2), p99: round(q(0.99), 2), max: round(s.at(-1), 2) };
}

/** user + system CPU seconds of a process; with `children`, also of its reaped children (PostgreSQL's exited backends). */
export function cpuSeconds(pid: number, children = false): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Resident set size in MiB. */
export function rssMiB(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function listens(pid: number, port: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmd.includes(String(port));
  } catch {
    return false;
  }
}

/** The PostgreSQL postmaster serving `port` (its backends are its children). */
export function postmasterPid(port = 5432): number | undefined {
  const all = pidsNamed('postgres');
  const roots = all.filter((p) => !all.includes(parentOf(p)));
  const pidFile = roots.find((p) => listens(p, port)) ?? roots[0];
  return pidFile;
}

/** The nats-server listening on `port` (the machine's, or the one npm test started). */
export function natsServerPid(port = 4222): number | undefined {
  const all = pidsNamed('nats-server');
  return all.find((p) => listens(p, port)) ?? all.sort((a, b) => a - b)[0];
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * CPU of named processes between two moments. PostgreSQL counts as the postmaster, every live
 * backend and helper (its children), and the backends that exited meanwhile (reaped into the
 * postmaster's children times), so short-lived connections are not lost.
 */
export class CpuMeter {
  private readonly pids = new Map<string, { pid: number; tree: boolean }>();

  add(name: string, pid: number | undefined, opts: { tree?: boolean } = {}): this {
    if (pid) this.pids.set(name, { pid, tree: opts.tree ?? false });
    return this;
  }

  names(): string[] {
    return [...this.pids.keys()];
  }

  snapshot(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, { pid, tree }] of this.pids) {
      let total = cpuSeconds(pid, tree);
      if (tree) for (const child of childrenOf(pid)) total += cpuSeconds(child, true);
      out.set(name, total);
    }
    return out;
  }

  rss(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const [name, { pid, tree }] of this.pids) {
      out[name] = tree ? null : round(rssMiB(pid), 0);
    }
    return out;
  }

  /** CPU seconds each process used since `before`. */
  static delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, v] of after) out[name] = v - (before.get(name) ?? 0);
    return out;
  }
}

/**
 * PostgreSQL backend CPU of one database, by the client that caused it: each backend's
 * application_name (a service names its connections flotilla-<service>; the bench its own), read
 * from /proc. A backend born between two snapshots counts from zero; one that exited is lost
 * (pools keep their connections, so little is).
 */
export class PgBackendMeter {
  private readonly client: pg.Client;
  private readonly database: string;

  constructor(client: pg.Client, database: string) {
    this.client = client;
    this.database = database;
  }

  async snapshot(): Promise<Map<number, { app: string; cpu: number }>> {
    const { rows } = await this.client.query<{ pid: number; app: string }>(
      `SELECT pid, application_name AS app FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
      [this.database],
    );
    return new Map(rows.map((r) => [r.pid, { app: r.app.replace(/^flotilla-/, '').replace(/-listen$/, '') || '(unnamed)', cpu: cpuSeconds(r.pid) }]));
  }

  /** CPU seconds by client between two snapshots. */
  static delta(before: Map<number, { app: string; cpu: number }>, after: Map<number, { app: string; cpu: number }>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [pid, { app, cpu }] of after) out[app] = (out[app] ?? 0) + cpu - (before.get(pid)?.cpu ?? 0);
    return out;
  }
}

/** PostgreSQL's counters for one database: transactions and tuples read. */
export interface PgCounters {
  readonly xacts: number;
  readonly tuples: number;
}

export async function pgCounters(client: pg.Client, database: string): Promise<PgCounters> {
  // Backends flush their statistics at most once a second when idle: wait for that first.
  await sleep(1200);
  const { rows } = await client.query<{ x: string; t: string }>(
    `SELECT (xact_commit + xact_rollback)::text AS x, (tup_returned + tup_fetched)::text AS t FROM pg_stat_database WHERE datname = $1`,
    [database],
  );
  return { xacts: Number(rows[0]?.x ?? 0), tuples: Number(rows[0]?.t ?? 0) };
}

/** A fixed-width table: the first column left-aligned, the others right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (c === null ? '—' : typeof c === 'number' ? c.toLocaleString('en-US') : c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Writes the JSON report under tmp/bench/ and returns its path. */
export function saveReport(repoRoot: string, name: string, report: unknown): string {
  const dir = path.join(repoRoot, 'tmp', 'bench');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  return file;
}

/** Runs `work` from `inFlight` loops until `durationMs` passes; returns latencies (ms) and the count. */
export async function closedLoop(
  inFlight: number,
  durationMs: number,
  work: (slot: number) => Promise<void>,
): Promise<{ latencies: number[]; errors: number; seconds: number; firstError: string | null }> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const until = started + durationMs;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, slot) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await work(slot);
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
          await sleep(5);
        }
      }
    }),
  );
  return { latencies, errors, seconds: (performance.now() - started) / 1000, firstError };
}
