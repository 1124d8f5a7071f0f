// The operator's console: `flotilla apply/get -w/describe/top/tasks --wait/config/completion`
// against one running stack (gateway, orchestrator, registry, metrics and a node agent).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';

const BLUEPRINT = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: console-team, name: Console team, version: 1.0.0 }
cluster: { type: team, minWorkers: 0, targetWorkers: 1, maxWorkers: 3, scaling: { enabled: false } }
agents:
  - { name: boss, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: hand, role: worker, reportsTo: boss, capabilities: [echo], runtime: { kind: builtin, handler: echo } }
`;
const cluster = (target: number) => `apiVersion: flotilla/v1
kind: Cluster
metadata: { id: console-c, name: Console cluster }
spec:
  blueprint_id: console-team
  target_workers: ${target}
---
apiVersion: flotilla/v1
kind: Cluster
metadata: { id: console-d, name: Bounded cluster }
spec:
  blueprint_id: console-team
  min_workers: 0
  max_workers: 2
  policy: { cooldownUpSeconds: 45 }
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const MAIN = path.join(repoRoot, 'apps', 'cli', 'dist', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the operator console (flotilla apply, get -w, describe, top, tasks --wait, contexts)', () => {
  let stack: Stack;
  let dir = '';
  let manifests = '';
  let configFile = '';

  /** The environment of every run: no key or gateway from the test's own environment. */
  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, FLOTILLA_CONFIG: configFile };
    delete e['FLOTILLA_API_KEY'];
    delete e['GATEWAY_URL'];
    delete e['FLOTILLA_BOOTSTRAP_ADMIN_KEY'];
    return e;
  };
  /** Runs the CLI; `stdin` is written to it; `until` ends it with Ctrl-C once its output matches. */
  const run = (args: readonly string[], opts: { stdin?: string; until?: (stdout: string) => boolean; onData?: (stdout: string) => void; timeoutMs?: number } = {}): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [MAIN, ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const kill = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
      let interrupted = false;
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        opts.onData?.(stdout);
        // One Ctrl-C, like a user: output that arrives while it stops must not send another.
        if (!interrupted && opts.until?.(stdout)) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(opts.stdin ?? '');
      child.on('close', (code, signal) => {
        clearTimeout(kill);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  const flotilla = (...args: string[]) => run(['--gateway', stack.url, '--api-key', TEST_ADMIN_KEY, ...args]);
  const eventCount = async (id: string) => (await stack.call('GET', `/api/clusters/${id}/events?limit=1`)).body.total as number;
  const settled = (id: string) => async () => {
    const c = (await stack.call('GET', `/api/clusters/${id}`)).body;
    return c.status === 'active' && c.running_agents === c.desired_agents;
  };

  beforeAll(async () => {
    stack = await startStack({ label: 'cli_console', apps: ['orchestrator', 'registry', 'metrics', 'gateway'], nodes: [{ id: 'node-console' }] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-console-'));
    manifests = path.join(dir, 'manifests');
    fs.mkdirSync(manifests);
    configFile = path.join(dir, 'config', 'flotilla.yaml');
    fs.writeFileSync(path.join(manifests, 'blueprint.yaml'), BLUEPRINT);
    fs.writeFileSync(path.join(manifests, 'clusters.yml'), cluster(1));
    fs.writeFileSync(path.join(manifests, 'notes.txt'), 'not a manifest');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('apply -f <dir> creates what is declared; applied again it changes nothing; --dry-run only prints', async () => {
    const first = await flotilla('apply', '-f', manifests);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe('blueprint/console-team created (version 1.0.0)\ncluster/console-c created\ncluster/console-d created\n');
    const d = (await stack.call('GET', '/api/clusters/console-d')).body;
    expect(d).toMatchObject({ min_workers: 0, max_workers: 2, policy: expect.objectContaining({ cooldownUpSeconds: 45 }) });
    await eventually(async () => (await settled('console-c')()) && (await settled('console-d')()), { timeoutMs: 30_000, intervalMs: 300, what: 'the clusters to settle' });

    const before = { c: await eventCount('console-c'), d: await eventCount('console-d'), versions: (await stack.call('GET', '/api/blueprints/console-team')).body.versions.length };
    const again = await flotilla('apply', '-f', manifests);
    expect(again).toMatchObject({ code: 0, stdout: 'blueprint/console-team unchanged\ncluster/console-c unchanged\ncluster/console-d unchanged\n', stderr: '' });
    expect({ c: await eventCount('console-c'), d: await eventCount('console-d'), versions: (await stack.call('GET', '/api/blueprints/console-team')).body.versions.length }).toEqual(before);

    fs.writeFileSync(path.join(manifests, 'clusters.yml'), cluster(2));
    const dry = await flotilla('apply', '-f', manifests, '--dry-run');
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout).toContain('cluster/console-c configured (dry run)\n  target_workers: 1 -> 2\n');
    expect(dry.stdout).toContain('blueprint/console-team unchanged (dry run)\n');
    expect((await stack.call('GET', '/api/clusters/console-c')).body.target_workers).toBe(1);
    expect(await eventCount('console-c')).toBe(before.c);

    // An edited blueprint (same version in the file) goes out as the next patch version.
    fs.writeFileSync(path.join(manifests, 'blueprint.yaml'), BLUEPRINT.replace('name: Console team', 'name: Console team (edited)'));
    const edited = await flotilla('apply', '-f', path.join(manifests, 'blueprint.yaml'));
    expect(edited).toMatchObject({ code: 0, stdout: 'blueprint/console-team configured (version 1.0.1)\n' });
    expect(await flotilla('apply', '-f', path.join(manifests, 'blueprint.yaml'))).toMatchObject({ code: 0, stdout: 'blueprint/console-team unchanged\n' });

    // A declaration that cannot be read is a usage mistake, found before anything is sent.
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'kind: Cluster\nmetadata: { id: x, name: y }\nspec: { target_workers: -1 }\n');
    const bad = await flotilla('apply', '-f', path.join(dir, 'bad.yaml'));
    expect(bad).toMatchObject({ code: 64, stderr: expect.stringContaining('spec.blueprint_id') });
  }, 120_000);

  it('get clusters -w prints the row again when the cluster is scaled; get -o json/yaml/wide', async () => {
    let listed!: () => void;
    const firstListing = new Promise<void>((resolve) => (listed = resolve));
    const watch = run(['--gateway', stack.url, '--api-key', TEST_ADMIN_KEY, 'get', 'clusters', '-w', '--timeout', '30'], {
      onData: (out) => out.includes('console-c') && listed(),
      until: (out) => /^console-c\s.*\sconsole-team\s+\d+\s+3\s+0\.\.3\s/m.test(out),
    });
    // The stream is open before the first listing is printed; then the cluster is scaled elsewhere.
    await firstListing;
    await sleep(1000);
    const r = await stack.call('POST', '/api/clusters/console-c/scale', { target_workers: 3 });
    expect(r.status).toBeLessThan(300);
    const w = await watch;
    expect(w.stdout.split('\n')[0]).toMatch(/^NAME\s+DISPLAY NAME\s+STATUS\s+BLUEPRINT\s+WORKERS\s+TARGET\s+MIN\.\.MAX\s+HEALTH\s+AGE$/);
    expect(w.stdout).toMatch(/^console-c\s+Console cluster\s+\S+\s+console-team\s+\d+\s+1\s+0\.\.3\s/m);
    expect(w.stdout).toMatch(/^console-c\s+Console cluster\s+\S+\s+console-team\s+\d+\s+3\s+0\.\.3\s/m);
    expect(w.code).toBe(0);

    const json = await flotilla('get', 'cluster', 'console-c', '-o', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'console-c', target_workers: 3 });
    expect((await flotilla('get', 'cluster', 'console-c', '-o', 'yaml')).stdout).toMatch(/^id: console-c$/m);
    expect((await flotilla('get', 'nodes', '-o', 'wide')).stdout).toMatch(/^node-console\s+online\s/m);
    expect((await flotilla('get', 'agents', '--cluster', 'console-c')).stdout).toMatch(/\shand-\d+\s+worker\s/);
    expect(await flotilla('get', 'agents')).toMatchObject({ code: 64, stderr: 'error: get agents needs --cluster <id>\n' });
  }, 90_000);

  it('describe cluster reads like kubectl describe; top prints one frame with --once', async () => {
    await eventually(settled('console-c'), { timeoutMs: 45_000, intervalMs: 300, what: 'console-c to settle at 3 workers' });
    const d = await flotilla('describe', 'cluster', 'console-c');
    expect(d).toMatchObject({ code: 0, stderr: '' });
    for (const line of [/^Name:\s+console-c$/m, /^Status:\s+active$/m, /^Blueprint:\s+console-team 1\.0\.0$/m, /^Workers:\s+3 current \/ 3 target \(min 0, max 3\)$/m, /^Circuit:\s+closed$/m, /^Conditions:\n {2}Health: \w+/m, /^ {2}node-console \(4 idle\)$/m, /^Pending agents:\n {2}<none>$/m])
      expect(d.stdout).toMatch(line);
    expect(d.stdout).toMatch(/^Scaling decisions:\n.*\n.*manual\s+1 -> 3\s/m);
    expect(d.stdout).toMatch(/^Events:\n(.*\n)*.*ClusterScaled/m);

    const clusters = await flotilla('top', 'clusters', '--once');
    expect(clusters).toMatchObject({ code: 0, stderr: '' });
    expect(clusters.stdout).toMatch(/^CLUSTER\s+STATUS\s+WORKERS\s+QUEUE\s+TASKS\/MIN\s+P95\s+ERRORS\s+CPU%\s+HEALTH\s+CIRCUIT$/m);
    expect(clusters.stdout).toMatch(/^console-c\s+active\s+3\/3\s/m);
    expect(clusters.stdout).not.toContain('\x1b[');
    const nodes = await flotilla('top', 'nodes', '--once');
    expect(nodes).toMatchObject({ code: 0, stderr: '' });
    expect(nodes.stdout).toMatch(/^node-console\s+online\s+\w+\s+\S+\s+\S+\s+\S+\s+\d+\/\d+\s/m);
  }, 90_000);

  it('tasks submit --wait prints the result and exits 0', async () => {
    const t = await flotilla('tasks', 'submit', 'console-c', '--payload', '{"hello":"console"}', '--capability', 'echo', '--wait', '--timeout', '30');
    expect(t).toMatchObject({ code: 0 });
    expect(t.stdout).toMatch(/^task_\w+: completed\n/);
    expect(JSON.parse(t.stdout.split('\n').slice(1).join('\n'))).toEqual({ hello: 'console' });
    const id = t.stdout.split(':')[0]!;
    expect(await flotilla('tasks', 'follow', id)).toMatchObject({ code: 0, stderr: expect.stringContaining(`${id}  completed`) });
  }, 60_000);

  it('contexts: set-context reads the key from stdin, the file is 0600, commands use the current context, keys are never printed', async () => {
    const tenant = (await stack.call('GET', '/api/clusters/console-c')).body.tenant_id as string;
    const created = await stack.call('POST', '/api/admin/keys', { tenant_id: tenant, role: 'operator', name: 'console-ctx' });
    const secret = created.body.secret as string;
    expect(secret).toBeTruthy();

    const set = await run(['config', 'set-context', 'ops', '--gateway', stack.url, '--api-key-stdin'], { stdin: `${secret}\n` });
    expect(set).toMatchObject({ code: 0, stdout: 'context ops created (current)\n' });
    expect(await run(['config', 'set-context', 'elsewhere', '--gateway', 'http://127.0.0.1:9'])).toMatchObject({ code: 0 });
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);
    expect(await run(['config', 'use-context', 'ops'])).toMatchObject({ code: 0, stdout: 'switched to context ops\n' });
    expect(await run(['config', 'current-context'])).toMatchObject({ code: 0, stdout: 'ops\n' });
    const contexts = await run(['config', 'get-contexts']);
    expect(contexts.stdout).toMatch(/^\*\s+ops\s+http:\/\/\S+\s+api key \(hidden\)$/m);
    expect(contexts.stdout).toMatch(/^\s+elsewhere\s+http:\/\/127\.0\.0\.1:9\s+none$/m);
    expect(contexts.stdout + contexts.stderr).not.toContain(secret);

    // No --gateway, no --api-key, nothing in the environment: the context's gateway and key.
    const list = await run(['get', 'clusters']);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.stdout).toMatch(/^console-c\s/m);
    // It is the operator's key (not an admin's): keys are out of its reach.
    expect(await run(['get', 'keys'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: forbidden: /) });
    // A flag beats the context; the environment beats it too.
    expect(await run(['--context', 'elsewhere', 'get', 'clusters'])).toMatchObject({ code: 69 });
    expect((await run(['--gateway', 'http://127.0.0.1:9', 'get', 'clusters'])).code).toBe(69);
    for (const args of [['--help'], ['config', 'set-context', '--help'], ['get', '--help']]) {
      const help = await run(args);
      expect([args, help.stdout.includes(secret), help.stdout.includes('Example')]).toEqual([args, false, true]);
    }
  }, 60_000);

  it('completion bash names the commands, their subcommands and the kinds of get', async () => {
    const bash = await run(['completion', 'bash']);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -F _flotilla flotilla');
    for (const word of ['apply', 'get', 'describe', 'top', 'events', 'config', 'completion', 'set-context', 'use-context', 'clusters blueprints nodes tasks agents keys']) expect([word, bash.stdout.includes(word)]).toEqual([word, true]);
    const zsh = await run(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef flotilla/);
    expect(await run(['completion', 'fish'])).toMatchObject({ code: 64 });
  });
});
