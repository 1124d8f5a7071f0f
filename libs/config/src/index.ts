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
  type Config,
} from './config.js';
export {
  COMPOSE_VALUES,
  KUBERNETES_VALUES,
  renderComposeEnv,
  renderConfigTable,
  renderEnvExample,
  renderKubernetesEnv,
  SECRET_VARIABLES,
} from './env-example.js';
