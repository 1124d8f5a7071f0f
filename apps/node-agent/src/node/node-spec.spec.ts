import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@flotilla/config';
import { registryRoutes } from '@flotilla/contracts';
import { ValidationError } from '@flotilla/domain';
import { defaultAddress, parseLabels, registration } from './node-spec.js';

const host = { hostname: 'worker-7', cores: 8, memoryMb: 16_000, address: '10.0.0.7' };

describe('node registration from NODE_* settings', () => {
  it('uses the settings, and the host’s own figures where they are unset', () => {
    const config = loadConfig({
      NODE_ZONE: 'zone-b',
      NODE_REGION: 'eu',
      NODE_LABELS: 'gpu=false, tier=fast',
      NODE_SERVICES: 'llm,web',
      NODE_MAX_AGENTS: '12',
      NODE_ROLE: 'standby',
      NODE_PRIORITY: '7',
    });
    const req = registration('node-7', config, host);
    expect(req).toEqual({
      node_id: 'node-7',
      hostname: 'worker-7',
      address: '10.0.0.7',
      region: 'eu',
      zone: 'zone-b',
      labels: { gpu: 'false', tier: 'fast' },
      services: ['llm', 'web'],
      capacity: { cpu: 8, memory_mb: 16_000, max_agents: 12 },
      role: 'standby',
      priority: 7,
    });
    expect(registryRoutes.registerNode.request.safeParse(req).success).toBe(true);
    const sized = registration(
      'node-7',
      loadConfig({ NODE_CPU: '2.5', NODE_MEMORY_MB: '4096', NODE_ADDRESS: 'worker-7.lan' }),
      host,
    );
    expect(sized).toMatchObject({
      address: 'worker-7.lan',
      capacity: { cpu: 2.5, memory_mb: 4096 },
    });
  });

  it('refuses a label without a key, naming it', () => {
    expect(() => parseLabels(['tier=fast', 'oops'])).toThrow(ValidationError);
    expect(parseLabels(['a=b=c', 'empty='])).toEqual({ a: 'b=c', empty: '' });
  });

  it('advertises the first external IPv4 address, else the host name', () => {
    const lo = {
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      family: 'IPv4' as const,
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '127.0.0.1/8',
    };
    const eth = { ...lo, address: '192.168.1.5', internal: false, cidr: '192.168.1.5/24' };
    expect(defaultAddress({ lo: [lo], eth0: [eth] }, 'h')).toBe('192.168.1.5');
    expect(defaultAddress({ lo: [lo] }, 'h')).toBe('h');
  });
});
