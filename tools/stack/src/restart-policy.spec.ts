import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { eventually } from '@flotilla/testing/eventually';
import { ProcessGroup } from './processes.ts';
import { describeExit, RestartPolicy } from './restart-policy.ts';

const crash = (uptimeMs = 100) => ({ code: 1, signal: null, uptimeMs });

describe('npm start restarts a service that dies (RestartPolicy)', () => {
  it('backs off exponentially from 1 s to at most 30 s, counting restarts', () => {
    const policy = new RestartPolicy();
    const delays = Array.from({ length: 8 }, () => {
      const d = policy.decide(crash(), false);
      return d.restart ? d.delayMs : -1;
    });
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(policy.restarts).toBe(8);
  });

  it('starts the backoff over after a run that lasted resetAfterMs', () => {
    const policy = new RestartPolicy({ resetAfterMs: 60_000 });
    policy.decide(crash(), false);
    policy.decide(crash(), false);
    expect(policy.decide(crash(), false)).toEqual({ restart: true, delayMs: 4000, restarts: 3 });
    expect(policy.decide(crash(61_000), false)).toEqual({ restart: true, delayMs: 1000, restarts: 4 });
  });

  it('restarts nothing while the runner stops, nor after exit code 78 (a configuration error)', () => {
    const policy = new RestartPolicy();
    expect(policy.decide(crash(), true)).toMatchObject({ restart: false });
    expect(policy.decide({ code: 78, signal: null, uptimeMs: 50 }, false)).toMatchObject({ restart: false, reason: expect.stringContaining('configuration') });
    expect(policy.decide({ code: null, signal: 'SIGKILL', uptimeMs: 50 }, false)).toMatchObject({ restart: true });
    expect(policy.restarts).toBe(1);
  });

  it('describes an exit by its code or its signal', () => {
    expect(describeExit({ code: 1, signal: null })).toBe('exit code 1');
    expect(describeExit({ code: null, signal: 'SIGKILL' })).toBe('signal SIGKILL');
  });
});

describe('ProcessGroup supervises real processes', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const group = (lines: string[]) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-'));
    dirs.push(dir);
    return new ProcessGroup(dir, { restart: { initialDelayMs: 20, maxDelayMs: 80 }, log: (m) => lines.push(m), echo: false });
  };

  it('restarts a service that dies, logging which one, its exit code and the restart count', async () => {
    const lines: string[] = [];
    const g = group(lines);
    const proc = g.start('crasher', process.execPath, ['-e', 'process.exit(3)'], process.env, process.cwd());
    await eventually(() => proc.restarts >= 3, { timeoutMs: 5000, intervalMs: 10, what: '3 restarts of crasher' });
    await g.stopAll(2000);
    expect(lines[0]).toMatch(/^crasher exited \(exit code 3\) after [\d.]+ s; restarting it in 0\.0 s \(restart 1\)$/);
    expect(lines[2]).toMatch(/^crasher exited \(exit code 3\) after [\d.]+ s; restarting it in 0\.1 s \(restart 3, 2 before\)$/);
    expect(g.gaveUp.size).toBe(0);
  });

  it('names a signal, and gives up on exit code 78', async () => {
    const lines: string[] = [];
    const g = group(lines);
    const killed = g.start('victim', process.execPath, ['-e', "process.kill(process.pid, 'SIGKILL')"], process.env, process.cwd());
    g.start('misconfigured', process.execPath, ['-e', 'process.exit(78)'], process.env, process.cwd());
    await eventually(() => killed.restarts >= 1 && g.gaveUp.has('misconfigured'), { timeoutMs: 5000, intervalMs: 10, what: 'a restart of victim, and misconfigured given up' });
    await g.stopAll(2000);
    expect(lines.some((l) => /^victim exited \(signal SIGKILL\)/.test(l))).toBe(true);
    expect(lines.some((l) => /^misconfigured exited \(exit code 78\) .*not restarting it/.test(l))).toBe(true);
  });

  it('stopAll stops every service and restarts none of them', async () => {
    const lines: string[] = [];
    const g = group(lines);
    const proc = g.start('sleeper', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], process.env, process.cwd());
    await eventually(() => g.running.length === 1, { timeoutMs: 5000, intervalMs: 10, what: 'sleeper running' });
    await g.stopAll(2000);
    await new Promise((r) => setTimeout(r, 150));
    expect(g.running).toHaveLength(0);
    expect(proc.restarts).toBe(0);
    expect(lines).toEqual([]);
  });
});
