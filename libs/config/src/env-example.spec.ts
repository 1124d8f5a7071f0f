import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from './config.js';
import { CONTROL_PLANE_SECRETS, NODE_AGENT_VARIABLES, nodeAgentEnvironment } from './node-agent-env.js';
import {
  COMPOSE_VALUES,
  KUBERNETES_VALUES,
  renderComposeEnv,
  renderComposeNodeAgentEnv,
  renderConfigTable,
  renderEnvExample,
  renderKubernetesEnv,
  SECRET_VARIABLES,
} from './env-example.js';
import { variables } from './variables.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');

/** KEY=value lines of an env file (comments and blank lines skipped). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

describe('documented configuration', () => {
  it('.env.example lists every variable (run `npm run env:example` after adding one)', () => {
    expect(fs.readFileSync(path.join(root, '.env.example'), 'utf8')).toBe(renderEnvExample());
  });

  it('the README configuration table lists every variable', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(renderConfigTable());
    for (const name of Object.keys(variables)) expect(readme).toContain(`\`${name}\``);
  });

  it('deploy/compose.env is generated from the schema (run `npm run env:example` after adding a variable)', () => {
    expect(fs.readFileSync(path.join(root, 'deploy', 'compose.env'), 'utf8')).toBe(
      renderComposeEnv(),
    );
  });

  it('deploy/node-agent.env is generated from the schema (run `npm run env:example` after adding a variable)', () => {
    expect(fs.readFileSync(path.join(root, 'deploy', 'node-agent.env'), 'utf8')).toBe(
      renderComposeNodeAgentEnv(),
    );
  });

  it('deploy/k8s/base/config.env is generated from the schema (run `npm run env:example` after adding a variable)', () => {
    expect(fs.readFileSync(path.join(root, 'deploy', 'k8s', 'base', 'config.env'), 'utf8')).toBe(
      renderKubernetesEnv(),
    );
  });
});

describe('container settings', () => {
  it('compose.env sets every variable, and a container started with it alone parses', () => {
    const env = parseEnvFile(renderComposeEnv());
    expect(Object.keys(env).sort()).toEqual(Object.keys(variables).sort());
    const config = loadConfig(env);
    expect(config.EVENT_STORE).toBe('eventstoredb');
    expect(config.HTTP_HOST).toBe('0.0.0.0');
    expect(config.OTEL_ENABLED).toBe(true);
  });

  it('the Kubernetes ConfigMap sets every variable but the secrets, and parses once the Secret is added', () => {
    const env = parseEnvFile(renderKubernetesEnv());
    expect(Object.keys(env).sort()).toEqual(
      Object.keys(variables)
        .filter((n) => !SECRET_VARIABLES.includes(n as never))
        .sort(),
    );
    for (const secret of SECRET_VARIABLES) expect(env).not.toHaveProperty(secret);
    expect(() =>
      loadConfig({
        ...env,
        EVENTSTORE_URL: 'esdb://eventstore:2113?tls=true',
        DATABASE_URL: 'postgres://flotilla@db:5432/flotilla',
      }),
    ).not.toThrow();
  });

  it('overrides name only variables of the schema, and secrets are known variables', () => {
    for (const name of [
      ...Object.keys(COMPOSE_VALUES),
      ...Object.keys(KUBERNETES_VALUES),
      ...SECRET_VARIABLES,
    ]) {
      expect(variables).toHaveProperty(name);
    }
  });
});

describe('node agents are given no control-plane secret (the environment example)', () => {
  it('node-agent.env holds what a node agent reads and no control-plane secret, and parses', () => {
    const env = parseEnvFile(renderComposeNodeAgentEnv());
    for (const secret of CONTROL_PLANE_SECRETS) expect(env).not.toHaveProperty(secret);
    expect(Object.keys(env).sort()).toEqual(
      NODE_AGENT_VARIABLES.filter((n) => !CONTROL_PLANE_SECRETS.includes(n)).sort(),
    );
    expect(loadConfig(env).AGENT_EGRESS_DENY.map((t) => t.text)).toEqual(
      expect.arrayContaining(['postgres', 'eventstoredb', 'gateway']),
    );
  });

  it('nodeAgentEnvironment keeps the node agent’s variables and AGENT_SECRET_* values, and drops everything else', () => {
    const env = nodeAgentEnvironment({
      PATH: '/bin',
      NATS_URL: 'nats://nats:4222',
      NATS_USER: 'flotilla-node-agent',
      NATS_PASSWORD: 'p',
      NODE_ID: 'n1',
      AGENT_SECRET_OPENAI_KEY: 'sk',
      DATABASE_URL: 'postgres://u:p@db/x',
      EVENTSTORE_URL: 'esdb://es:2113',
      FLOTILLA_BOOTSTRAP_ADMIN_KEY: 'k'.repeat(30),
      AUTH_JWT_SECRET: 's'.repeat(40),
      AWS_SECRET_ACCESS_KEY: 'aws',
    });
    expect(env).toEqual({
      PATH: '/bin',
      NATS_URL: 'nats://nats:4222',
      NATS_USER: 'flotilla-node-agent',
      NATS_PASSWORD: 'p',
      NODE_ID: 'n1',
      AGENT_SECRET_OPENAI_KEY: 'sk',
    });
  });

  it('no control-plane secret is a variable the node agent reads', () => {
    for (const secret of CONTROL_PLANE_SECRETS) expect(NODE_AGENT_VARIABLES).not.toContain(secret);
  });
});
