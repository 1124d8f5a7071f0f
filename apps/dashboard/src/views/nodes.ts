import { LitElement, html, type TemplateResult } from 'lit';
import { api, type Assignment, type NodeView } from '../api.js';
import { Actions, LiveData } from '../live.js';
import { base, errorLine, fmt, status } from '../shared.js';

type Strategy = (typeof import('@flotilla/contracts').STRATEGIES)[number];
/** The contracts' placement strategies (checked complete at compile time; no runtime import). */
const STRATEGIES = [
  'round-robin',
  'least-loaded',
  'least-agents',
  'random',
  'weighted',
  'health-based',
] as const satisfies readonly Strategy[];
const _complete: [Exclude<Strategy, (typeof STRATEGIES)[number]>] extends [never] ? true : false =
  true;
void _complete;

/**
 * The worker nodes: status, health, usage against capacity, the agents on each, and (for the
 * platform role) drain, cordon, uncordon and the placement strategy.
 */
export class NodesView extends LitElement {
  static override properties = {
    canOperate: { type: Boolean },
    nodes: { state: true },
    assignments: { state: true },
    strategy: { state: true },
    error: { state: true },
  };
  declare canOperate: boolean;
  declare nodes: NodeView[];
  declare assignments: Assignment[];
  declare strategy: string;
  declare error: unknown;
  private readonly writes = new Actions(this, () => this.load());

  static override styles = [base];

  constructor() {
    super();
    this.canOperate = false;
    this.nodes = [];
    this.assignments = [];
    this.strategy = '';
    this.error = null;
    new LiveData(this, {
      load: () => this.load(),
      concerns: ({ type }) =>
        type.startsWith('Node') || type.startsWith('Agent') || type.includes('Strategy'),
      everyMs: 5000,
      settleMs: 400,
    });
  }

  private async load(): Promise<void> {
    try {
      const [nodes, assignments, stats] = await Promise.all([
        api.nodes(),
        api.assignments(),
        api.stats(),
      ]);
      this.nodes = nodes.nodes;
      this.assignments = assignments.assignments.filter((a) => a.status === 'assigned');
      this.strategy = stats.strategy;
      this.error = null;
    } catch (err) {
      this.error = err;
    }
  }

  private row(n: NodeView): TemplateResult {
    const here = this.assignments.filter((a) => a.node_id === n.id);
    return html`<tr data-node=${n.id}>
      <td>
        ${n.id}
        <div class="muted">${n.hostname} · ${n.zone}</div>
      </td>
      <td>${status(n.status)}</td>
      <td>${status(n.health)}</td>
      <td>
        ${fmt.pct(n.usage?.cpu_percent)}
        <span class="muted">${fmt.num(n.used.cpu, 1)}/${n.capacity.cpu} cpu</span>
      </td>
      <td>
        ${fmt.pct(n.usage?.memory_percent)}
        <span class="muted">${n.used.memory_mb}/${n.capacity.memory_mb} MiB</span>
      </td>
      <td data-testid="node-agents">${here.length} / ${n.capacity.max_agents}</td>
      <td>
        <details>
          <summary>${here.length} agents</summary>
          ${here.map((a) => html`<div><a href="#/clusters/${encodeURIComponent(a.cluster_id)}">${a.cluster_id}</a> <span class="muted">${a.agent_id}</span></div>`)}
        </details>
      </td>
      <td>
        ${
          this.canOperate
            ? html`<div class="row">
                <button
                  class="danger"
                  ?disabled=${n.status === 'draining' || n.status === 'drained'}
                  @click=${() => this.writes.run(`Drain ${n.id}? Its agents move to other nodes first.`, () => api.drain(n.id))}
                >
                  Drain
                </button>
                ${
                  n.status === 'cordoned' || n.status === 'drained'
                    ? html`<button
                        class="secondary"
                        @click=${() => this.writes.run(`Uncordon ${n.id}?`, () => api.uncordon(n.id))}
                      >
                        Uncordon
                      </button>`
                    : html`<button
                        class="secondary"
                        @click=${() => this.writes.run(`Cordon ${n.id}? No new agents are placed on it.`, () => api.cordon(n.id))}
                      >
                        Cordon
                      </button>`
                }
              </div>`
            : ''
        }
      </td>
    </tr>`;
  }

  override render(): TemplateResult {
    return html`
      <section class="panel">
        <div class="row">
          <h2>Nodes</h2>
          <span class="muted">placement strategy:</span>
          ${
            this.canOperate
              ? html`<select
                  aria-label="placement strategy"
                  @change=${(e: Event) => {
                    const s = (e.target as HTMLSelectElement).value;
                    void this.writes.run(`Switch the placement strategy to ${s}?`, () =>
                      api.setStrategy(s),
                    );
                  }}
                >
                  ${STRATEGIES.map((s) => html`<option ?selected=${s === this.strategy}>${s}</option>`)}
                </select>`
              : html`<strong>${this.strategy}</strong>`
          }
        </div>
        ${errorLine(this.error)} ${errorLine(this.writes.error)}
        ${this.canOperate ? '' : html`<p class="muted">Fleet operations (drain, cordon, the placement strategy) need the platform role (an admin of every tenant).</p>`}
        <table>
          <thead>
            <tr>
              <th>node</th>
              <th>status</th>
              <th>health</th>
              <th>cpu</th>
              <th>memory</th>
              <th>agents / capacity</th>
              <th>placed here</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${this.nodes.map((n) => this.row(n))}
          </tbody>
        </table>
      </section>
    `;
  }
}
customElements.define('fl-nodes', NodesView);
