import {
  RuleViolationError,
  TimeoutError,
  UnavailableError,
  ValidationError,
  type JsonValue,
  type ResolvedRuntime,
} from '@flotilla/domain';
import type { AgentRuntime, RuntimeContext } from './runtime.js';
import type { AgentTask } from './task-source.js';

type Http = Extract<ResolvedRuntime, { kind: 'http' }>;

/** The limit on an endpoint's answer: a result is data, not a download. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Sends a request with a timeout (the runtime's, or the task's when shorter) that also ends when
 * the agent is stopped; maps what went wrong to a typed error. 5xx, 408 and 429 are the
 * endpoint's trouble (UnavailableError: worth a retry), other 4xx a refusal of this task.
 */
export async function sendJson(
  url: string,
  init: { method: string; headers: Record<string, string>; body: unknown },
  timeoutMs: number,
  signal: AbortSignal,
  what: string,
): Promise<{ status: number; body: unknown; contentType: string }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...init.headers },
      body: JSON.stringify(init.body),
      signal: AbortSignal.any([signal, timeout]),
    });
  } catch (err) {
    if (timeout.aborted)
      throw new TimeoutError(`${what} did not answer within ${timeoutMs} ms`, {
        url: redact(url),
        timeout_ms: timeoutMs,
      });
    if (signal.aborted) throw signal.reason as Error;
    throw new UnavailableError(`${what} is unreachable: ${(err as Error).message}`, {
      url: redact(url),
    });
  }
  const text = await readLimited(res, what);
  const contentType = res.headers.get('content-type') ?? '';
  if (!res.ok) {
    const details = { url: redact(url), status: res.status, body: text.slice(0, 500) };
    if (res.status >= 500 || res.status === 408 || res.status === 429)
      throw new UnavailableError(`${what} answered ${res.status}`, details);
    throw new RuleViolationError(
      'task_rejected',
      `${what} refused the task with ${res.status}`,
      details,
    );
  }
  if (!contentType.includes('json')) return { status: res.status, body: text, contentType };
  try {
    return {
      status: res.status,
      body: text.length ? (JSON.parse(text) as unknown) : null,
      contentType,
    };
  } catch {
    throw ValidationError.of([{ path: 'body', message: `${what} sent invalid JSON` }], 'response');
  }
}

async function readLimited(res: Response, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES)
    throw ValidationError.of(
      [
        {
          path: 'body',
          message: `${what} answered ${declared} bytes (at most ${MAX_RESPONSE_BYTES})`,
        },
      ],
      'response',
    );
  const buf = Buffer.from(await res.arrayBuffer());
  if (buf.length > MAX_RESPONSE_BYTES)
    throw ValidationError.of(
      [{ path: 'body', message: `${what} answered more than ${MAX_RESPONSE_BYTES} bytes` }],
      'response',
    );
  return buf.toString('utf8');
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
 * POSTs (or PUTs) the task to a URL; the reply is the result: its JSON, or its text when it
 * is not JSON.
 */
export class HttpRuntime implements AgentRuntime {
  readonly kind = 'http' as const;

  constructor(private readonly runtime: Http) {}

  async execute(task: AgentTask, ctx: RuntimeContext): Promise<JsonValue> {
    const timeoutMs = Math.min(this.runtime.timeoutMs, task.timeoutMs ?? Infinity);
    const reply = await sendJson(
      this.runtime.url,
      {
        method: this.runtime.method,
        headers: { ...this.runtime.headers },
        body: {
          task_id: task.taskId,
          cluster_id: task.clusterId,
          capability: task.capability,
          attempt: task.attempt,
          agent: {
            agent_id: ctx.agentId,
            name: ctx.spec.name,
            role: ctx.spec.role,
            capabilities: ctx.spec.capabilities,
          },
          input: task.input,
        },
      },
      timeoutMs,
      ctx.signal,
      `http runtime of agent '${ctx.spec.name}'`,
    );
    return reply.body as JsonValue;
  }
}
