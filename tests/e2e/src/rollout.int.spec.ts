import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { eventually, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';
import { grpcClient } from './lifecycle.js';

/**
 * Rolling upgrades end to end: a changed blueprint version rolls through the workers in waves
 * under a steady task load (no task lost, never fewer than target − max_unavailable serving); a
 * version whose runtime cannot start fails its first wave and leaves the old agents serving; undo
 * rolls back, in waves, to the version before.
 */

const TARGET = 3;
/** The worker's runtime per version: 2.0.0 and 4.0.0 change it; 3.0.0 names an API key no node has. */
const WORKER_RUNTIME: Record<string, string> = {
  '1.0.0': '{ kind: builtin, handler: sleep, delayMs: 150 }',
  '2.0.0': '{ kind: builtin, handler: sleep, delayMs: 120 }',
  '3.0.0': "{ kind: openai, baseUrl: 'http://127.0.0.1:9/v1', model: m, apiKeyEnv: AGENT_SECRET_ROLLOUT_TEST_UNSET }",
  '4.0.0': '{ kind: builtin, handler: echo }',
};
const blueprint = (version: string) => `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: rolling, name: rolling, version: ${version} }
cluster:
  type: team
  minWorkers: 1
  targetWorkers: ${TARGET}
  maxWorkers: 6
  resources: { cpu: 0.1, memoryMb: 64 }
  monitoring: { intervalSeconds: 1 }
  scaling: { enabled: false }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: worker, role: worker, reportsTo: lead, runtime: ${WORKER_RUNTIME[version]} }
`;

interface RolloutStatus {
  blueprint_version: string;
  rollout: { rollout: number; status: string; undo: boolean; from_version: string; to_version: string; total: number; replaced: number; waves: number; reason: string } | null;
  versions: { version: string; agents: number; running: number; workers_running: number }[];
  remaining: number;
}

describe('rolling upgrades', () => {
  let stack: Stack;

  const flotilla = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(repoRoot, 'apps', 'cli', 'dist', 'main.js'), '--gateway', stack.url, '--api-key', TEST_ADMIN_KEY, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const status = async () => (await stack.call('GET', '/api/clusters/rolling/rollout')).body as RolloutStatus;
  const settled = (what: string, until: (s: RolloutStatus) => boolean) => eventually(status, { timeoutMs: 60_000, intervalMs: 100, until, what });
  const workersRunning = (s: RolloutStatus, version?: string) => s.versions.filter((v) => version === undefined || v.version === version).reduce((n, v) => n + v.workers_running, 0);

  beforeAll(async () => {
    stack = await startStack({ label: 'rollout', nodes: [{ id: 'node-r1', cpu: '8' }] });
    for (const v of ['1.0.0', '2.0.0', '3.0.0', '4.0.0']) expect((await stack.call('POST', '/api/blueprints?wait=true', blueprint(v))).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { blueprint_id: 'rolling', blueprint_version: '1.0.0', name: 'rolling', cluster_id: 'rolling' })).status).toBe(201);
    await eventually(async () => (await stack.call('GET', '/api/clusters/rolling')).body.status === 'active', { timeoutMs: 60_000, intervalMs: 100, what: 'rolling active' });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('rolls a changed version through the workers in waves under load: no task lost, never fewer than target − max_unavailable serving', async () => {
    const tasks: string[] = [];
    const serving: number[] = [];
    let loading = true;
    // A steady load: a task every 50 ms, all through the rollout.
    const load = (async () => {
      while (loading) {
        const res = await stack.call('POST', '/api/clusters/rolling/tasks', { payload: { n: tasks.length }, max_attempts: 5 });
        expect(res.status).toBe(202);
        tasks.push(res.body.id as string);
        await delay(50);
      }
    })();
    // Sampled throughout, from the aggregate (never behind the log).
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        serving.push(workersRunning(await status()));
        await delay(50);
      }
    })();
    let done: RolloutStatus;
    try {
      await delay(1000);
      const res = await stack.call('POST', '/api/clusters/rolling/upgrade?wait=true', { blueprint_version: '2.0.0', max_surge: 1, max_unavailable: 1 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ blueprint_version: '2.0.0', rollout: { rollout: 1, status: 'rolling', from_version: '1.0.0', to_version: '2.0.0', total: TARGET, max_surge: 1, max_unavailable: 1 } });
      done = await settled('rollout 1 completed', (s) => s.rollout?.status === 'completed');
      // The load goes on after it: the new agents serve it.
      await delay(1500);
    } finally {
      loading = false;
      sampling = false;
      await Promise.allSettled([load, sampler]);
    }

    // Waves of two (one new beside the old, one after stopping the old): 3 workers in 2 waves.
    expect(done.rollout).toMatchObject({ replaced: TARGET, waves: 2 });
    expect(done.remaining).toBe(0);
    expect(workersRunning(done, '2.0.0')).toBe(TARGET);
    expect(workersRunning(done, '1.0.0')).toBe(0);
    expect(serving.length).toBeGreaterThan(10);
    expect(Math.min(...serving)).toBeGreaterThanOrEqual(TARGET - 1);

    // Every step is an event with its wave and reason.
    const rolloutEvents = async () => ((await stack.call('GET', '/api/clusters/rolling/events?limit=1000')).body.events as { type: string; data: Record<string, unknown> }[]).filter((e) => e.type.startsWith('Rollout'));
    const all = await eventually(rolloutEvents, { timeoutMs: 10_000, until: (es) => es.some((e) => e.type === 'RolloutCompleted'), what: 'rollout events projected' });
    expect(all.map((e) => e.type)).toEqual(['RolloutStarted', 'RolloutWaveStarted', 'RolloutWaveCompleted', 'RolloutWaveStarted', 'RolloutWaveCompleted', 'RolloutCompleted']);
    expect(all[1]!.data).toMatchObject({ wave: 1, reason: expect.stringContaining('version 2.0.0') });

    // No task lost: every one submitted completes.
    expect(tasks.length).toBeGreaterThan(20);
    const pending = new Set(tasks);
    const ranOn = new Set<string>();
    await eventually(
      async () => {
        for (const id of [...pending]) {
          const t = (await stack.call('GET', `/api/tasks/${id}`)).body as { status: string; lineage: { blueprint_version: string }[] };
          if (t.status === 'completed') {
            pending.delete(id);
            ranOn.add(t.lineage.at(-1)!.blueprint_version);
          }
          else expect(['queued', 'running']).toContain(t.status);
        }
        return pending.size;
      },
      { timeoutMs: 60_000, intervalMs: 200, until: (n) => n === 0, what: 'every task completed' },
    );
    // Both versions served the load, the old before its waves and the new after.
    expect([...ranOn].sort()).toEqual(['1.0.0', '2.0.0']);

    // The lineage names the version that ran each attempt: a task submitted now runs on 2.0.0.
    const after = await stack.call('POST', '/api/clusters/rolling/tasks', { payload: 'after' });
    const t = await eventually(async () => (await stack.call('GET', `/api/tasks/${after.body.id}`)).body as { status: string; lineage: { blueprint_version: string }[] }, {
      timeoutMs: 30_000,
      until: (x) => x.status === 'completed',
      what: 'task after the rollout',
    });
    expect(t.lineage.at(-1)!.blueprint_version).toBe('2.0.0');
    const agents = (await stack.call('GET', '/api/clusters/rolling/agents')).body.agents as { role: string; state: string; blueprint_version: string }[];
    expect(agents.filter((a) => a.role === 'worker' && a.state === 'idle').map((a) => a.blueprint_version)).toEqual(['2.0.0', '2.0.0', '2.0.0']);
  }, 150_000);

  it('a version whose runtime cannot start fails its first wave and keeps the old agents serving; undo returns to the version before', async () => {
    const res = await stack.call('POST', '/api/clusters/rolling/upgrade?wait=true', { blueprint_version: '3.0.0', max_surge: 1 });
    expect(res.status).toBe(200);
    const failed = await settled('rollout 2 failed', (s) => s.rollout?.status === 'failed');
    expect(failed.rollout).toMatchObject({ rollout: 2, to_version: '3.0.0', replaced: 0, waves: 1, reason: expect.stringContaining('AGENT_SECRET_ROLLOUT_TEST_UNSET') });
    expect(workersRunning(failed, '2.0.0')).toBe(TARGET);
    const cluster = (await stack.call('GET', '/api/clusters/rolling')).body;
    expect(cluster).toMatchObject({ status: 'active', current_workers: TARGET });
    // Nothing more happens to a failed rollout: no second wave, the old agents stay.
    await delay(1500);
    expect((await status()).rollout).toMatchObject({ status: 'failed', waves: 1 });
    // The cluster serves meanwhile.
    const task = await stack.call('POST', '/api/clusters/rolling/tasks', { payload: 'during' });
    await eventually(async () => (await stack.call('GET', `/api/tasks/${task.body.id}`)).body.status, { timeoutMs: 30_000, until: (s) => s === 'completed', what: 'task served by the old agents' });
    // A failed rollout cannot resume; it is undone.
    expect((await stack.call('POST', '/api/clusters/rolling/rollout/resume', {})).status).toBe(422);

    const undo = await flotilla('rollout', 'undo', 'rolling', '--reason', 'the new runtime cannot start');
    expect(undo).toMatchObject({ code: 0 });
    expect(undo.stdout).toContain('version 2.0.0');
    const back = await settled('undo completed', (s) => s.rollout?.undo === true && s.rollout.status === 'completed');
    expect(back).toMatchObject({ blueprint_version: '2.0.0', rollout: { rollout: 3, from_version: '3.0.0', to_version: '2.0.0' } });
    expect(workersRunning(back, '2.0.0')).toBe(TARGET);
    expect((await stack.call('GET', '/api/clusters/rolling')).body).toMatchObject({ blueprint_version: '2.0.0', status: 'active' });
  }, 120_000);

  it('a canary wave pauses where asked; undo replaces the upgraded agents again, in waves, with the previous spec', async () => {
    const res = await stack.call('POST', '/api/clusters/rolling/upgrade?wait=true', { blueprint_version: '4.0.0', max_surge: 1, pause_after: 1 });
    expect(res.status).toBe(200);
    const paused = await settled('paused after the canary wave', (s) => s.rollout?.status === 'paused');
    expect(paused.rollout).toMatchObject({ to_version: '4.0.0', waves: 1, replaced: 1, reason: expect.stringContaining('pause_after') });
    expect(workersRunning(paused, '4.0.0')).toBe(1);
    const shown = await flotilla('rollout', 'status', 'rolling');
    expect(shown.stdout).toMatch(/2\.0\.0 → 4\.0\.0: paused/);
    expect(shown.stdout).toMatch(/1\/3 agents replaced in 1 wave, 2 to go/);
    // gRPC reads the same rollout; resuming and pausing again there records nothing twice.
    const client = grpcClient(stack.grpcPort, TEST_ADMIN_KEY);
    try {
      const r = await client.call('GetRollout', { id: 'rolling' });
      expect(r.code).toBe(0);
      expect(r.reply).toMatchObject({ blueprint_version: '4.0.0', remaining: 2, rollout: { status: 'paused', from_version: '2.0.0', to_version: '4.0.0', max_surge: 1, pause_after: 1, replaced: 1 } });
      const pause = await client.call('PauseRollout', { id: 'rolling', wait: true });
      expect(pause).toMatchObject({ code: 0, reply: { cluster: { rollout: { status: 'paused' } } } });
      expect((pause.reply as { events?: string[] }).events ?? []).toEqual([]);
      const upgrade = await client.call('UpgradeCluster', { id: 'rolling', blueprint_version: '1.0.0' });
      expect(upgrade.code).toBe(9); // FAILED_PRECONDITION: rollout_in_progress
    } finally {
      client.close();
    }

    expect((await stack.call('POST', '/api/clusters/rolling/rollout/undo', {})).status).toBe(200);
    const back = await settled('undo of the canary completed', (s) => s.rollout?.undo === true && s.rollout.status === 'completed');
    expect(back.rollout).toMatchObject({ from_version: '4.0.0', to_version: '2.0.0', total: 1, replaced: 1, waves: 1 });
    expect(workersRunning(back, '2.0.0')).toBe(TARGET);
    expect(workersRunning(back, '4.0.0')).toBe(0);
  }, 120_000);
});
