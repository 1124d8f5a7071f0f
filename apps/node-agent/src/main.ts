import { runService } from '@flotilla/platform';
import { NodeAgentModule } from './app.module.js';

await runService({
  service: 'node-agent',
  module: (platform) => NodeAgentModule.register(platform),
  routes: [],
  httpPort: (config) => config.NODE_AGENT_HTTP_PORT,
  platform: { postgres: false },
});
