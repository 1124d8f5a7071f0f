import { LitElement, html, type TemplateResult } from 'lit';
import { api, type ClusterView, type DeadLetter, type TaskView } from '../api.js';
import { base, deadLetterTable, errorLine, fmt, status } from '../shared.js';

const FINISHED = new Set(['completed', 'failed', 'dead_lettered', 'rejected']);

/**
 * A task by id, followed live to its end (state, attempts, the agent and node, the result or
 * error), and the dead letters of a cluster.
 */
export class TasksView extends LitElement {
  static override properties = {
    taskId: { type: String },
    canWrite: { type: Boolean },
    task: { state: true },
    error: { state: true },
    clusters: { state: true },
    deadCluster: { state: true },
    deadLetters: { state: true },
  };
  declare taskId: string;
  declare canWrite: boolean;
  declare task: TaskView | null;
  declare error: unknown;
  declare clusters: ClusterView[];
  declare deadCluster: string;
  declare deadLetters: DeadLetter[] | null;
  private following = 0;

  static override styles = [base];

  constructor() {
    super();
    this.taskId = '';
    this.canWrite = false;
    this.task = null;
    this.error = null;
    this.clusters = [];
    this.deadCluster = '';
    this.deadLetters = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.taskId) void this.follow(this.taskId);
    void api
      .clusters(1000, 0)
      .then((r) => (this.clusters = r.clusters))
      .catch(() => undefined);
  }

  private async showDeadLetters(clusterId: string): Promise<void> {
    this.deadCluster = clusterId;
    this.deadLetters = null;
    if (!clusterId) return;
    try {
      this.deadLetters = (await api.deadLetters(clusterId)).dead_letters;
    } catch (err) {
      this.error = err;
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.following++;
  }

  private async follow(id: string): Promise<void> {
    const mine = ++this.following;
    this.error = null;
    while (mine === this.following) {
      try {
        this.task = await api.task(id);
      } catch (err) {
        this.error = err;
        return;
      }
      if (FINISHED.has(this.task.status)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private lookup(e: Event): void {
    e.preventDefault();
    const id = this.renderRoot.querySelector<HTMLInputElement>('#task-id')!.value.trim();
    if (id) location.hash = `#/tasks/${encodeURIComponent(id)}`;
  }

  override render(): TemplateResult {
    const t = this.task;
    return html`
      <section class="panel">
        <h2>Tasks</h2>
        <p class="muted">Submit tasks from a cluster's page; follow any task by its id here.</p>
        <form class="row" @submit=${this.lookup}>
          <input id="task-id" placeholder="task_…" .value=${this.taskId} aria-label="task id" />
          <button type="submit">Follow</button>
        </form>
        ${errorLine(this.error)}
      </section>
      <section class="panel" aria-label="dead letters">
        <div class="row">
          <h3>Dead letters</h3>
          <select
            aria-label="cluster"
            @change=${(e: Event) => void this.showDeadLetters((e.target as HTMLSelectElement).value)}
          >
            <option value="">choose a cluster…</option>
            ${this.clusters.map((c) => html`<option value=${c.id} ?selected=${c.id === this.deadCluster}>${c.name} (${c.id})</option>`)}
          </select>
        </div>
        ${this.deadLetters ? deadLetterTable(this.deadLetters) : ''}
      </section>
      ${
        t
          ? html`<section class="panel" data-testid="task-detail">
              <h3>${t.id} ${status(t.status)}</h3>
              <table>
                <tbody>
                  <tr>
                    <th>cluster</th>
                    <td>
                      <a href="#/clusters/${encodeURIComponent(t.cluster_id)}">${t.cluster_id}</a
                      >${t.routed_to !== t.cluster_id ? html` → ran on backup ${t.routed_to}` : ''}
                    </td>
                  </tr>
                  <tr>
                    <th>priority / capability</th>
                    <td>${t.priority} / ${t.capability ?? 'any'}</td>
                  </tr>
                  <tr>
                    <th>attempts</th>
                    <td>${t.attempts} of ${t.max_attempts}</td>
                  </tr>
                  <tr>
                    <th>agent / node</th>
                    <td>${t.agent_id ?? '—'} / ${t.node_id ?? '—'}</td>
                  </tr>
                  <tr>
                    <th>submitted / started / finished</th>
                    <td>
                      ${fmt.ago(t.submitted_at)} / ${fmt.ago(t.started_at)} /
                      ${fmt.ago(t.finished_at)}
                    </td>
                  </tr>
                </tbody>
              </table>
              <h3>payload</h3>
              <pre>${JSON.stringify(t.payload, null, 2)}</pre>
              ${
                t.error
                  ? html`<h3>error</h3>
                      <pre class="error">${t.error}</pre>`
                  : ''
              }
              ${
                FINISHED.has(t.status)
                  ? html`<h3>result</h3>
                      <pre data-testid="task-result">${JSON.stringify(t.result, null, 2)}</pre>`
                  : ''
              }
            </section>`
          : ''
      }
    `;
  }
}
customElements.define('fl-tasks', TasksView);
