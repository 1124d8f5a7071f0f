import {
  AGENT_SECRET_ENV_PATTERN,
  AGENT_SECRET_PREFIX,
  RuleViolationError,
  UnavailableError,
  ValidationError,
  type JsonValue,
  type ResolvedRuntime,
} from '@flotilla/domain';
import { sendJson } from './egress.client.js';
import type { EgressGuard } from './egress.policy.js';
import type { AgentRuntime, RuntimeContext } from './runtime.js';
import type { AgentTask } from './task-source.js';

type OpenAi = Extract<ResolvedRuntime, { kind: 'openai' }>;

interface ChatCompletion {
  model?: string;
  choices?: {
    message?: { role?: string; content?: string | null };
    finish_reason?: string | null;
  }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
}

/**
 * A chat completion against any OpenAI-compatible endpoint (`<baseUrl>/chat/completions`:
 * OpenAI, Ollama, vLLM, llama.cpp's server). The task's input is the user message (text as is,
 * anything else as JSON); the blueprint's system prompt goes first. The API key, when the
 * endpoint needs one, is read from the environment variable the blueprint names, never from the
 * blueprint itself, and only from an AGENT_SECRET_* variable: the blueprint schema says so, and
 * this runtime refuses any other name again, since a node agent's environment also holds its
 * own credentials and the endpoint is the tenant's to choose. The endpoint is reached through
 * the egress policy.
 */
export class OpenAiRuntime implements AgentRuntime {
  readonly kind = 'openai' as const;

  constructor(
    private readonly runtime: OpenAi,
    private readonly egress: EgressGuard,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The key, or a typed error naming the missing or forbidden variable (checked when the agent starts). */
  apiKey(): string | null {
    const name = this.runtime.apiKeyEnv;
    if (!name) return null;
    if (!AGENT_SECRET_ENV_PATTERN.test(name))
      throw new RuleViolationError(
        'agent_secret_forbidden',
        `agents may read secrets only from ${AGENT_SECRET_PREFIX}* variables; model '${this.runtime.model}' names ${name}`,
        { variable: name, prefix: AGENT_SECRET_PREFIX },
      );
    const key = this.env[name];
    if (!key)
      throw new UnavailableError(
        `environment variable ${name} (the API key of model '${this.runtime.model}') is not set on this node`,
        { variable: name },
      );
    return key;
  }

  async execute(task: AgentTask, ctx: RuntimeContext): Promise<JsonValue> {
    const key = this.apiKey();
    const messages = [
      ...(this.runtime.systemPrompt
        ? [{ role: 'system', content: this.runtime.systemPrompt }]
        : []),
      {
        role: 'user',
        content: typeof task.input === 'string' ? task.input : JSON.stringify(task.input),
      },
    ];
    const reply = await sendJson(
      `${this.runtime.baseUrl.replace(/\/+$/, '')}/chat/completions`,
      {
        method: 'POST',
        headers: key ? { authorization: `Bearer ${key}` } : {},
        body: {
          model: this.runtime.model,
          messages,
          ...(this.runtime.temperature !== null ? { temperature: this.runtime.temperature } : {}),
          ...(this.runtime.maxTokens !== null ? { max_tokens: this.runtime.maxTokens } : {}),
        },
      },
      Math.min(this.runtime.timeoutMs, task.timeoutMs ?? Infinity),
      ctx.signal,
      `model '${this.runtime.model}' of agent '${ctx.spec.name}'`,
      this.egress,
    );
    const completion = reply.body as ChatCompletion | null;
    const choice = completion?.choices?.[0];
    if (typeof choice?.message?.content !== 'string') {
      throw ValidationError.of(
        [
          {
            path: 'choices[0].message.content',
            message: 'the endpoint answered without a completion',
          },
        ],
        'chat completion',
      );
    }
    return {
      content: choice.message.content,
      model: completion?.model ?? this.runtime.model,
      finish_reason: choice.finish_reason ?? null,
      ...(completion?.usage ? { usage: { ...completion.usage } as JsonValue } : {}),
    };
  }
}
