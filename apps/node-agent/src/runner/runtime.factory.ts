import {
  RuntimeSchema,
  resolveRuntime,
  ValidationError,
  type ResolvedRuntime,
} from '@flotilla/domain';
import { BuiltinRuntime } from './builtin.runtime.js';
import type { EgressGuard } from './egress.policy.js';
import { HttpRuntime } from './http.runtime.js';
import { OpenAiRuntime } from './openai.runtime.js';
import type { AgentRuntime } from './runtime.js';

/**
 * The runtime an assignment carries (already resolved by the orchestrator), checked again here
 * with the blueprint's own schema: the node runs only what a blueprint could have said.
 */
export function parseResolvedRuntime(raw: unknown): ResolvedRuntime {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw ValidationError.of(
      [{ path: 'runtime', message: 'expected a runtime object' }],
      'agent runtime',
    );
  }
  // Resolution writes null for "not set"; the blueprint schema spells that as an absent key.
  const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null));
  const parsed = RuntimeSchema.safeParse(present);
  if (!parsed.success) {
    throw ValidationError.of(
      parsed.error.issues.map((i) => ({
        path: ['runtime', ...i.path.map(String)].join('.'),
        message: i.message,
      })),
      'agent runtime',
    );
  }
  return resolveRuntime(parsed.data);
}

/**
 * The runtime of one agent. `egress` is the egress policy under the agent's tenant: the only way
 * the http and openai runtimes reach the network.
 */
export function createRuntime(
  runtime: ResolvedRuntime,
  egress: EgressGuard,
  env: NodeJS.ProcessEnv = process.env,
): AgentRuntime {
  switch (runtime.kind) {
    case 'builtin':
      return new BuiltinRuntime(runtime);
    case 'http':
      return new HttpRuntime(runtime, egress);
    case 'openai': {
      const openai = new OpenAiRuntime(runtime, egress, env);
      // Fail at start, not at the first task, when the key the blueprint names is missing.
      openai.apiKey();
      return openai;
    }
    default: {
      const never: never = runtime;
      throw ValidationError.of(
        [
          {
            path: 'runtime.kind',
            message: `unknown runtime ${JSON.stringify((never as { kind: unknown }).kind)}`,
          },
        ],
        'agent runtime',
      );
    }
  }
}
