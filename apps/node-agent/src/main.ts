import { applyFlagsOrExit, CONTROL_PLANE_SECRETS } from '@flotilla/config';
import { runService } from '@flotilla/platform';
import { NodeAgentModule } from './app.module.js';

// `--node-id n1 --node-zone zone-b …`: every setting as a flag too (`--help` lists them).
applyFlagsOrExit('node-agent');

// A node agent runs tenants' agents and needs no control-plane secret. Deployments give it none
// (deploy/node-agent.env, the node-agent Deployment, the local runner); should one arrive anyway,
// it is dropped before anything runs, so no runtime (nor a bug in one) can read it.
const given = CONTROL_PLANE_SECRETS.filter((name) => process.env[name] !== undefined);
for (const name of given) delete process.env[name];
if (given.length > 0)
  process.stderr.write(
    `node-agent: ignoring ${given.join(', ')}: a node agent needs no control-plane secret; remove ${given.length > 1 ? 'them' : 'it'} from its environment\n`,
  );

await runService({
  service: 'node-agent',
  module: (platform) => NodeAgentModule.register(platform),
  routes: [],
  httpPort: (config) => config.NODE_AGENT_HTTP_PORT,
  platform: { postgres: false },
});
