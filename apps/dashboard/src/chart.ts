import { LitElement, css, html, unsafeCSS, type PropertyValues, type TemplateResult } from 'lit';
import { styleMap } from 'lit/directives/style-map.js';
import uPlot from 'uplot';
// uPlot's own stylesheet, adopted into this shadow root (a global stylesheet does not reach it).
import uplotCss from 'uplot/dist/uPlot.min.css?inline';

export interface Series {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly color: string;
}

/** A point in time marked on the chart (a scaling decision), with its reason on hover. */
export interface Marker {
  readonly at: number;
  readonly label: string;
}

/**
 * A time-series chart (uPlot): seconds on x, one or more series, and markers drawn as lines
 * across the plot whose reason shows on hover (a marker is an element with a title, so it works
 * with a mouse and is readable by tests and screen readers).
 */
export class TimeChart extends LitElement {
  static override properties = {
    heading: { type: String },
    times: { attribute: false },
    series: { attribute: false },
    markers: { attribute: false },
  };
  declare heading: string;
  declare times: readonly number[];
  declare series: readonly Series[];
  declare markers: readonly Marker[];
  private plot: uPlot | undefined;
  private readonly resize = new ResizeObserver(() => this.plot?.setSize(this.size()));

  static override styles = [
    unsafeCSS(uplotCss),
    css`
      :host {
        display: block;
        position: relative;
        min-width: 0;
      }
      .latest {
        color: var(--fg);
        font-weight: 400;
      }
      h4 {
        margin: 0 0 0.25rem;
        font-size: 0.85rem;
        font-weight: 500;
        color: var(--muted);
      }
      .wrap {
        position: relative;
      }
      .marker {
        position: absolute;
        top: 0;
        width: 7px;
        margin-left: -3px;
        cursor: help;
        border-left: 2px dashed var(--warn);
        box-sizing: border-box;
      }
      .empty {
        color: var(--muted);
        font-size: 0.85rem;
        padding: 2rem 0;
        text-align: center;
      }
    `,
  ];

  constructor() {
    super();
    this.heading = '';
    this.times = [];
    this.series = [];
    this.markers = [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.resize.observe(this);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(240, this.clientWidth), height: 160 };
  }

  protected override updated(changed: PropertyValues): void {
    if (!changed.has('times') && !changed.has('series')) return;
    const target = this.renderRoot.querySelector<HTMLElement>('.plot');
    if (!target) return;
    const data = [
      this.times as number[],
      ...this.series.map((s) => s.values as (number | null)[]),
    ] as uPlot.AlignedData;
    if (this.plot && this.plot.series.length === this.series.length + 1) {
      this.plot.setData(data);
    } else {
      this.plot?.destroy();
      this.plot = new uPlot(
        {
          ...this.size(),
          legend: { show: true },
          scales: { x: { time: true } },
          series: [
            {},
            ...this.series.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 1.5,
              spanGaps: true,
            })),
          ],
          axes: [{ stroke: '#8892a6' }, { stroke: '#8892a6', size: 48 }],
        },
        data,
        target,
      );
    }
    this.requestUpdate('markers');
  }

  private markerX(at: number): number | null {
    if (!this.plot) return null;
    const x = this.plot.valToPos(at, 'x');
    if (!Number.isFinite(x) || x < 0 || x > this.plot.bbox.width / devicePixelRatio) return null;
    return x + this.plot.bbox.left / devicePixelRatio;
  }

  override render(): TemplateResult {
    const plotTop = this.plot ? this.plot.bbox.top / devicePixelRatio : 0;
    const plotHeight = this.plot ? this.plot.bbox.height / devicePixelRatio : 0;
    const latest = this.series.map((s) => `${s.label} ${fmtValue(s.values.at(-1))}`).join(' · ');
    return html`<h4>
        ${this.heading}
        <span class="latest" data-testid="latest">${this.times.length ? latest : ''}</span>
      </h4>
      ${this.times.length === 0 ? html`<div class="empty">no data yet</div>` : ''}
      <div class="wrap">
        <div class="plot"></div>
        ${this.markers.map((m) => {
          const x = this.markerX(m.at);
          return x === null
            ? ''
            : html`<div
                class="marker"
                data-testid="scaling-marker"
                title=${m.label}
                style=${styleMap({ left: `${x}px`, top: `${plotTop}px`, height: `${plotHeight}px` })}
              ></div>`;
        })}
      </div>`;
  }
}
customElements.define('fl-chart', TimeChart);

function fmtValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
