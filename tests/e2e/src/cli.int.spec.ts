// The `flotilla` CLI against a running stack: an admin creates a key for an operator, who
// registers a blueprint and creates, lists and scales a cluster with it; a revoked key is refused.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: cli-team, name: CLI team, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 1, maxWorkers: 3 }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, runtime: { kind: builtin, handler: echo } }
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the flotilla CLI', () => {
  let stack: Stack;
  let dir = '';

  const flotilla = (key: string, ...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(repoRoot, 'apps', 'cli', 'dist', 'main.js'), '--gateway', stack.url, '--api-key', key, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    stack = await startStack({ label: 'cli', apps: ['orchestrator', 'registry', 'gateway'], nodes: [{ id: 'node-cli' }] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-cli-'));
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('manages keys, blueprints and clusters through the gateway, under the roles of the key it uses', async () => {
    const created = await flotilla(TEST_ADMIN_KEY, '--json', 'keys', 'create', '--tenant', 'acme', '--role', 'operator', '--name', 'ci-operator');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const { key, secret } = JSON.parse(created.stdout) as { key: { id: string; tenant_id: string; role: string }; secret: string };
    expect(key).toMatchObject({ tenant_id: 'acme', role: 'operator' });

    const file = path.join(dir, 'cli-team.yaml');
    fs.writeFileSync(file, BLUEPRINT);
    expect(await flotilla(secret, 'blueprints', 'apply', file)).toMatchObject({ code: 0, stdout: 'registered cli-team 1.0.0\n' });
    const cluster = await flotilla(secret, '--json', 'clusters', 'create', '--blueprint', 'cli-team', '--name', 'From the CLI', '--id', 'cli-c');
    expect(cluster.code).toBe(0);
    expect(JSON.parse(cluster.stdout)).toMatchObject({ id: 'cli-c', tenant_id: 'acme', target_workers: 1 });
    const list = await flotilla(secret, 'clusters', 'list');
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+name\s+status\s+blueprint/);
    expect(list.stdout).toMatch(/^cli-c\s+From the CLI\s+\w+\s+cli-team\s+1 \[0\.\.3\]\s+acme$/m);
    await eventually(async () => JSON.parse((await flotilla(secret, '--json', 'clusters', 'get', 'cli-c')).stdout).status === 'active', { timeoutMs: 30_000, intervalMs: 300, what: 'cli-c active' });
    const above = await flotilla(secret, 'clusters', 'scale', 'cli-c', '9');
    expect(above).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: rule_violated: target 9 is above maxWorkers 3\n/) });
    expect(above.stderr).toContain('"rule": "target_above_max"');
    // --dry-run prints what the scale would append and changes nothing.
    const rehearsed = await flotilla(secret, 'clusters', 'scale', 'cli-c', '3', '--dry-run');
    expect(rehearsed).toMatchObject({ code: 0, stderr: '' });
    expect(rehearsed.stdout).toMatch(/^dry run, nothing changed; it would append 1 event:\n {2}ClusterScalingStarted \{"from":1,"to":3,/);
    // And where the reconciler would then place the two new workers.
    expect(rehearsed.stdout).toMatch(/then the reconciler would place \(strategy [a-z-]+\):\n/);
    expect(rehearsed.stdout.match(/ worker +node-/g)).toHaveLength(2);
    expect(JSON.parse((await flotilla(secret, '--json', 'clusters', 'get', 'cli-c')).stdout)).toMatchObject({ target_workers: 1 });
    const before = JSON.parse((await flotilla(secret, '--json', 'clusters', 'get', 'cli-c')).stdout) as { as_of: { position: string } };
    const scaled = await flotilla(secret, '--json', 'clusters', 'scale', 'cli-c', '3');
    expect(scaled).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(scaled.stdout)).toMatchObject({ id: 'cli-c', target_workers: 3 });

    // The past: the cluster as it was before the scale, and what changed since.
    const then = await flotilla(secret, '--json', 'get', 'cluster', 'cli-c', '--at', before.as_of.position);
    expect(then).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(then.stdout)).toMatchObject({ id: 'cli-c', target_workers: 1, as_of: { position: before.as_of.position } });
    const diff = await flotilla(secret, 'clusters', 'diff', 'cli-c', '--from', before.as_of.position);
    expect(diff).toMatchObject({ code: 0, stderr: '' });
    expect(diff.stdout).toMatch(/^target_workers\s+1\s+3\s+\d+/m);
    expect(await flotilla(secret, 'get', 'blueprints', '--at', before.as_of.position)).toMatchObject({ code: 64, stderr: expect.stringContaining('--at reads clusters, agents and nodes') });

    // An operator cannot manage keys; a mistake in the command line is caught before sending.
    expect(await flotilla(secret, 'keys', 'list')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: forbidden: /) });
    expect(await flotilla(secret, 'clusters', 'scale', 'cli-c', 'many')).toMatchObject({ code: 64, stderr: "error: expected a non-negative integer, got 'many'\n" });

    const keys = await flotilla(TEST_ADMIN_KEY, 'keys', 'list', '--tenant', 'acme');
    expect(keys.stdout).toMatch(new RegExp(`^${key.id}\\s+acme\\s+operator\\s+ci-operator\\s+\\S+\\s+active$`, 'm'));
    expect(await flotilla(TEST_ADMIN_KEY, 'keys', 'revoke', key.id, '--reason', 'rotated')).toMatchObject({ code: 0, stdout: expect.stringContaining(`revoked ${key.id} (ci-operator)`) });
    expect(await flotilla(secret, 'clusters', 'list')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: unauthenticated: /) });
  }, 60_000);
});

describe('the CLI never shows a secret', () => {
  it('flotilla --help never prints the API key it would use', async () => {
    const apiKey = 'flk.key_secret-from-the-environment.0123456789';
    const bootstrap = 'bootstrap-admin-key-from-the-environment-0123';
    for (const args of [['--help'], ['clusters', '--help'], ['help']]) {
      const run = await new Promise<Run>((resolve) => {
        execFile(
          process.execPath,
          [path.join(repoRoot, 'apps', 'cli', 'dist', 'main.js'), ...args],
          { timeout: 30_000, env: { ...process.env, FLOTILLA_API_KEY: apiKey, FLOTILLA_BOOTSTRAP_ADMIN_KEY: bootstrap } },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      const output = run.stdout + run.stderr;
      if (args[0] !== 'clusters') expect([args, output]).toEqual([args, expect.stringContaining('--api-key')]);
      expect([args, output.includes(apiKey), output.includes(bootstrap)]).toEqual([args, false, false]);
    }
  });
});
