import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { afterEvents, confirmAction, LIVE_EVENT, type LiveEvent } from './shared.js';

export interface LiveDataOptions {
  /** Fetches the view's data (it keeps its own error). */
  readonly load: () => Promise<void>;
  /** Whether a live event concerns the view. */
  readonly concerns: (event: LiveEvent) => boolean;
  /** A full reload this often besides the live events: heals a missed one, and metrics have none. */
  readonly everyMs: number;
  /** How long a burst of events may run before the reload they cause (see afterEvents). */
  readonly settleMs?: number;
}

/**
 * A view's data kept current: loaded when the view is connected, reloaded after the live events
 * that concern it and every `everyMs`, and nothing running once the view is gone.
 */
export class LiveData implements ReactiveController {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly refresh: () => void;
  private readonly onLive = (e: Event) => {
    if (this.options.concerns((e as CustomEvent<LiveEvent>).detail)) this.refresh();
  };

  constructor(
    host: ReactiveControllerHost,
    private readonly options: LiveDataOptions,
  ) {
    this.refresh = afterEvents(() => void options.load(), options.settleMs ?? 300);
    host.addController(this);
  }

  hostConnected(): void {
    window.addEventListener(LIVE_EVENT, this.onLive);
    void this.options.load();
    this.timer = setInterval(() => void this.options.load(), this.options.everyMs);
  }

  hostDisconnected(): void {
    window.removeEventListener(LIVE_EVENT, this.onLive);
    clearInterval(this.timer);
  }
}

/**
 * A view's writes: each asks first (naming what will happen), the view is busy while it runs and
 * reloaded after, and the API's refusal is kept to be shown in its own words.
 */
export class Actions implements ReactiveController {
  busy = false;
  error: unknown = null;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly reload: () => Promise<void>,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.error = null;
  }

  async run(what: string, write: () => Promise<unknown>): Promise<void> {
    if (!confirmAction(what)) return;
    this.busy = true;
    this.error = null;
    this.host.requestUpdate();
    try {
      await write();
      await this.reload();
    } catch (err) {
      this.error = err;
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  }

  /** Shows a refusal made before any request (bad input in a form). */
  refuse(err: unknown): void {
    this.error = err;
    this.host.requestUpdate();
  }
}
