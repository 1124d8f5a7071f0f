import { describe, expect, it } from '@jest/globals';
import { CONTROL_PLANE_SERVICES, deploymentNatsAuthorization, integratorUser, natsAuthorizationConfig, natsInboxPrefix, natsPasswordVariable, nodeAgentUser, serviceUser } from './nats-permissions.js';
import { Namespace } from './namespace.js';
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

  it('finding 3: no user may subscribe to every inbox or use the whole JetStream API or every bucket', () => {
    for (const ns of [new Namespace(), new Namespace('t1')]) {
      const users = [...CONTROL_PLANE_SERVICES.map((s) => serviceUser(s, 'p', ns)), nodeAgentUser('node-a', 'flotilla-node-agent-1', 'p', ns), integratorUser('acme', 'p', ns)];
      for (const u of users) {
        const { publish, subscribe } = u.permissions;
        const everything = [...(publish.allow ?? []), ...(subscribe.allow ?? [])];
        for (const wide of ['>', '_INBOX.>', '$JS.API.>', '$KV.>', '$JS.ACK.>']) expect([u.user, wide, everything.includes(wide)]).toEqual([u.user, wide, false]);
        for (const inbox of (subscribe.allow ?? []).filter((x) => x.startsWith('_INBOX'))) expect([u.user, inbox]).toEqual([u.user, `${natsInboxPrefix(u.user)}.>`]);
      }
    }
  });

  it("finding 3: a node agent's user publishes its own node's subjects and no other node's", () => {
    const allow = nodeAgentUser('node-a', 'flotilla-node-agent-1', 'p').permissions.publish.allow!;
    for (const own of ['registry.heartbeats.node-a', 'metrics.telemetry.node-a', 'registry.nodes.register.node-a', 'registry.nodes.drain.node-a', 'orchestrator.agents.report.node-a']) expect(allow).toContain(own);
    expect(allow.filter((x) => /^(registry|orchestrator|metrics)\./.test(x) && !x.endsWith('.node-a'))).toEqual([]);
  });
});
