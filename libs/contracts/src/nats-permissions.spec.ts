import { describe, expect, it } from '@jest/globals';
import { deploymentNatsAuthorization, natsAuthorizationConfig, natsPasswordVariable, serviceUser } from './nats-permissions.js';
import { SERVICES } from './route.js';

describe('NATS users as nats-server configuration', () => {
  it('quotes a literal password and leaves an environment reference for the server to resolve', () => {
    const conf = natsAuthorizationConfig([serviceUser('metrics', 'p"w'), serviceUser('gateway', { env: 'GW_PASSWORD' })]);
    expect(conf).toContain('{ user: "flotilla-metrics", password: "p\\"w",');
    expect(conf).toContain('{ user: "flotilla-gateway", password: $GW_PASSWORD,');
  });

  it('refuses an environment reference nats-server could not read as one', () => {
    expect(() => natsAuthorizationConfig([serviceUser('gateway', { env: 'gw-password' })])).toThrow(/not an environment variable name/);
  });

  it("gives the deployments one user per service, each with its own password variable", () => {
    const conf = deploymentNatsAuthorization();
    for (const s of SERVICES) expect(conf).toContain(`{ user: "flotilla-${s}", password: $${natsPasswordVariable(s)},`);
    expect(natsPasswordVariable('node-agent')).toBe('FLOTILLA_NATS_PASSWORD_NODE_AGENT');
  });
});
