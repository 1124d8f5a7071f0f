import { LitElement, css, html, type TemplateResult } from 'lit';
import {
  api,
  type AgentView,
  type ClusterView,
  type DeadLetter,
  type EventView,
  type HierarchyNode,
  type MetricPoint,
  type TaskView,
  type VersionMetrics,
} from '../api.js';
import type { Marker, Series } from '../chart.js';
import '../chart.js';
import { markdown } from '../markdown.js';
import { Actions, LiveData } from '../live.js';
import { base, deadLetterTable, errorLine, fmt, status } from '../shared.js';

const SEVERITIES = ['debug', 'info', 'warning', 'error'] as const;
const FINISHED = new Set(['completed', 'failed', 'dead_lettered', 'rejected']);

/**
 * One cluster: its state and actions, the hierarchy, charts with every scaling decision marked,
 * the live event timeline, the manifest, and task submission followed to the result.
 */
export class ClusterPage extends LitElement {
  static override properties = {
    clusterId: { type: String },
    canWrite: { type: Boolean },
    cluster: { state: true },
    agents: { state: true },
    tree: { state: true },
    events: { state: true },
    points: { state: true },
    manifestText: { state: true },
    severity: { state: true },
    typeFilter: { state: true },
    error: { state: true },
    task: { state: true },
    taskError: { state: true },
    deadLetters: { state: true },
    at: { state: true },
    cost: { state: true },
  };
  declare clusterId: string;
  declare canWrite: boolean;
  declare cluster: ClusterView | null;
  declare agents: AgentView[];
  declare tree: HierarchyNode | null;
  declare events: EventView[];
  declare points: MetricPoint[];
  /** Today's cost and the task metrics per blueprint version (from the metrics reply). */
  declare cost: { today: { currency: string; agent_cost: number; token_cost: number; total_cost: number }; versions: VersionMetrics[] } | null;
  declare manifestText: string | null;
  declare severity: string;
  declare typeFilter: string;
  declare error: unknown;
  declare task: TaskView | null;
  declare taskError: unknown;
  declare deadLetters: DeadLetter[] | null;
  /** The log position the page shows the cluster at (the time slider); null: now. */
  declare at: string | null;
  private following = 0;
  private readonly writes = new Actions(this, () => this.load());

  static override styles = [
    base,
    css`
      .charts {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
        gap: 1rem;
      }
      ul.tree,
      ul.tree ul {
        list-style: none;
        padding-left: 1.1rem;
        margin: 0;
        border-left: 1px dotted var(--line);
      }
      ul.tree {
        border-left: none;
        padding-left: 0;
      }
      li {
        margin: 0.15rem 0;
      }
      .events {
        max-height: 420px;
        overflow-y: auto;
      }
      .facts {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
        gap: 0.5rem 1rem;
      }
      .facts div span {
        display: block;
        color: var(--muted);
        font-size: 0.8rem;
      }
      .degraded {
        border-color: var(--warn);
      }
      .grow {
        flex: 1 1 260px;
      }
    `,
  ];

  constructor() {
    super();
    this.clusterId = '';
    this.canWrite = false;
    this.cluster = null;
    this.agents = [];
    this.tree = null;
    this.events = [];
    this.points = [];
    this.cost = null;
    this.manifestText = null;
    this.severity = '';
    this.typeFilter = '';
    this.error = null;
    this.task = null;
    this.taskError = null;
    this.deadLetters = null;
    this.at = null;
    // Besides the live events: the whole page every 5 s (metrics have no events; this also heals a missed one).
    new LiveData(this, {
      load: () => this.load(),
      concerns: (ev) =>
        ev.aggregateId === this.clusterId ||
        ev.data['clusterId'] === this.clusterId ||
        ev.data['cluster_id'] === this.clusterId,
      everyMs: 5000,
    });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.following++;
  }

  private async load(): Promise<void> {
    const id = this.clusterId;
    try {
      const at = this.at ?? undefined;
      const [cluster, agents, tree, events] = await Promise.all([
        api.cluster(id, at),
        api.agents(id, at),
        api.hierarchy(id, at),
        api.events(id),
      ]);
      this.cluster = cluster;
      this.agents = agents.agents;
      this.tree = tree.root;
      this.events = events.events;
      this.error = null;
    } catch (err) {
      this.error = err;
    }
    await Promise.all([this.loadMetrics(), this.loadDeadLetters()]);
  }

