export { variables, type VariableName, type VariableSpec } from './variables.js';
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
export { renderConfigTable, renderEnvExample } from './env-example.js';
