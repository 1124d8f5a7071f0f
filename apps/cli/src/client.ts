/** A thin JSON client of the gateway's REST API; errors carry the API's error code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  readonly timeoutMs?: number;
}

export class GatewayClient {
  constructor(private readonly options: ClientOptions) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.apiKey) headers['x-api-key'] = this.options.apiKey;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(new URL(path, this.options.baseUrl), {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new ApiError(0, 'unavailable', `cannot reach the gateway at ${this.options.baseUrl}: ${(err as Error).message}`, {});
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok && !(path === '/health' || path === '/ready')) {
      const e = (json as { error?: { code: string; message: string; details: unknown } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? res.statusText, e?.details ?? {});
    }
    return json as T;
  }

  /**
   * Opens a server-sent event stream. The key goes in a header, never in the URL (URLs end up in
   * proxies' and servers' access logs).
   */
  async stream(path: string, signal: AbortSignal, lastEventId?: string): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.options.apiKey) headers['x-api-key'] = this.options.apiKey;
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.options.baseUrl), { headers, signal });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiError(0, 'unavailable', `cannot reach the gateway at ${this.options.baseUrl}: ${(err as Error).message}`, {});
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let e: { code: string; message: string; details: unknown } | undefined;
      try {
        e = (JSON.parse(text) as { error?: typeof e }).error;
      } catch {
        e = undefined;
      }
      throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? res.statusText, e?.details ?? {});
    }
    return res.body;
  }
}

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** Splits a server-sent event stream into messages (comments and keep-alives are skipped). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === '\r' ? 2 : 1));
      if (line === '') {
        if (data.length) yield { id, event: event || 'message', data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id') id = value;
    }
  }
}
