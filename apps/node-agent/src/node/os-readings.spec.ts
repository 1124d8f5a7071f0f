import os from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { OsSampler, type OsProbe } from './os-readings.js';

describe('OsSampler', () => {
  it('computes CPU busy share from the time counters between two samples', async () => {
    let t = { user: 100, nice: 0, sys: 50, idle: 850, irq: 0 };
    const probe: OsProbe = {
      cpus: () => [{ times: t }, { times: t }],
      loadavg: () => [1.234, 1, 1],
      totalmem: () => 1000,
      freemem: () => 250,
      statfs: async () => ({ blocks: 100, bfree: 40, bavail: 30 }),
    };
    const sampler = new OsSampler('/data', probe);
    t = { user: 160, nice: 0, sys: 90, idle: 950, irq: 0 };
    expect(await sampler.sample()).toEqual({
      cpuPercent: 50,
      memoryPercent: 75,
      diskPercent: 66.7,
      loadAvg: 1.23,
      cores: 2,
    });
    // No time passed: no busy share, not a division by zero.
    expect((await sampler.sample()).cpuPercent).toBe(0);
  });

  it('reads the real host within bounds, the disk of the nearest existing directory', async () => {
    const sampler = new OsSampler(`${os.tmpdir()}/flotilla-not-created-yet/node-agent`);
    await new Promise((r) => setTimeout(r, 50));
    const r = await sampler.sample();
    expect(r.cores).toBe(os.cpus().length);
    for (const pct of [r.cpuPercent, r.memoryPercent, r.diskPercent]) {
      expect(pct).toBeGreaterThanOrEqual(0);
      expect(pct).toBeLessThanOrEqual(100);
    }
    expect(r.memoryPercent).toBeGreaterThan(0);
    expect(r.diskPercent).toBeGreaterThan(0);
    expect(r.loadAvg).toBeGreaterThanOrEqual(0);
  });
});
