import { describe, expect, it } from '@jest/globals';
import { COMPOSE_NODES, CONTROL_PLANE_SERVICES, deploymentNatsAuthorization, K8S_NODE_AGENT_SLOTS, k8sNodeAgentNodes, kubernetesNatsAuthorization, nodeAgentPasswordVariable, nodeAgentUserName, integratorUser, natsAuthorizationConfig, natsInboxPrefix, natsPasswordVariable, nodeAgentUser, serviceUser } from './nats-permissions.js';
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
    for (const s of CONTROL_PLANE_SERVICES) expect(conf).toContain(`{ user: "flotilla-${s}", password: $${natsPasswordVariable(s)},`);
    expect(SERVICES.filter((s) => s !== 'node-agent')).toEqual([...CONTROL_PLANE_SERVICES]);
  });

  it('gives every compose node agent a user of its own node, and none a shared one', () => {
    const conf = deploymentNatsAuthorization();
    for (const n of COMPOSE_NODES) expect(conf).toContain(`{ user: "${nodeAgentUserName(n)}", password: $${nodeAgentPasswordVariable(n)},`);
    expect(nodeAgentPasswordVariable('node-a')).toBe('FLOTILLA_NATS_PASSWORD_NODE_AGENT_NODE_A');
    expect(conf).not.toContain('user: "flotilla-node-agent",');
    expect(conf).toContain('"registry.heartbeats.node-a"');
    expect(conf).not.toContain('"registry.heartbeats.*"], subscribe: { allow: ["_INBOX_flotilla-node-agent');
  });

  it("gives every Kubernetes node-agent slot a user of its own node, the compose node users' permissions, and none a shared one", () => {
    const conf = kubernetesNatsAuthorization();
    expect(k8sNodeAgentNodes()).toEqual(Array.from({ length: K8S_NODE_AGENT_SLOTS }, (_, i) => `node-agent-${i}`));
    for (const n of k8sNodeAgentNodes()) {
      expect(conf).toContain(`{ user: "flotilla-node-agent-${n}", password: $${nodeAgentPasswordVariable(n)},`);
      // Exactly what compose gives its node users, for this node.
      const line = conf.split('\n').find((l) => l.includes(`user: "flotilla-node-agent-${n}"`))!;
      const expected = natsAuthorizationConfig([nodeAgentUser(n, nodeAgentUserName(n), { env: nodeAgentPasswordVariable(n) })]).split('\n')[2];
      expect(line.replace(/,$/, '')).toBe(expected);
    }
    expect(nodeAgentPasswordVariable('node-agent-3')).toBe('FLOTILLA_NATS_PASSWORD_NODE_AGENT_NODE_AGENT_3');
    expect(conf).not.toContain('user: "flotilla-node-agent",');
    expect(conf).not.toContain('"registry.heartbeats.*"], subscribe: { allow: ["_INBOX_flotilla-node-agent');
    for (const s of CONTROL_PLANE_SERVICES) expect(conf).toContain(`{ user: "flotilla-${s}", password: $${natsPasswordVariable(s)},`);
  });

  it('no user may subscribe to every inbox or use the whole JetStream API or every bucket', () => {
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

  it("a node agent's user publishes its own node's subjects and no other node's", () => {
    const allow = nodeAgentUser('node-a', 'flotilla-node-agent-1', 'p').permissions.publish.allow!;
    for (const own of ['registry.heartbeats.node-a', 'metrics.telemetry.node-a', 'registry.nodes.register.node-a', 'registry.nodes.drain.node-a', 'orchestrator.agents.report.node-a']) expect(allow).toContain(own);
    expect(allow.filter((x) => /^(registry|orchestrator|metrics)\./.test(x) && !x.endsWith('.node-a'))).toEqual([]);
  });
});
