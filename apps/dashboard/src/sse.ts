// Server-sent events over fetch, so the API key travels in a header: EventSource cannot set one,
// and a key in a URL ends up in logs and history.

export interface StreamEvent {
  /** The event's log position (the SSE id). */
  id: string | undefined;
  /** The event type (ClusterScaled, AgentStarted…). */
  type: string;
  data: string;
}

/**
 * Splits an SSE byte stream into events. Feed it chunks as they arrive; it returns the complete
 * events and keeps the rest for the next chunk. Comments (`:` lines, the heartbeats) are skipped.
 */
export class SseParser {
  private buffer = '';
  private event: { id?: string; type?: string; data: string[] } = { data: [] };

  push(chunk: string): StreamEvent[] {
    this.buffer += chunk;
    const out: StreamEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r?\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer[nl] === '\r' ? 2 : 1));
      if (line === '') {
        if (this.event.data.length)
          out.push({
            id: this.event.id,
            type: this.event.type ?? 'message',
            data: this.event.data.join('\n'),
          });
        this.event = { data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') this.event.data.push(value);
      else if (field === 'event') this.event.type = value;
      else if (field === 'id') this.event.id = value;
    }
    return out;
  }
}

export interface FollowOptions {
  /** Query string of the stream (cluster=…, type=a,b). */
  readonly query?: string;
  readonly apiKey: string;
  readonly signal: AbortSignal;
  readonly onEvent: (e: StreamEvent) => void;
  /** Connection state changes (for a "live" indicator). */
  readonly onState?: (live: boolean, error?: string) => void;
}

/**
 * Follows `GET /api/events/stream` until the signal aborts, reconnecting after a drop with
 * `Last-Event-ID` so nothing is missed or repeated.
 */
export async function follow(opts: FollowOptions): Promise<void> {
  let lastId: string | undefined;
  let backoff = 500;
  while (!opts.signal.aborted) {
    try {
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        'x-api-key': opts.apiKey,
      };
      if (lastId) headers['last-event-id'] = lastId;
      const res = await fetch(`/api/events/stream${opts.query ? `?${opts.query}` : ''}`, {
        headers,
        signal: opts.signal,
      });
      if (!res.ok || !res.body) {
        const text = await res.text().catch(() => '');
        throw new Error(`${res.status} ${text.slice(0, 200)}`);
      }
      opts.onState?.(true);
      backoff = 500;
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const e of parser.push(value)) {
          if (e.id) lastId = e.id;
          opts.onEvent(e);
        }
      }
      opts.onState?.(false, 'stream ended');
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.onState?.(false, (err as Error).message);
    }
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10_000);
  }
}
