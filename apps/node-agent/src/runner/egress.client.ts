import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import {
  FlotillaError,
  RuleViolationError,
  TimeoutError,
  UnavailableError,
  ValidationError,
} from '@flotilla/domain';
import type { EgressGuard, ResolvedAddress } from './egress.policy.js';

export interface JsonReply {
  readonly status: number;
  readonly body: unknown;
  readonly contentType: string;
}

/** URLs may carry credentials in their query string: keep only origin and path in errors and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * A `lookup` that answers only with the addresses the egress policy checked: the connection goes
 * where the check looked, whatever the name resolves to by the time the socket opens.
 */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return ((_host: string, options: { family?: number | string; all?: boolean }, callback: (...args: unknown[]) => void) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    const usable = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : [...addresses];
    if (usable.length === 0) {
      callback(Object.assign(new Error('no checked address of the requested family'), { code: 'ENOTFOUND' }));
      return;
    }
    if (options.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
    else callback(null, usable[0]!.address, usable[0]!.family);
  }) as LookupFunction;
}

/** Waits for a promise unless the signal aborts first (DNS lookups cannot be cancelled). */
function raced<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e as Error)),
    );
  });
}

/**
 * Sends a JSON request through the egress policy, with a timeout (the runtime's, or the task's
 * when shorter) that also ends when the agent is stopped, and maps what went wrong to a typed
 * error. 5xx, 408 and 429 are the endpoint's trouble (UnavailableError: worth a retry), other
 * non-2xx answers (redirects included: they are never followed, so a reply cannot send the
 * node elsewhere) a refusal of this task. At most `egress.maxResponseBytes` of the reply are read.
 */
export async function sendJson(
  url: string,
  init: { method: string; headers: Record<string, string>; body: unknown },
  timeoutMs: number,
  signal: AbortSignal,
  what: string,
  egress: EgressGuard,
): Promise<JsonReply> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw ValidationError.of([{ path: 'url', message: 'expected an http:// or https:// URL' }], what);
  if (target.username || target.password)
    throw ValidationError.of([{ path: 'url', message: 'credentials in the URL are not supported (use headers)' }], what);
  const timeout = AbortSignal.timeout(timeoutMs);
  const abort = AbortSignal.any([signal, timeout]);
  const failed = (err: unknown): Error => {
    if (timeout.aborted)
      return new TimeoutError(`${what} did not answer within ${timeoutMs} ms`, { url: redact(url), timeout_ms: timeoutMs });
    if (signal.aborted) return signal.reason as Error;
    if (err instanceof FlotillaError) return err;
    return new UnavailableError(`${what} is unreachable: ${(err as Error).message}`, { url: redact(url) });
  };
  let addresses: readonly ResolvedAddress[];
  try {
    addresses = await raced(egress.check(target), abort);
  } catch (err) {
    throw failed(err);
  }
  const payload = Buffer.from(JSON.stringify(init.body));
  let res: http.IncomingMessage;
  let text: string;
  try {
    res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = (target.protocol === 'https:' ? https : http).request(
        {
          protocol: target.protocol,
          hostname: target.hostname.replace(/^\[|\]$/g, ''),
          port: target.port || undefined,
          path: `${target.pathname}${target.search}`,
          method: init.method,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            ...init.headers,
            'content-length': String(payload.length),
          },
          lookup: pinnedLookup(addresses),
          signal: abort,
        },
        resolve,
      );
      request.on('error', reject);
      request.end(payload);
    });
    text = await readLimited(res, what, egress.maxResponseBytes);
  } catch (err) {
    throw failed(err);
  }
  const status = res.statusCode ?? 0;
  const contentType = String(res.headers['content-type'] ?? '');
  if (status < 200 || status > 299) {
    const details = { url: redact(url), status, body: text.slice(0, 500) };
    if (status >= 500 || status === 408 || status === 429)
      throw new UnavailableError(`${what} answered ${status}`, details);
    throw new RuleViolationError('task_rejected', `${what} refused the task with ${status}`, details);
  }
  if (!contentType.includes('json')) return { status, body: text, contentType };
  try {
    return { status, body: text.length ? (JSON.parse(text) as unknown) : null, contentType };
  } catch {
    throw ValidationError.of([{ path: 'body', message: `${what} sent invalid JSON` }], 'response');
  }
}

/** The reply's text, refusing (and closing the connection) as soon as it passes the cap. */
async function readLimited(res: http.IncomingMessage, what: string, maxBytes: number): Promise<string> {
  const tooLarge = (message: string) => {
    res.destroy();
    return ValidationError.of([{ path: 'body', message }], 'response');
  };
  const declared = Number(res.headers['content-length'] ?? '0');
  if (declared > maxBytes) throw tooLarge(`${what} answered ${declared} bytes (at most ${maxBytes})`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`${what} answered more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
