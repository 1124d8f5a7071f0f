import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@flotilla/config';
import { nodeAgentProcessEnv } from './node-env.ts';

describe('the local runner gives node agents no control-plane secret', () => {
  const runner = {
    PATH: '/usr/bin',
    DATABASE_URL: 'postgres://flotilla:pw@127.0.0.1:5432/flotilla',
    FLOTILLA_BOOTSTRAP_ADMIN_KEY: 'runner-admin-key-0123456789abcdef',
    AUTH_JWT_SECRET: 'runner-jwt-secret-0123456789abcdef0123',
    EVENTSTORE_URL: 'esdb://127.0.0.1:2113?tls=false',
    NATS_URL: 'nats://127.0.0.1:4222',
    FLOTILLA_DATA_DIR: '/tmp/flotilla',
    AGENT_SECRET_OPENAI_KEY: 'sk-for-agents',
    AWS_SECRET_ACCESS_KEY: 'not-for-agents',
    GATEWAY_HTTP_PORT: '8080',
  };

  it('gives a node agent no control-plane secret and nothing it does not read', () => {
    const env = nodeAgentProcessEnv(runner, { NODE_ID: 'node-1', NATS_USER: 'flotilla-node-agent-1', NATS_PASSWORD: 'p' });
    for (const secret of ['DATABASE_URL', 'FLOTILLA_BOOTSTRAP_ADMIN_KEY', 'AUTH_JWT_SECRET', 'EVENTSTORE_URL', 'AWS_SECRET_ACCESS_KEY'])
      expect([secret, env[secret]]).toEqual([secret, undefined]);
    expect(env).toMatchObject({
      NODE_ID: 'node-1',
      NATS_URL: 'nats://127.0.0.1:4222',
      NATS_USER: 'flotilla-node-agent-1',
      NATS_PASSWORD: 'p',
      FLOTILLA_DATA_DIR: '/tmp/flotilla',
      AGENT_SECRET_OPENAI_KEY: 'sk-for-agents',
      PATH: '/usr/bin',
    });
  });

  it("closes the runner's PostgreSQL, EventStoreDB and gateway to its agents", () => {
    const env = nodeAgentProcessEnv(runner, {});
    expect(loadConfig(env).AGENT_EGRESS_DENY.map((t) => t.text)).toEqual(['127.0.0.1:5432', '127.0.0.1:2113', '127.0.0.1:8080', '127.0.0.1:50051']);
  });
});
