// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a running
// stack: an operator signs in with a key, registers the marketing blueprint, creates a cluster and
// watches it become active without a reload, scales it and sees the workers and the chart change,
// submits a task and reads its result, drains a node and sees its agents move; a viewer finds no
// write action. Screenshots go to a temporary folder named in the output (never committed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { eventually, repoRoot, startStack, TEST_ADMIN_KEY, type Stack } from '@flotilla/testing';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The seed's marketing blueprint, snapshotted every second (instead of 30 s) so the chart moves
// within the test.
const MARKETING = fs
  .readFileSync(path.join(repoRoot, 'examples', 'blueprints', 'marketing.yaml'), 'utf8')
  .replace(/(monitoring:\s*\n\s*intervalSeconds:)\s*\d+/, '$1 1');

describe('the dashboard (real Chromium)', () => {
  let stack: Stack;
  let context: BrowserContext;
  let page: Page;
  let shots = '';
  let profile = '';
  let viewerKey = '';
  const consoleErrors: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  };

  /** Waits for `text`, failing at once with the API's words if the page shows an error instead. */
  const expectText = async (text: string | RegExp, timeout = 15_000) => {
    const ok = page.getByText(text).first();
    const alert = page.getByRole('alert').first();
    await ok.or(alert).waitFor({ timeout });
    if (!(await ok.isVisible()))
      throw new Error(
        `the page shows an error instead of ${String(text)}: ${await alert.textContent()}`,
      );
  };

  const signIn = async (key: string) => {
    await page.goto(stack.url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('identity').waitFor();
  };

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `no Chromium at ${CHROMIUM}: npm test installs Debian's chromium package (apt-get install chromium)`,
      );
    if (!fs.existsSync(path.join(repoRoot, 'apps', 'dashboard', 'dist', 'index.html')))
      throw new Error('the dashboard is not built: npx nx run-many -t build');
    const big = { NODE_CPU: '16', NODE_MEMORY_MB: '32768', NODE_MAX_AGENTS: '100' };
    stack = await startStack({
      label: 'dashboard',
      apps: ['orchestrator', 'registry', 'metrics', 'gateway'],
      nodes: [
        { id: 'dash-node-a', zone: 'zone-a', env: big },
        { id: 'dash-node-b', zone: 'zone-b', env: big },
      ],
    });
    const viewer = await stack.call('POST', '/api/admin/keys', {
      tenant_id: 'default',
      role: 'viewer',
      name: 'dashboard-viewer',
    });
    expect(viewer.status).toBe(201);
    viewerKey = (viewer.body as { secret: string }).secret;
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-dashboard-shots-'));
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'flotilla-chromium-'));
    process.stdout.write(`dashboard screenshots: ${shots}\n`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (d) => void d.accept());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  it('is served at / with a policy that lets only its own scripts run, and keeps the key out of every URL', async () => {
    const res = await fetch(`${stack.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${stack.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    // The API keeps its own policy.
    expect((await fetch(`${stack.url}/health`)).headers.get('content-security-policy')).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
  });

  it('an operator registers the marketing blueprint, creates a cluster, scales it, runs a task and drains a node', async () => {
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    await signIn(TEST_ADMIN_KEY);
    await expect(page.getByTestId('identity').textContent()).resolves.toContain('admin');

    // Register the blueprint and create a cluster from it.
    await page.locator('#blueprint-yaml').fill(MARKETING);
    await page.getByRole('button', { name: 'Register' }).click();
    await expectText('blueprint marketing-v1 1.0.0 registered');
    const create = page.locator('form[aria-label="create cluster"]');
    await create.locator('input[name=id]').fill('mkt-1');
    await create.locator('input[name=name]').fill('Spring campaign');
    await create.locator('select[name=blueprint]').selectOption('marketing-v1');
    await create.getByRole('button', { name: 'Create' }).click();

    // The cluster page follows it to active without a reload (live from the event stream).
    await page.waitForURL(/#\/clusters\/mkt-1$/);
    await page.locator('h2 [data-status="active"]').waitFor({ timeout: 60_000 });
    await expect(page.getByTestId('cluster-workers').textContent()).resolves.toContain('6 / 6');
    await page.locator('li[data-agent]').first().waitFor();
    await shot('1-cluster-active');

    // Scale to 9: the workers and the chart follow, the decision is marked on the time axis.
    await page.locator('#target').fill('9');
    await page.getByRole('button', { name: 'Scale', exact: true }).click();
    await page
      .getByTestId('cluster-workers')
      .filter({ hasText: '9 / 9' })
      .waitFor({ timeout: 60_000 });
    const workersChart = page.locator('fl-chart[data-chart="workers"]');
    await workersChart
      .getByTestId('latest')
      .filter({ hasText: 'workers 9' })
      .waitFor({ timeout: 30_000 });
    const marker = workersChart.getByTestId('scaling-marker').last();
    await marker.waitFor({ timeout: 15_000 });
    expect(await marker.getAttribute('title')).toMatch(/6 → 9/);
    await shot('2-scaled');

    // The time slider: the cluster as it was right after it was created, then back to now.
    await page.locator('#time-slider').fill('0');
    await page.getByTestId('as-of').filter({ hasText: 'ClusterCreated' }).waitFor({ timeout: 15_000 });
    await page.locator('h2 [data-status="planning"]').waitFor({ timeout: 15_000 });
    await expect(page.getByTestId('cluster-workers').textContent()).resolves.toContain('0 / 6');
    await page.getByRole('button', { name: 'Back to now' }).click();
    await page.getByTestId('cluster-workers').filter({ hasText: '9 / 9' }).waitFor({ timeout: 15_000 });

    // A task, followed to its result.
    await page.locator('#payload').fill('{"brief":"spring launch"}');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByTestId('task-result').waitFor({ timeout: 30_000 });
    // The marketing workers run the builtin `sleep` handler, which answers how long it slept.
    expect(JSON.parse((await page.getByTestId('task-result').textContent())!)).toEqual({
      slept_ms: expect.any(Number),
    });
    await page.getByTestId('task').locator('[data-status="completed"]').waitFor();
    await shot('3-task');

    // Drain a node: its agents move to the other one.
    await page.getByRole('link', { name: 'Nodes' }).click();
    const rowA = page.locator('tr[data-node="dash-node-a"]');
    await rowA.waitFor();
    const before = await agentsOn('dash-node-a');
    expect(before).toBeGreaterThan(0);
    await rowA.getByRole('button', { name: 'Drain' }).click();
    await rowA.getByTestId('node-agents').filter({ hasText: /^0 \// }).waitFor({ timeout: 60_000 });
    await eventually(() => agentsOn('dash-node-b'), { until: (n) => n >= before, timeoutMs: 10_000, intervalMs: 250, what: `dash-node-b listing the ${before} agents moved from dash-node-a` });
    expect(await agentsOn('dash-node-b')).toBeGreaterThanOrEqual(before);
    await shot('4-drained');

    // The key never went into a URL, and the page raised no script error (CSP included).
    expect(urls.filter((u) => u.includes(TEST_ADMIN_KEY))).toEqual([]);
    expect(consoleErrors).toEqual([]);
  }, 240_000);

  it("lists a cluster's dead letters with the reason each was given up (on its page and on the tasks page)", async () => {
    const failing = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: always-fails, name: Always fails, version: 1.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 1 }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: worker, role: worker, reportsTo: lead, runtime: { kind: builtin, handler: echo, failureRate: 1 } }
`;
    expect((await stack.call('POST', '/api/blueprints?wait=true', failing, { 'content-type': 'application/yaml' })).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters?wait=true', { id: 'fails', name: 'Fails', blueprint_id: 'always-fails' })).status).toBe(201);
    const submitted = await stack.call('POST', '/api/clusters/fails/tasks', { payload: { n: 1 }, max_attempts: 1 });
    expect(submitted.status).toBe(202);
    const taskId = (submitted.body as { id: string }).id;
    const listed = await eventually(async () => (await stack.call('GET', '/api/clusters/fails/dead-letters')).body as { dead_letters: { task_id: string; reason: string }[] }, {
      until: (l) => l.dead_letters.length > 0,
      timeoutMs: 60_000,
      intervalMs: 250,
      what: "the failed task in fails' dead letters",
    });
    expect(listed.dead_letters).toEqual([expect.objectContaining({ task_id: taskId, reason: expect.any(String) })]);

    await page.goto(`${stack.url}/#/clusters/fails`);
    const row = page.locator(`section[aria-label="dead letters"] tr[data-dead-letter="${taskId}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain(listed.dead_letters[0]!.reason);
    // The cluster's task metrics per blueprint version: its one attempt, failed.
    const version = page.locator('section[aria-label="cost and versions"] tr[data-version="1.0.0"]');
    await version.waitFor({ timeout: 30_000 });
    expect(await version.textContent()).toContain('100.0 %');
    await page.goto(`${stack.url}/#/tasks`);
    await page.locator('section[aria-label="dead letters"] select').selectOption('fails');
    await page.locator(`tr[data-dead-letter="${taskId}"]`).waitFor();
    await shot('5-dead-letters');
  }, 90_000);

  it("shows a rollout's progress on the cluster page, and an operator undoes it there", async () => {
    // Version 2.0.0 fixes the always-failing worker: the rollout replaces it in one wave.
    const fixed = `apiVersion: flotilla/v1
kind: Blueprint
metadata: { id: always-fails, name: Always fails, version: 2.0.0 }
cluster: { type: team, minWorkers: 1, targetWorkers: 1, maxWorkers: 1 }
agents:
  - { name: lead, role: supervisor, runtime: { kind: builtin, handler: echo } }
  - { name: worker, role: worker, reportsTo: lead, runtime: { kind: builtin, handler: echo } }
`;
    expect((await stack.call('POST', '/api/blueprints?wait=true', fixed, { 'content-type': 'application/yaml' })).status).toBe(201);
    expect((await stack.call('POST', '/api/clusters/fails/upgrade?wait=true', { blueprint_version: '2.0.0' })).status).toBe(200);
    await page.goto(`${stack.url}/#/clusters/fails`);
    const line = page.getByTestId('cluster-rollout');
    await page.locator('[data-testid="cluster-rollout"][data-status="completed"]').waitFor({ timeout: 30_000 });
    expect(await line.textContent()).toMatch(/rollout 1\s+1\.0\.0 → 2\.0\.0/);
    expect(await line.textContent()).toMatch(/1 \/ 1 agents replaced in 1 wave/);
    await shot('5b-rollout');
    await page.getByRole('button', { name: 'Undo rollout' }).click();
    await page.locator('[data-testid="cluster-rollout"][data-status="completed"]', { hasText: '(undo)' }).waitFor({ timeout: 30_000 });
    expect(await line.textContent()).toMatch(/rollout 2 \(undo\)\s+2\.0\.0 → 1\.0\.0/);
    const back = await eventually(async () => (await stack.call('GET', '/api/clusters/fails/rollout')).body as { blueprint_version: string; versions: { version: string; workers_running: number }[] }, {
      until: (r) => r.versions.some((v) => v.version === '1.0.0' && v.workers_running === 1),
      timeoutMs: 30_000,
      what: 'the worker back on 1.0.0',
    });
    expect(back.blueprint_version).toBe('1.0.0');
  }, 90_000);

  it('stays usable at 1,000 clusters: the server pages them, and only the rows on screen are rendered', async () => {
    // The stack runs a handful of clusters; this answers the list from the browser's side with
    // 1,000 (the same shape as the API's), to check what the page does with that many.
    const cluster = (i: number) => ({
      id: `c-${String(i).padStart(4, '0')}`,
      tenant_id: 'default',
      name: `cluster ${i}`,
      description: '',
      type: 'team',
      status: 'active',
      blueprint_id: 'x',
      blueprint_version: '1.0.0',
      min_workers: 1,
      max_workers: 3,
      target_workers: 2,
      current_workers: 2,
      desired_agents: 3,
      running_agents: 3,
      health_score: 1,
      circuit: 'closed',
      degraded_reason: null,
      backup_cluster: null,
      policy: {},
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
    const asked: number[] = [];
    await page.route(/\/api\/clusters\?limit=200&offset=\d+$/, async (route) => {
      const offset = Number(new URL(route.request().url()).searchParams.get('offset'));
      asked.push(offset);
      const clusters = Array.from({ length: Math.min(200, 1000 - offset) }, (_, i) => cluster(offset + i));
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ clusters, total: 1000 }) });
    });
    try {
      await page.goto(`${stack.url}/#/`);
      await page.locator('tr[data-cluster="c-0000"]').waitFor();
      expect(await page.locator('tr[data-cluster]').count()).toBeLessThanOrEqual(20);
      // Scroll to the end of the page of 200: the last rows are rendered, the first are not.
      await page.locator('section[aria-label="clusters"] .viewport').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await page.locator('tr[data-cluster="c-0199"]').waitFor();
      expect(await page.locator('tr[data-cluster="c-0000"]').count()).toBe(0);
      expect(await page.locator('tr[data-cluster]').count()).toBeLessThanOrEqual(20);
      await page.getByRole('button', { name: 'next' }).click();
      await page.locator('tr[data-cluster="c-0200"]').waitFor();
      // The new page starts at its top, on screen (not scrolled where the last page was left).
      expect(await page.locator('section[aria-label="clusters"] .viewport').evaluate((el) => el.scrollTop)).toBe(0);
      await expect(page.locator('tr[data-cluster="c-0200"]').isVisible()).resolves.toBe(true);
      const box = await page.locator('tr[data-cluster="c-0200"]').boundingBox();
      const viewportBox = await page.locator('section[aria-label="clusters"] .viewport').boundingBox();
      expect(box!.y).toBeGreaterThanOrEqual(viewportBox!.y);
      expect(box!.y).toBeLessThan(viewportBox!.y + viewportBox!.height);
      await page.getByText('201–400 of 1000').waitFor();
      expect(asked).toEqual(expect.arrayContaining([0, 200]));
      // A narrow screen: the page still fits, the tables scroll inside their panels.
      await page.setViewportSize({ width: 390, height: 800 });
      expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')).toBe(true);
      await shot('7-narrow');
    } finally {
      await page.unroute(/\/api\/clusters\?limit=200&offset=\d+$/);
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }, 60_000);

  it('a viewer finds no write action anywhere', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(viewerKey);
    await expect(page.getByTestId('identity').textContent()).resolves.toContain('viewer');
    await page.goto(`${stack.url}/#/`);
    await page.locator('tr[data-cluster="mkt-1"]').waitFor();
    expect(await page.locator('#blueprint-yaml').count()).toBe(0);
    await page.goto(`${stack.url}/#/clusters/mkt-1`);
    await page.locator('h2 [data-status]').first().waitFor();
    for (const name of ['Scale', 'Hibernate', 'Decommission', 'Submit'])
      expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    await page.getByText('Your role can read only').first().waitFor();
    await page.goto(`${stack.url}/#/nodes`);
    await page.locator('tr[data-node="dash-node-a"]').waitFor();
    for (const name of ['Drain', 'Cordon', 'Uncordon'])
      expect(await page.getByRole('button', { name }).count()).toBe(0);
    await page.getByText('need the platform role').waitFor();
    // The audit trail is for admins: the 403 is explained, not swallowed.
    await page.goto(`${stack.url}/#/audit`);
    await page.getByRole('alert').filter({ hasText: 'forbidden' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('role does not allow');
    await shot('6-viewer');
  }, 60_000);

  async function agentsOn(node: string): Promise<number> {
    const text =
      (await page.locator(`tr[data-node="${node}"]`).getByTestId('node-agents').textContent()) ??
      '';
    return Number(text.split('/')[0]!.trim());
  }
});