  private async loadDeadLetters(): Promise<void> {
    const d = await api.deadLetters(this.clusterId).catch(() => null);
    if (d) this.deadLetters = d.dead_letters;
  }

  private async loadMetrics(): Promise<void> {
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const m = await api.metrics(this.clusterId, since).catch(() => null);
    if (m) {
      this.points = m.points;
      this.cost = { today: m.cost_today, versions: m.by_version };
    }
  }

  private input(id: string): string {
    return (
      this.renderRoot.querySelector<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(
        `#${id}`,
      )?.value ?? ''
    );
  }

  private scale(): Promise<void> {
    const target = Number(this.input('target'));
    return this.writes.run(`Scale ${this.clusterId} to ${target} workers?`, () =>
      api.scale(this.clusterId, target),
    );
  }

  private bounds(): Promise<void> {
    const min = Number(this.input('min'));
    const max = Number(this.input('max'));
    return this.writes.run(`Set ${this.clusterId}'s workers to ${min}..${max}?`, () =>
      api.update(this.clusterId, { min_workers: min, max_workers: max }),
    );
  }

  private policy(): Promise<void> {
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(this.input('policy')) as Record<string, unknown>;
    } catch (err) {
      this.writes.refuse(new Error(`the policy is not JSON: ${(err as Error).message}`));
      return Promise.resolve();
    }
    return this.writes.run(`Update ${this.clusterId}'s scaling policy?`, () =>
      api.update(this.clusterId, { policy: patch }),
    );
  }

  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    this.taskError = null;
    this.task = null;
    let payload: unknown = null;
    const raw = this.input('payload').trim();
    try {
      payload = raw ? JSON.parse(raw) : null;
    } catch (err) {
      this.taskError = new Error(`the payload is not JSON: ${(err as Error).message}`);
      return;
    }
    const body: Record<string, unknown> = { priority: this.input('priority') || 'normal', payload };
    const capability = this.input('capability').trim();
    if (capability) body['capability'] = capability;
    try {
      const task = await api.submitTask(this.clusterId, body);
      this.task = task;
      void this.followTask(task.id);
    } catch (err) {
      this.taskError = err;
    }
  }

  /** Polls the task's record until it ends (or this page goes away). */
  private async followTask(id: string): Promise<void> {
    const mine = ++this.following;
    while (mine === this.following) {
      await new Promise((r) => setTimeout(r, 400));
      try {
        this.task = await api.task(id);
      } catch (err) {
        this.taskError = err;
        return;
      }
      if (FINISHED.has(this.task.status)) return;
    }
  }

  private async showManifest(): Promise<void> {
    try {
      this.manifestText = await api.manifest(this.clusterId);
    } catch (err) {
      this.writes.refuse(err);
    }
  }

  /** The time slider: one stop per event of the cluster, and "now" at the right end. */
  private timeTravel(): TemplateResult {
    const stops = this.events;
    const index = this.at === null ? stops.length : Math.max(0, stops.findIndex((e) => e.position === this.at));
    const shown = this.at === null ? null : stops[index];
    const travel = (e: Event) => {
      const i = Number((e.target as HTMLInputElement).value);
      this.at = i >= stops.length ? null : stops[i]!.position;
      void this.load();
    };
    return html`<section class="panel" aria-label="time travel">
      <div class="row">
        <label class="grow"
          >as of
          <input
            id="time-slider"
            type="range"
            min="0"
            max=${stops.length}
            .value=${String(index)}
            @change=${travel}
        /></label>
        <span data-testid="as-of"
          >${shown ? `${fmt.time(shown.occurred_at)} · after ${shown.type} · position ${shown.position}` : 'now (live)'}</span
        >
        ${this.at !== null ? html`<button class="secondary" @click=${() => { this.at = null; void this.load(); }}>Back to now</button>` : ''}
      </div>
    </section>`;
  }

  private treeNode(n: HierarchyNode): TemplateResult {
    return html`<li data-agent=${n.agent_id ?? ''}>
      <strong>${n.name}</strong>${n.ordinal ? html`#${n.ordinal}` : ''}
      <span class="muted">${n.role}</span> ${status(n.state)}
      <span class="muted"
        >${n.node_id ? `on ${n.node_id}` : 'unplaced'}${n.desired ? '' : ' · leaving'}</span
      >
      ${
        n.children.length
          ? html`<ul>
              ${n.children.map((c) => this.treeNode(c))}
            </ul>`
          : ''
      }
    </li>`;
  }

  private charts(): TemplateResult {
    const times = this.points.map((p) => new Date(p.at).getTime() / 1000);
    const markers: Marker[] = this.events
      .filter((e) => e.type === 'ClusterScalingStarted')
      .map((e) => ({
        at: new Date(e.occurred_at).getTime() / 1000,
        label: `${fmt.time(e.occurred_at)} ${String(e.data['from'])} → ${String(e.data['to'])}: ${String(e.data['reason'] ?? '')} (${String(e.data['source'] ?? '')})`,
      }));
    const chart = (heading: string, series: Series[]) =>
      html`<fl-chart
        data-chart=${heading}
        .heading=${heading}
        .times=${times}
        .series=${series}
        .markers=${markers}
      ></fl-chart>`;
    const col = (f: (p: MetricPoint) => number | null) => this.points.map(f);
    return html`<div class="charts">
      ${chart('workers', [{ label: 'workers', values: col((p) => p.workers), color: '#2f6fed' }])}
      ${chart('queue depth', [{ label: 'queued', values: col((p) => p.queue_depth), color: '#c98a00' }])}
      ${chart('tasks / min', [{ label: 'tasks/min', values: col((p) => p.tasks_per_minute), color: '#1f9d55' }])}
      ${chart('latency (ms)', [
        { label: 'p50', values: col((p) => p.latency_p50_ms), color: '#6b9cff' },
        { label: 'p95', values: col((p) => p.latency_p95_ms), color: '#d23c3c' },
      ])}
      ${chart('error rate', [{ label: 'errors', values: col((p) => p.error_rate), color: '#d23c3c' }])}
    </div>`;
  }

  /** Today's cost, and error rate, latency, tokens and cost per blueprint version (a rollout's effect). */
  private costPanel(): TemplateResult {
    const c = this.cost;
    const money = (x: number) => `${x.toFixed(4)} ${c?.today.currency ?? ''}`;
    return html`<section class="panel" aria-label="cost and versions">
      <h3>Cost and versions</h3>
      ${c
        ? html`<p data-cost-today>
              Today: <strong>${money(c.today.total_cost)}</strong>
              <span class="muted">(agents ${money(c.today.agent_cost)}, tokens ${money(c.today.token_cost)})</span>
            </p>
            ${c.versions.length
              ? html`<table class="grid" data-versions>
                  <thead>
                    <tr><th>blueprint version</th><th>attempts</th><th>error rate</th><th>p50 ms</th><th>p95 ms</th><th>tokens in / out</th><th>token cost</th></tr>
                  </thead>
                  <tbody>
                    ${c.versions.map(
                      (v) => html`<tr data-version=${v.blueprint_version ?? 'unknown'}>
                        <td>${v.blueprint_version ?? 'unknown'}</td>
                        <td>${v.attempts}</td>
                        <td>${(v.error_rate * 100).toFixed(1)} %</td>
                        <td>${fmt.num(v.latency_p50_ms)}</td>
                        <td>${fmt.num(v.latency_p95_ms)}</td>
                        <td>${v.input_tokens} / ${v.output_tokens}</td>
                        <td>${money(v.token_cost)}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>`
              : html`<p class="muted">no task attempts today</p>`}`
        : html`<p class="muted">loading…</p>`}
    </section>`;
  }

  /** The last rollout: versions, progress, the wave in flight, why; pause, resume or undo it. */
  private rolloutLine(c: ClusterView): TemplateResult | string {
    const r = c.rollout;
    if (!r) return '';
    const live = this.at === null && this.canWrite;
    const act = (verb: 'pause' | 'resume' | 'undo', label: string, confirm: string) =>
      html`<button class="secondary" ?disabled=${this.writes.busy} @click=${() => this.writes.run(confirm, () => api.rollout(c.id, verb))}>${label}</button>`;
    return html`<div class="rollout ${r.status === 'failed' ? 'warn' : ''}" data-testid="cluster-rollout" data-status=${r.status}>
      <span>rollout ${r.rollout}${r.undo ? ' (undo)' : ''}</span>
      ${r.from_version} → ${r.to_version}: ${status(r.status)}
      <progress max=${Math.max(1, r.total)} .value=${r.replaced}></progress>
      ${r.replaced} / ${r.total} agents replaced in ${r.waves} wave${r.waves === 1 ? '' : 's'}
      (max surge ${r.max_surge}, max unavailable ${r.max_unavailable}${r.pause_after ? `, pause after ${r.pause_after}` : ''})
      ${r.current_wave ? html`<span class="muted">wave ${r.current_wave.wave} in flight: ${r.current_wave.slots.map((x) => x.slot).join(', ')}</span>` : ''}
      <div class="muted">${r.reason}</div>
      ${
        live
          ? html`<div class="row">
              ${r.status === 'rolling' ? act('pause', 'Pause rollout', `Pause the rollout of ${c.id}? The wave in flight completes.`) : ''}
              ${r.status === 'paused' ? act('resume', 'Resume rollout', `Resume the rollout of ${c.id}?`) : ''}
              ${r.status !== 'completed' || !r.undo ? act('undo', 'Undo rollout', `Roll ${c.id} back to ${r.from_version}, in waves?`) : ''}
            </div>`
          : ''
      }
    </div>`;
  }

  private actions(c: ClusterView): TemplateResult {
    if (!this.canWrite)
      return html`<p class="muted">Your role can read only: no write actions are offered.</p>`;
    return html`<div class="row" aria-label="actions">
        <label
          >target workers
          <input id="target" type="number" min="0" .value=${String(c.target_workers)}
        /></label>
        <button ?disabled=${this.writes.busy} @click=${this.scale}>Scale</button>
        <label>min <input id="min" type="number" min="0" .value=${String(c.min_workers)} /></label>
        <label>max <input id="max" type="number" min="0" .value=${String(c.max_workers)} /></label>
        <button class="secondary" ?disabled=${this.writes.busy} @click=${this.bounds}>
          Update bounds
        </button>
        ${
          c.status === 'hibernated'
            ? html`<button
                class="secondary"
                ?disabled=${this.writes.busy}
                @click=${() => this.writes.run(`Reactivate ${c.id}?`, () => api.reactivate(c.id))}
              >
                Reactivate
              </button>`
            : html`<button
                class="secondary"
                ?disabled=${this.writes.busy}
                @click=${() => this.writes.run(`Hibernate ${c.id} (0 workers)?`, () => api.hibernate(c.id))}
              >
                Hibernate
              </button>`
        }
        <button
          class="danger"
          ?disabled=${this.writes.busy}
          @click=${() => this.writes.run(`Decommission ${c.id}? Its agents stop and it takes no more tasks.`, () => api.decommission(c.id))}
        >
          Decommission
        </button>
      </div>
      <details>
        <summary>scaling policy</summary>
        <textarea
          id="policy"
          rows="8"
          spellcheck="false"
          .value=${JSON.stringify(c.policy, null, 2)}
        ></textarea>
        <button class="secondary" ?disabled=${this.writes.busy} @click=${this.policy}>
          Update policy
        </button>
      </details>`;
  }

  private taskForm(): TemplateResult {
    if (!this.canWrite) return html``;
    const t = this.task;
    return html`<section class="panel" aria-label="submit task">
      <h3>Submit a task</h3>
      <form class="row" @submit=${this.submit}>
        <label
          >priority
          <select id="priority">
            <option>high</option>
            <option selected>normal</option>
            <option>low</option>
          </select></label
        >
        <label>capability <input id="capability" placeholder="(any)" /></label>
        <label class="grow">payload (JSON) <input id="payload" value='{"hello":"world"}' /></label>
        <button type="submit">Submit</button>
      </form>
      ${errorLine(this.taskError)}
      ${
        t
          ? html`<p data-testid="task">
                task <a href="#/tasks/${encodeURIComponent(t.id)}">${t.id}</a> ${status(t.status)}
                <span class="muted"
                  >attempts ${t.attempts}${t.node_id ? ` · on ${t.node_id}` : ''}</span
                >
              </p>
              ${FINISHED.has(t.status) ? html`<pre data-testid="task-result">${JSON.stringify(t.result ?? t.error, null, 2)}</pre>` : ''}`
          : ''
      }
    </section>`;
  }

  override render(): TemplateResult {
    const c = this.cluster;
    if (!c)
      return html`${errorLine(this.error)}
        <p class="muted">loading ${this.clusterId}…</p>`;
    const events = this.events.filter(
      (e) =>
        (!this.severity || e.severity === this.severity) &&
        (!this.typeFilter || e.type.toLowerCase().includes(this.typeFilter.toLowerCase())),
    );
    const pending = this.agents.filter(
      (a) => !a.node_id && a.state !== 'stopped' && a.state !== 'failed',
    );
    return html`
      <section class="panel ${c.degraded_reason ? 'degraded' : ''}">
        <h2>${c.name} ${status(c.status)}</h2>
        <div class="facts">
          <div><span>id</span>${c.id}</div>
          <div><span>blueprint</span>${c.blueprint_id} ${c.blueprint_version}</div>
          <div data-testid="cluster-workers">
            <span>workers (current / target)</span>${c.current_workers} / ${c.target_workers}
            [${c.min_workers}..${c.max_workers}]
          </div>
          <div><span>agents running / desired</span>${c.running_agents} / ${c.desired_agents}</div>
          <div>
            <span>health</span>${fmt.num(c.health_score === null ? null : c.health_score * 100)}
          </div>
          <div><span>circuit</span>${status(c.circuit)}</div>
          <div><span>backup</span>${c.backup_cluster ?? '—'}</div>
          <div><span>tenant</span>${c.tenant_id}</div>
        </div>
        ${c.degraded_reason ? html`<p class="warn" role="status">Why: ${c.degraded_reason}</p>` : ''}
        ${this.rolloutLine(c)}
        ${pending.length ? html`<p class="warn">${pending.length} agents waiting for a node: ${pending.map((a) => `${a.name}#${a.ordinal}${a.reason ? ` (${a.reason})` : ''}`).join(', ')}</p>` : ''}
        ${this.at === null ? html`${this.actions(c)} ${errorLine(this.writes.error)}` : html`<p class="muted">The cluster as it was then: actions act on now, so they wait for "Back to now".</p>`}
      </section>
      ${this.timeTravel()}
      <section class="panel" aria-label="metrics">${this.charts()}</section>
      ${this.costPanel()}
      ${this.taskForm()}
      <section class="panel" aria-label="dead letters">
        <h3>Dead letters <span class="muted">${this.deadLetters?.length ?? ''}</span></h3>
        ${this.deadLetters ? deadLetterTable(this.deadLetters) : html`<p class="muted">loading…</p>`}
      </section>
      <section class="panel" aria-label="hierarchy">
        <h3>Hierarchy</h3>
        ${
          this.tree
            ? html`<ul class="tree">
                ${this.treeNode(this.tree)}
              </ul>`
            : html`<p class="muted">no agents</p>`
        }
      </section>
      <section class="panel" aria-label="events">
        <div class="row">
          <h3>Events</h3>
          <label
            >severity
            <select
              @change=${(e: Event) => (this.severity = (e.target as HTMLSelectElement).value)}
            >
              <option value="">all</option>
              ${SEVERITIES.map((s) => html`<option>${s}</option>`)}
            </select></label
          >
          <label
            >type
            <input
              placeholder="e.g. Scaled"
              @input=${(e: Event) => (this.typeFilter = (e.target as HTMLInputElement).value)}
          /></label>
        </div>
        <div class="events">
          <table>
            <tbody>
              ${[...events].reverse().map(
                (e) =>
                  html`<tr data-event=${e.type}>
                    <td class="muted">${fmt.time(e.occurred_at)}</td>
                    <td>
                      ${status(e.severity === 'info' || e.severity === 'debug' ? null : e.severity)}
                    </td>
                    <td>${e.type}</td>
                    <td class="muted">${e.actor}</td>
                    <td class="muted">${summary(e)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
      </section>
      <section class="panel" aria-label="manifest">
        <h3>Manifest</h3>
        ${this.manifestText === null ? html`<button class="secondary" @click=${this.showManifest}>Show the manifest</button>` : markdown(this.manifestText)}
      </section>
    `;
  }
}
customElements.define('fl-cluster', ClusterPage);

/** A short line of what an event says. */
function summary(e: EventView): string {
  const d = e.data;
  if ('from' in d && 'to' in d)
    return `${String(d['from'])} → ${String(d['to'])}${d['reason'] ? `: ${String(d['reason'])}` : ''}`;
  if (d['reason']) return String(d['reason']);
  if (d['nodeId']) return `node ${String(d['nodeId'])}`;
  return '';
}
