import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './config.js';
import { applyFlags, flagOf } from './flags.js';

describe('command-line flags', () => {
  it('set the variables a service reads, in both forms, over the environment', () => {
    const { env } = applyFlags('node-agent', ['--node-id', 'n-flag', '--node-zone=zone-b', '--node-cpu', '4'], { NODE_ID: 'n-env', NODE_REGION: 'eu' });
    const config = loadConfig(env);
    expect([config.NODE_ID, config.NODE_ZONE, config.NODE_CPU, config.NODE_REGION]).toEqual(['n-flag', 'zone-b', 4, 'eu']);
    expect(flagOf('NODE_MEMORY_MB')).toBe('--node-memory-mb');
  });

  it('refuses, by name, a flag the service does not read and one without a value', () => {
    expect(() => applyFlags('node-agent', ['--gateway-http-port', '1'])).toThrow(ConfigError);
    expect(() => applyFlags('node-agent', ['--no-such-thing=1'])).toThrow(/--no-such-thing: unknown flag for node-agent/);
    expect(() => applyFlags('node-agent', ['--bogus', '1'])).toThrow(/^invalid configuration:\n {2}--bogus: unknown flag for node-agent \(see --help\)$/);
    expect(() => applyFlags('node-agent', ['n1'])).toThrow(/n1: unexpected argument/);
    expect(() => applyFlags('node-agent', ['--node-id'])).toThrow(/--node-id: needs a value/);
    expect(() => applyFlags('node-agent', ['--node-id', '--node-zone', 'z'])).toThrow(/--node-id: needs a value/);
  });

  it('lists every flag of the service with its variable on --help', () => {
    const { help } = applyFlags('node-agent', ['--help']);
    expect(help).toContain('usage: node-agent [flags]');
    expect(help).toMatch(/--node-id <value>\s+.*\(NODE_ID/);
    expect(help).toMatch(/--nats-url <value>/);
    expect(help).not.toContain('--gateway-http-port');
  });
});
