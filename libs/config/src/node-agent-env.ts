import { type VariableName, variables } from './variables.js';

/**
 * The prefix of the only environment variables an agent's runtime may read a secret from (the
 * blueprint schema's AGENT_SECRET_PREFIX says the same in libs/domain).
 */
export const AGENT_SECRET_PREFIX = 'AGENT_SECRET_';

/**
 * Control-plane secrets: whoever holds one can read every tenant's data or act as any tenant.
 * A node agent runs tenants' agents and needs none of them; it must never be given them.
 */
export const CONTROL_PLANE_SECRETS: readonly VariableName[] = [
  'DATABASE_URL',
  'EVENTSTORE_URL',
  'FLOTILLA_BOOTSTRAP_ADMIN_KEY',
  'AUTH_JWT_SECRET',
];

/** What the operating system and Node itself read (nothing of Flotilla's). */
const PROCESS_VARIABLES = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];

/** The variables of the schema a node agent reads (its own and the shared ones). */
export const NODE_AGENT_VARIABLES: readonly VariableName[] = (
  Object.entries(variables) as [VariableName, (typeof variables)[VariableName]][]
)
  .filter(([, spec]) => (spec.usedBy as readonly string[]).some((u) => u === '*' || u === 'node-agent'))
  .map(([name]) => name);

/**
 * The environment to start a node agent with, out of a larger one (a runner's, a test's): the
 * variables the node agent reads, the AGENT_SECRET_* values its agents may use, and what the OS
 * needs; nothing else, so no control-plane secret reaches a process that runs tenants' code.
 */
export function nodeAgentEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = new Set<string>([...NODE_AGENT_VARIABLES, ...PROCESS_VARIABLES]);
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (keep.has(name) || name.startsWith(AGENT_SECRET_PREFIX)) out[name] = value;
  }
  return out;
}
