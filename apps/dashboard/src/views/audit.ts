import { LitElement, html, type TemplateResult } from 'lit';
import { api, type EventView } from '../api.js';
import { base, errorLine, status } from '../shared.js';

/** The audit trail across clusters (admins): by actor, type and time, newest first, paged by the server. */
export class AuditView extends LitElement {
  static override properties = {
    events: { state: true },
    total: { state: true },
    offset: { state: true },
    error: { state: true },
  };
  declare events: EventView[];
  declare total: number;
  declare offset: number;
  declare error: unknown;
  private filter = new URLSearchParams();

  static override styles = [base];

  constructor() {
    super();
    this.events = [];
    this.total = 0;
    this.offset = 0;
    this.error = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    const q = new URLSearchParams(this.filter);
    q.set('limit', '200');
    q.set('offset', String(this.offset));
    try {
      const r = await api.audit(q.toString());
      this.events = r.events;
      this.total = r.total;
      this.error = null;
    } catch (err) {
      this.error = err;
      this.events = [];
    }
  }

  private apply(e: Event): void {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    this.filter = new URLSearchParams();
    for (const k of ['actor', 'type', 'cluster']) {
      const v = String(data.get(k) ?? '').trim();
      if (v) this.filter.set(k, v);
    }
    const since = String(data.get('since') ?? '');
    if (since) this.filter.set('since', new Date(since).toISOString());
    this.offset = 0;
    void this.load();
  }

  override render(): TemplateResult {
    return html`<section class="panel">
      <h2>Audit <span class="muted">${this.total}</span></h2>
      <form class="row" @submit=${this.apply}>
        <label>actor <input name="actor" /></label>
        <label>type <input name="type" placeholder="ClusterScaled" /></label>
        <label>cluster <input name="cluster" /></label>
        <label>since <input name="since" type="datetime-local" /></label>
        <button type="submit">Filter</button>
      </form>
      ${errorLine(this.error)}
      <table>
        <thead>
          <tr>
            <th>time</th>
            <th>severity</th>
            <th>type</th>
            <th>actor</th>
            <th>cluster</th>
            <th>tenant</th>
          </tr>
        </thead>
        <tbody>
          ${this.events.map(
            (e) =>
              html`<tr>
                <td class="muted">${new Date(e.occurred_at).toLocaleString()}</td>
                <td>
                  ${status(e.severity === 'info' || e.severity === 'debug' ? null : e.severity)}
                </td>
                <td>${e.type}</td>
                <td>${e.actor}</td>
                <td>
                  ${e.cluster_id ? html`<a href="#/clusters/${encodeURIComponent(e.cluster_id)}">${e.cluster_id}</a>` : '—'}
                </td>
                <td>${e.tenant_id}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${
        this.total > 200
          ? html`<div class="row">
              <button
                class="secondary"
                ?disabled=${this.offset === 0}
                @click=${() => {
                  this.offset = Math.max(0, this.offset - 200);
                  void this.load();
                }}
              >
                newer
              </button>
              <button
                class="secondary"
                ?disabled=${this.offset + 200 >= this.total}
                @click=${() => {
                  this.offset += 200;
                  void this.load();
                }}
              >
                older
              </button>
            </div>`
          : ''
      }
    </section>`;
  }
}
customElements.define('fl-audit', AuditView);
