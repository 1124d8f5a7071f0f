import { LitElement, css, html, type TemplateResult } from 'lit';
import { api, ApiError, session, type Identity, type SystemHealth } from './api.js';
import { follow } from './sse.js';
import { base, errorLine, LIVE_EVENT, type LiveEvent } from './shared.js';
import './views/fleet.js';
import './views/cluster.js';
import './views/nodes.js';
import './views/tasks.js';
import './views/audit.js';

type Route =
  | { view: 'fleet' }
  | { view: 'cluster'; id: string }
  | { view: 'nodes' }
  | { view: 'tasks'; id?: string }
  | { view: 'audit' };

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'clusters' && parts[1]) return { view: 'cluster', id: parts[1] };
  if (parts[0] === 'nodes') return { view: 'nodes' };
  if (parts[0] === 'tasks') return parts[1] ? { view: 'tasks', id: parts[1] } : { view: 'tasks' };
  if (parts[0] === 'audit') return { view: 'audit' };
  return { view: 'fleet' };
}

/**
 * The shell: sign-in (the API key, kept in this tab's sessionStorage), navigation by URL hash,
 * a banner while a service is down, and one live event stream for every view.
 */
export class FlotillaApp extends LitElement {
  static override properties = {
    identity: { state: true },
    route: { state: true },
    health: { state: true },
    live: { state: true },
    signInError: { state: true },
  };
  declare identity: Identity | null;
  declare route: Route;
  declare health: SystemHealth | null;
  declare live: boolean;
  declare signInError: unknown;
  private stream: AbortController | undefined;
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  private readonly onHash = () => (this.route = parseRoute(location.hash));

  static override styles = [
    base,
    css`
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 1rem;
        padding: 0.6rem 1rem;
        border-bottom: 1px solid var(--line);
        background: var(--panel);
      }
      header strong {
        font-size: 1.05rem;
      }
      nav {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
      }
      nav a {
        text-decoration: none;
      }
      nav a[aria-current='page'] {
        font-weight: 600;
        text-decoration: underline;
      }
      .who {
        margin-left: auto;
        display: flex;
        gap: 0.5rem;
        align-items: center;
      }
      main {
        padding: 1rem;
        max-width: 1400px;
        margin: 0 auto;
      }
      .banner {
        background: var(--bad);
        color: white;
        padding: 0.5rem 1rem;
      }
      .signin {
        max-width: 420px;
        margin: 4rem auto;
      }
      .signin input {
        width: 100%;
        box-sizing: border-box;
        margin: 0.5rem 0;
      }
      .dot {
        width: 0.6rem;
        height: 0.6rem;
        border-radius: 50%;
        display: inline-block;
        background: var(--muted);
      }
      .dot.on {
        background: var(--ok);
      }
    `,
  ];

  constructor() {
    super();
    this.identity = null;
    this.route = parseRoute(location.hash);
    this.health = null;
    this.live = false;
    this.signInError = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHash);
    if (session.key()) void this.resume();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHash);
    this.stop();
  }

  private async resume(): Promise<void> {
    try {
      this.identity = await api.whoami();
      this.start();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) session.signOut();
      this.signInError = err;
    }
  }

  private async signIn(e: Event): Promise<void> {
    e.preventDefault();
    const input = this.renderRoot.querySelector<HTMLInputElement>('#api-key')!;
    const key = input.value.trim();
    if (!key) return;
    session.signIn(key);
    input.value = '';
    this.signInError = null;
    await this.resume();
  }

  private signOut(): void {
    this.stop();
    session.signOut();
    this.identity = null;
  }

  private start(): void {
    this.stop();
    const controller = new AbortController();
    this.stream = controller;
    void follow({
      apiKey: session.key()!,
      signal: controller.signal,
      onState: (live) => (this.live = live),
      onEvent: (e) => {
        let parsed: { type?: string; aggregate_id?: string; data?: Record<string, unknown> } = {};
        try {
          parsed = JSON.parse(e.data) as typeof parsed;
        } catch {
          return;
        }
        const detail: LiveEvent = {
          type: parsed.type ?? e.type,
          position: e.id,
          aggregateId: parsed.aggregate_id,
          data: parsed.data ?? {},
        };
        window.dispatchEvent(new CustomEvent(LIVE_EVENT, { detail }));
      },
    });
    const poll = async () => {
      this.health = await api.health().catch(() => null);
    };
    void poll();
    this.healthTimer = setInterval(poll, 10_000);
  }

  private stop(): void {
    this.stream?.abort();
    this.stream = undefined;
    if (this.healthTimer) clearInterval(this.healthTimer);
  }

  private banner(): TemplateResult {
    const h = this.health;
    if (!h || h.status === 'up') return html``;
    const down = [
      ...Object.entries(h.services)
        .filter(([, s]) => s.status !== 'up')
        .map(([n]) => n),
      ...(h.nats.status !== 'up' ? ['nats'] : []),
      ...(h.postgres.status !== 'up' ? ['postgres'] : []),
    ];
    return html`<div class="banner" role="status" data-testid="service-banner">
      Degraded: ${down.join(', ') || h.status} not answering. Data may be stale; writes may fail.
    </div>`;
  }

  override render(): TemplateResult {
    if (!this.identity) {
      return html`<form class="signin panel" @submit=${this.signIn}>
        <h2>Flotilla</h2>
        <p class="muted">
          Sign in with an API key. It stays in this browser tab only (sessionStorage) and is sent in
          a header, never in a URL.
        </p>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          placeholder="API key"
          aria-label="API key"
        />
        <button type="submit">Sign in</button>
        ${errorLine(this.signInError)}
      </form>`;
    }
    const r = this.route;
    const link = (hash: string, label: string, active: boolean) =>
      html`<a href=${hash} aria-current=${active ? 'page' : 'false'}>${label}</a>`;
    const id = this.identity;
    const canWrite = id.role !== 'viewer';
    return html`
      ${this.banner()}
      <header>
        <strong>Flotilla</strong>
        <nav>
          ${link('#/', 'Fleet', r.view === 'fleet' || r.view === 'cluster')}
          ${link('#/nodes', 'Nodes', r.view === 'nodes')}
          ${link('#/tasks', 'Tasks', r.view === 'tasks')}
          ${link('#/audit', 'Audit', r.view === 'audit')}
        </nav>
        <span class="who">
          <span
            class="dot ${this.live ? 'on' : ''}"
            title=${this.live ? 'live' : 'reconnecting'}
          ></span>
          <span data-testid="identity"
            >${id.actor} · ${id.tenant_id} · ${id.role}${id.platform ? ' (platform)' : ''}</span
          >
          <button class="secondary" @click=${this.signOut}>Sign out</button>
        </span>
      </header>
      <main>
        ${
          r.view === 'fleet'
            ? html`<fl-fleet .canWrite=${canWrite}></fl-fleet>`
            : r.view === 'cluster'
              ? html`<fl-cluster .clusterId=${r.id} .canWrite=${canWrite}></fl-cluster>`
              : r.view === 'nodes'
                ? html`<fl-nodes .canOperate=${id.platform}></fl-nodes>`
                : r.view === 'tasks'
                  ? html`<fl-tasks .taskId=${r.id ?? ''} .canWrite=${canWrite}></fl-tasks>`
                  : html`<fl-audit></fl-audit>`
        }
      </main>
    `;
  }
}
customElements.define('flotilla-app', FlotillaApp);
