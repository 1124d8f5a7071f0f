import { ApiError, readSse, type GatewayClient } from './client.js';

/** One event as the gateway's SSE stream carries it. */
export interface StreamEvent {
  readonly id: string;
  readonly type: string;
  readonly streamId: string;
  readonly revision: number | string;
  readonly position: string;
  readonly occurredAt: string;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Follows `/api/events/stream?<query>` until `signal` aborts. A dropped connection is opened again
 * with `Last-Event-ID` (the position of the last event received), so nothing is missed or repeated;
 * a refusal (4xx other than 429) ends the follow with that error.
 */
export async function followEvents(
  client: GatewayClient,
  query: Record<string, string | undefined>,
  signal: AbortSignal,
  onEvent: (event: StreamEvent) => void | Promise<void>,
  onOpen?: () => void | Promise<void>,
): Promise<void> {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  const path = `/api/events/stream${q ? `?${q}` : ''}`;
  let last: string | undefined;
  let failures = 0;
  let opened = false;
  while (!signal.aborted) {
    try {
      const body = await client.stream(path, signal, last);
      failures = 0;
      if (!opened) {
        opened = true;
        await onOpen?.();
      }
      for await (const message of readSse(body)) {
        if (message.event === 'error') {
          const e = (JSON.parse(message.data) as { error?: { code: string; message: string; details: unknown } }).error;
          throw new ApiError(503, e?.code ?? 'unavailable', e?.message ?? 'the event stream failed', e?.details ?? {});
        }
        if (message.id !== undefined) last = message.id;
        await onEvent(JSON.parse(message.data) as StreamEvent);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) throw err;
      if (++failures > 5) throw err;
      await sleep(Math.min(1000 * 2 ** failures, 10_000), signal);
    }
  }
}

/**
 * An AbortSignal that fires on Ctrl-C, on SIGTERM, or after `timeoutS` seconds (when given).
 * `timedOut()` tells which.
 */
export function stopSignal(timeoutS?: number): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  // `on`, not `once`: a second Ctrl-C while the watch winds down must not kill it mid-write.
  const stop = () => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const timer =
    timeoutS !== undefined
      ? setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutS * 1000)
      : undefined;
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      if (timer) clearTimeout(timer);
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    },
  };
}
