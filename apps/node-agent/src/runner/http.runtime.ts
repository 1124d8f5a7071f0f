import type { JsonValue, ResolvedRuntime } from '@flotilla/domain';
import { sendJson } from './egress.client.js';
import type { EgressGuard } from './egress.policy.js';
import type { AgentRuntime, RuntimeContext } from './runtime.js';
import type { AgentTask } from './task-source.js';

type Http = Extract<ResolvedRuntime, { kind: 'http' }>;

/**
 * POSTs (or PUTs) the task to a URL the egress policy allows for the agent's tenant; the reply
 * is the result: its JSON, or its text when it is not JSON.
 */
export class HttpRuntime implements AgentRuntime {
  readonly kind = 'http' as const;

  constructor(
    private readonly runtime: Http,
    private readonly egress: EgressGuard,
  ) {}

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
      this.egress,
    );
    return reply.body as JsonValue;
  }
}
