import { LitElement, css, html, type TemplateResult } from 'lit';
import { styleMap } from 'lit/directives/style-map.js';
import {
  api,
  type BlueprintView,
  type ClusterView,
  type MetricPoint,
  type NodeView,
} from '../api.js';
import { LiveData } from '../live.js';
import { base, errorLine, fmt, status } from '../shared.js';

/** Rows fetched per page from the API (server-side paging), and the height of one row (virtualised list). */
const PAGE = 200;
const ROW_PX = 34;
const VIEWPORT_ROWS = 14;

/**
 * The fleet at a glance: every cluster (paged by the server, only the visible rows rendered), the
 * nodes, and the forms to register a blueprint and create a cluster. Live: an event of a cluster
 * refreshes it; queue depth and throughput of the visible rows come from their latest metrics.
 */
export class FleetView extends LitElement {
  static override properties = {
    canWrite: { type: Boolean },
    clusters: { state: true },
    total: { state: true },
    offset: { state: true },
    nodes: { state: true },
    blueprints: { state: true },
    latest: { state: true },
    scrollTop: { state: true },
    error: { state: true },
    formError: { state: true },
    formNote: { state: true },
  };
  declare canWrite: boolean;
  declare clusters: ClusterView[];
  declare total: number;
  declare offset: number;
  declare nodes: NodeView[];
  declare blueprints: BlueprintView[];
  declare latest: Map<string, MetricPoint>;
  declare scrollTop: number;
  declare error: unknown;
  declare formError: unknown;
  declare formNote: string;

  static override styles = [
    base,
    css`
      .grid {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      @media (min-width: 1100px) {
        .forms {
          display: grid;
          grid-template-columns: 1fr 1fr;
          gap: 1rem;
        }
      }
      .viewport {
        overflow-y: auto;
        position: relative;
      }
      .spacer {
        position: relative;
      }
      tr {
        height: ${ROW_PX}px;
      }
      .pager {
        margin-top: 0.5rem;
      }
    `,
  ];

  constructor() {
    super();
    this.canWrite = false;
    this.clusters = [];
    this.total = 0;
    this.offset = 0;
    this.nodes = [];
    this.blueprints = [];
    this.latest = new Map();
    this.scrollTop = 0;
    this.error = null;
    this.formError = null;
    this.formNote = '';
    new LiveData(this, {
      load: () => this.load(),
      concerns: ({ type }) =>
        ['Cluster', 'Agent', 'Node', 'Blueprint'].some((prefix) => type.startsWith(prefix)),
      everyMs: 10_000,
      settleMs: 400,
    });
  }

  private async load(): Promise<void> {
    try {
      const [page, nodes, bps] = await Promise.all([
        api.clusters(PAGE, this.offset),
        api.nodes(),
        api.blueprints(),
      ]);
      this.clusters = page.clusters;
      this.total = page.total;
      this.nodes = nodes.nodes;
      this.blueprints = bps.blueprints;
      this.error = null;
      await this.loadMetrics();
    } catch (err) {
      this.error = err;
    }
  }

  /** The latest metrics point of the rows on screen (one request each, only for what is visible). */
  private async loadMetrics(): Promise<void> {
    const since = new Date(Date.now() - 60_000).toISOString();
    const latest = new Map(this.latest);
    await Promise.all(
      this.visible().map(async (c) => {
        const m = await api.metrics(c.id, since).catch(() => null);
        const last = m?.points.at(-1);
        if (last) latest.set(c.id, last);
      }),
    );
    this.latest = latest;
  }

  private visible(): ClusterView[] {
    const first = Math.floor(this.scrollTop / ROW_PX);
    return this.clusters.slice(first, first + VIEWPORT_ROWS + 2);
  }

  private onScroll(e: Event): void {
    this.scrollTop = (e.target as HTMLElement).scrollTop;
    void this.loadMetrics();
  }

  private page(delta: number): void {
    this.offset = Math.max(0, this.offset + delta * PAGE);
    this.scrollTop = 0;
    // The list's own scroll position too, or the new page would show the old one's offset.
    const viewport = this.renderRoot.querySelector<HTMLElement>('.viewport');
    if (viewport) viewport.scrollTop = 0;
    void this.load();
  }

  private async register(e: Event): Promise<void> {
    e.preventDefault();
    const text = this.renderRoot.querySelector<HTMLTextAreaElement>('#blueprint-yaml')!.value;
    this.formError = null;
    try {
      const r = await api.registerBlueprint(text);
      this.formNote = `blueprint ${r.id} ${r.latest_version} registered`;
      await this.load();
    } catch (err) {
      this.formError = err;
    }
  }

