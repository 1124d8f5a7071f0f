import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface Readings {
  readonly cpuPercent: number;
  readonly memoryPercent: number;
  readonly diskPercent: number;
  readonly loadAvg: number;
  readonly cores: number;
}

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** What the sampler reads; the OS by default, fixed figures in tests. */
export interface OsProbe {
  cpus(): { times: { user: number; nice: number; sys: number; idle: number; irq: number } }[];
  loadavg(): number[];
  totalmem(): number;
  freemem(): number;
  statfs(path: string): Promise<{ blocks: number; bfree: number; bavail: number }>;
}

export const systemProbe: OsProbe = {
  cpus: () => os.cpus(),
  loadavg: () => os.loadavg(),
  totalmem: () => os.totalmem(),
  freemem: () => os.freemem(),
  statfs: (p) => fs.statfs(p),
};

function cpuTimes(probe: OsProbe): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of probe.cpus()) {
    const b = times.user + times.nice + times.sys + times.irq;
    busy += b;
    total += b + times.idle;
  }
  return { busy, total };
}

const clampPct = (x: number): number =>
  Number.isFinite(x) ? Math.min(100, Math.max(0, Math.round(x * 10) / 10)) : 0;

/**
 * Real readings of this host for the heartbeat: CPU busy share since the previous sample (from
 * the kernel's per-core time counters), memory in use (total − available), the disk holding the
 * data directory (as `df` counts it: used / (used + available to users)), and the one-minute
 * load average.
 */
export class OsSampler {
  private previous: CpuTimes;

  constructor(
    private readonly diskPath: string,
    private readonly probe: OsProbe = systemProbe,
  ) {
    this.previous = cpuTimes(probe);
  }

  /** The file system of the data directory, or of its nearest existing parent (before the first write). */
  private async diskStats(): Promise<{ blocks: number; bfree: number; bavail: number } | null> {
    for (let dir = path.resolve(this.diskPath); ; dir = path.dirname(dir)) {
      try {
        return await this.probe.statfs(dir);
      } catch {
        if (dir === path.dirname(dir)) return null;
      }
    }
  }

  async sample(): Promise<Readings> {
    const now = cpuTimes(this.probe);
    const dTotal = now.total - this.previous.total;
    const dBusy = now.busy - this.previous.busy;
    this.previous = now;
    const total = this.probe.totalmem();
    const s = await this.diskStats();
    const used = s ? s.blocks - s.bfree : 0;
    const diskPercent = s && used + s.bavail > 0 ? (used / (used + s.bavail)) * 100 : 0;
    return {
      cpuPercent: clampPct(dTotal > 0 ? (dBusy / dTotal) * 100 : 0),
      memoryPercent: clampPct(total > 0 ? ((total - this.probe.freemem()) / total) * 100 : 0),
      diskPercent: clampPct(diskPercent),
      loadAvg: Math.max(0, Math.round((this.probe.loadavg()[0] ?? 0) * 100) / 100),
      cores: Math.max(1, this.probe.cpus().length),
    };
  }
}
