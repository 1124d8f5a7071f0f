import { applyFlagsOrExit } from '@flotilla/config';
import { runService } from '@flotilla/platform';
import { NodeAgentModule } from './app.module.js';

// `--node-id n1 --node-zone zone-b …`: every setting as a flag too (`--help` lists them).
applyFlagsOrExit('node-agent');

await runService({
  service: 'node-agent',
  module: (platform) => NodeAgentModule.register(platform),
  routes: [],
  httpPort: (config) => config.NODE_AGENT_HTTP_PORT,
  platform: { postgres: false },
});