  private async create(e: Event): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const body: Record<string, unknown> = {
      id: String(data.get('id')),
      name: String(data.get('name') || data.get('id')),
      blueprint_id: String(data.get('blueprint')),
    };
    const target = String(data.get('target') ?? '');
    if (target) body['target_workers'] = Number(target);
    this.formError = null;
    try {
      const r = await api.createCluster(body);
      this.formNote = `cluster ${r.id} created`;
      location.hash = `#/clusters/${encodeURIComponent(r.id)}`;
    } catch (err) {
      this.formError = err;
    }
  }

  private clusterRow(c: ClusterView): TemplateResult {
    const m = this.latest.get(c.id);
    return html`<tr data-cluster=${c.id}>
      <td>
        <a href="#/clusters/${encodeURIComponent(c.id)}">${c.name}</a>
        <div class="muted">${c.id}</div>
      </td>
      <td>${status(c.status)}</td>
      <td data-testid="workers">
        ${c.current_workers} / ${c.target_workers}
        <span class="muted">[${c.min_workers}..${c.max_workers}]</span>
      </td>
      <td>${c.running_agents}/${c.desired_agents}</td>
      <td>${fmt.num(c.health_score === null ? null : c.health_score * 100)}</td>
      <td>${status(c.circuit)}</td>
      <td>${m ? m.queue_depth : '—'}</td>
      <td>${m ? fmt.num(m.tasks_per_minute, 1) : '—'}</td>
    </tr>`;
  }

  override render(): TemplateResult {
    const first = Math.floor(this.scrollTop / ROW_PX);
    const rows = this.clusters.slice(first, first + VIEWPORT_ROWS + 2);
    return html`
      <div class="grid">
        <section class="panel" aria-label="clusters">
          <h2>Clusters <span class="muted">${this.total}</span></h2>
          ${errorLine(this.error)}
          <div
            class="viewport"
            style=${styleMap({ maxHeight: `${(VIEWPORT_ROWS + 1) * ROW_PX}px` })}
            @scroll=${this.onScroll}
          >
            <div
              class="spacer"
              style=${styleMap({ height: `${(this.clusters.length + 1) * ROW_PX}px` })}
            >
              <table style=${styleMap({ position: 'absolute', top: `${first * ROW_PX}px` })}>
                <thead>
                  <tr>
                    <th>cluster</th>
                    <th>status</th>
                    <th>workers (current / target [min..max])</th>
                    <th>agents</th>
                    <th>health</th>
                    <th>circuit</th>
                    <th>queue</th>
                    <th>tasks/min</th>
                  </tr>
                </thead>
                <tbody>
                  ${rows.map((c) => this.clusterRow(c))}
                </tbody>
              </table>
            </div>
          </div>
          ${
            this.total > PAGE
              ? html`<div class="row pager">
                  <button
                    class="secondary"
                    ?disabled=${this.offset === 0}
                    @click=${() => this.page(-1)}
                  >
                    previous
                  </button>
                  <span class="muted"
                    >${this.offset + 1}–${Math.min(this.offset + PAGE, this.total)} of
                    ${this.total}</span
                  >
                  <button
                    class="secondary"
                    ?disabled=${this.offset + PAGE >= this.total}
                    @click=${() => this.page(1)}
                  >
                    next
                  </button>
                </div>`
              : ''
          }
        </section>
        <section class="panel" aria-label="nodes">
          <h2>Nodes <span class="muted">${this.nodes.length}</span></h2>
          <table>
            <thead>
              <tr>
                <th>node</th>
                <th>zone</th>
                <th>status</th>
                <th>health</th>
                <th>cpu</th>
                <th>memory</th>
                <th>agents / capacity</th>
                <th>heartbeat</th>
              </tr>
            </thead>
            <tbody>
              ${this.nodes.map(
                (n) =>
                  html`<tr data-node=${n.id}>
                    <td>${n.id}</td>
                    <td>${n.zone}</td>
                    <td>${status(n.status)}</td>
                    <td>${status(n.health)}</td>
                    <td>
                      ${fmt.pct(n.usage?.cpu_percent)}
                      <span class="muted"
                        >(${fmt.num(n.used.cpu, 1)} of ${n.capacity.cpu} reserved)</span
                      >
                    </td>
                    <td>
                      ${fmt.pct(n.usage?.memory_percent)}
                      <span class="muted"
                        >(${n.used.memory_mb} of ${n.capacity.memory_mb} MiB)</span
                      >
                    </td>
                    <td>${n.used.agents} / ${n.capacity.max_agents}</td>
                    <td>${fmt.ago(n.last_heartbeat_at)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </section>
        ${
          this.canWrite
            ? html`<div class="forms">
                <form class="panel" @submit=${this.register} aria-label="register blueprint">
                  <h3>Register a blueprint</h3>
                  <p class="muted">YAML or JSON; the same id again registers a new version.</p>
                  <textarea
                    id="blueprint-yaml"
                    rows="12"
                    spellcheck="false"
                    placeholder="apiVersion: flotilla/v1&#10;kind: Blueprint&#10;…"
                  ></textarea>
                  <button type="submit">Register</button>
                </form>
                <form class="panel" @submit=${this.create} aria-label="create cluster">
                  <h3>Create a cluster</h3>
                  <div class="row">
                    <label>id <input name="id" required pattern="[a-z0-9]([a-z0-9]|-)*" /></label>
                    <label>name <input name="name" /></label>
                    <label
                      >blueprint
                      <select name="blueprint" required>
                        ${this.blueprints.map((b) => html`<option value=${b.id}>${b.id} (${b.latest_version})</option>`)}
                      </select></label
                    >
                    <label>target workers <input name="target" type="number" min="0" /></label>
                  </div>
                  <p><button type="submit">Create</button></p>
                </form>
              </div>`
            : html`<p class="muted">Your role can read only: no write actions are offered.</p>`
        }
        ${errorLine(this.formError)}
        ${this.formNote ? html`<p class="muted" role="status">${this.formNote}</p>` : ''}
      </div>
    `;
  }
}
customElements.define('fl-fleet', FleetView);
