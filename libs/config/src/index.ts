export { variables, type VariableName, type VariableSpec } from './variables.js';
export { applyFlags, applyFlagsOrExit, flagOf, variablesOf } from './flags.js';
export {
  assertNodeVersion,
  ConfigError,
  configSchema,
  instanceId,
  loadConfig,
  loadConfigOrExit,
  MIN_NODE_MAJOR,
  weakSecretReason,
  type Config,
} from './config.js';
export {
  egressAllowSchema,
  egressTargetsSchema,
  parseEgressAllowList,
  parseEgressTarget,
  parseEgressTargets,
  type EgressAllowList,
  type EgressTarget,
} from './egress.js';
export {
  AGENT_SECRET_PREFIX,
  CONTROL_PLANE_SECRETS,
  NODE_AGENT_VARIABLES,
  nodeAgentEnvironment,
} from './node-agent-env.js';
export {
  COMPOSE_VALUES,
  KUBERNETES_VALUES,
  renderComposeEnv,
  renderComposeNodeAgentEnv,
  renderConfigTable,
  renderEnvExample,
  renderKubernetesEnv,
  SECRET_VARIABLES,
} from './env-example.js';
