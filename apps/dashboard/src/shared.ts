import { css, html, type TemplateResult } from 'lit';
import type { ApiError } from './api.js';

/** Styles every view shares (each view is its own shadow root). */
export const base = css`
  :host {
    display: block;
  }
  h1,
  h2,
  h3 {
    margin: 0 0 0.5rem;
    font-weight: 600;
  }
  h2 {
    font-size: 1.15rem;
  }
  h3 {
    font-size: 1rem;
  }
  .panel {
    background: var(--panel);
    border: 1px solid var(--line);
    border-radius: 8px;
    padding: 1rem;
    margin-bottom: 1rem;
    overflow-x: auto;
  }
  table {
    border-collapse: collapse;
    width: 100%;
  }
  th,
  td {
    text-align: left;
    padding: 0.35rem 0.5rem;
    border-bottom: 1px solid var(--line);
    white-space: nowrap;
  }
  th {
    color: var(--muted);
    font-weight: 500;
    font-size: 0.85rem;
  }
  button,
  input,
  select,
  textarea {
    font: inherit;
    color: inherit;
    background: var(--bg);
    border: 1px solid var(--line);
    border-radius: 6px;
    padding: 0.3rem 0.6rem;
  }
  button {
    cursor: pointer;
    background: var(--accent);
    color: white;
    border-color: var(--accent);
  }
  button.secondary {
    background: transparent;
    color: var(--fg);
  }
  button.danger {
    background: var(--bad);
    border-color: var(--bad);
  }
  button:disabled {
    opacity: 0.5;
    cursor: default;
  }
  textarea {
    width: 100%;
    box-sizing: border-box;
    font-family: ui-monospace, monospace;
    font-size: 0.85rem;
  }
  a {
    color: var(--accent);
  }
  .muted {
    color: var(--muted);
  }
  .error {
    color: var(--bad);
    white-space: pre-wrap;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
  }
  .badge {
    display: inline-block;
    padding: 0 0.45rem;
    border-radius: 999px;
    font-size: 0.8rem;
    border: 1px solid var(--line);
  }
  .ok {
    color: var(--ok);
  }
  .warn {
    color: var(--warn);
  }
  .bad {
    color: var(--bad);
  }
  label {
    display: inline-flex;
    flex-direction: column;
    font-size: 0.8rem;
    color: var(--muted);
    gap: 0.15rem;
  }
  pre {
    white-space: pre-wrap;
    word-break: break-word;
    font-size: 0.85rem;
  }
`;

const GOOD = new Set([
  'active',
  'online',
  'healthy',
  'idle',
  'busy',
  'running',
  'completed',
  'closed',
]);
const WARN = new Set([
  'spawning',
  'scaling',
  'hibernating',
  'hibernated',
  'reactivating',
  'draining',
  'cordoned',
  'warning',
  'pending',
  'starting',
  'queued',
  'half_open',
  'degraded_capacity',
]);

/** A status word, coloured by what it means. */
export function status(s: string | null | undefined): TemplateResult {
  const cls = !s ? 'muted' : GOOD.has(s) ? 'ok' : WARN.has(s) ? 'warn' : 'bad';
  return html`<span class="badge ${cls}" data-status=${s ?? ''}>${s ?? '—'}</span>`;
}

/** An API refusal in the API's words (and what a 403 means). */
export function errorLine(err: unknown): TemplateResult {
  if (!err) return html``;
  const e = err as ApiError;
  return html`<p class="error" role="alert">
    ${typeof e.describe === 'function' ? e.describe() : String((err as Error).message ?? err)}
  </p>`;
}

export const fmt = {
  num: (n: number | null | undefined, digits = 0) =>
    n === null || n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits),
  pct: (n: number | null | undefined) =>
    n === null || n === undefined ? '—' : `${Math.round(n)}%`,
  time: (iso: string) => new Date(iso).toLocaleTimeString(),
  ago: (iso: string | null) => {
    if (!iso) return '—';
    const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    return s < 60
      ? `${s}s ago`
      : s < 3600
        ? `${Math.round(s / 60)}m ago`
        : `${Math.round(s / 3600)}h ago`;
  },
};

/** Every event of the caller's tenant arrives on window as `flotilla:event` (see app.ts). */
export interface LiveEvent {
  readonly type: string;
  readonly position: string | undefined;
  readonly aggregateId: string | undefined;
  readonly data: Record<string, unknown>;
}
export const LIVE_EVENT = 'flotilla:event';

/**
 * Refreshes a view after live events: soon after the first (throttled to one per `ms`), and again
 * 1.5 s and 4 s after the last one. The stream can deliver an event before the read models show
 * it, so a single read right after the last event could leave the view one change behind until
 * the next event, which may never come.
 */
export function afterEvents(fn: () => void, ms = 300): () => void {
  const soon = throttle(fn, ms);
  let settle: ReturnType<typeof setTimeout>[] = [];
  return () => {
    soon();
    for (const t of settle) clearTimeout(t);
    settle = [1500, 4000].map((d) => setTimeout(fn, d));
  };
}

/** Calls `fn` at most once per `ms` (live refreshes). */
export function throttle(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
}

/** A table of dead letters (the cluster page and the tasks page). */
export function deadLetterTable(
  letters: readonly {
    task_id: string;
    reason: string;
    dead_at: string;
    priority: string;
    capability: string | null;
  }[],
): TemplateResult {
  if (!letters.length) return html`<p class="muted">no dead letters</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>task</th>
        <th>given up</th>
        <th>priority / capability</th>
        <th>why</th>
      </tr>
    </thead>
    <tbody>
      ${letters.map(
        (d) =>
          html`<tr data-dead-letter=${d.task_id}>
            <td><a href="#/tasks/${encodeURIComponent(d.task_id)}">${d.task_id}</a></td>
            <td class="muted">${new Date(d.dead_at).toLocaleString()}</td>
            <td>${d.priority} / ${d.capability ?? 'any'}</td>
            <td class="error">${d.reason}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Asks before a write, naming what will happen. */
export function confirmAction(what: string): boolean {
  return window.confirm(what);
}
