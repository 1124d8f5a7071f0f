import { describe, expect, it } from '@jest/globals';
import { heartbeat } from '@flotilla/contracts';
import { parseHeartbeat } from './heartbeat.parse.js';

const valid = {
  node_id: 'node-1',
  sent_at: '2026-03-01T10:00:00.000Z',
  cpu_percent: 12.5,
  memory_percent: 40,
  disk_percent: 70,
  load_avg: 0.8,
  cores: 4,
  agents: [{ agent_id: 'agent-1', cluster_id: 'cluster-1', state: 'idle' }],
};

describe('parseHeartbeat', () => {
  it('reads what the contract schema accepts', () => {
    expect(heartbeat.safeParse(valid).success).toBe(true);
    expect(parseHeartbeat(valid)).toEqual({
      nodeId: 'node-1',
      reading: {
        sentAtMs: Date.parse(valid.sent_at),
        cpuPercent: 12.5,
        memoryPercent: 40,
        diskPercent: 70,
        loadAvg: 0.8,
        cores: 4,
        agents: [{ agentId: 'agent-1', clusterId: 'cluster-1', state: 'idle' }],
      },
    });
    expect(
      parseHeartbeat({ ...valid, cores: undefined, agents: undefined })?.reading,
    ).toMatchObject({ cores: null, agents: [] });
  });

  it('drops a heartbeat whose time it cannot read (its lag would be meaningless)', () => {
    expect(parseHeartbeat({ ...valid, sent_at: 'yesterday' })).toBeNull();
  });

  it.each([
    ['no node id', { ...valid, node_id: '' }],
    ['memory above 100 %', { ...valid, memory_percent: 101 }],
    ['a negative load', { ...valid, load_avg: -1 }],
    ['a string number', { ...valid, cpu_percent: '12' }],
    ['a malformed agent', { ...valid, agents: [{ agent_id: 1 }] }],
    ['not an object', 'hello'],
  ])('drops a heartbeat with %s, as the contract does', (_label, input) => {
    expect(parseHeartbeat(input)).toBeNull();
    expect(heartbeat.safeParse(input).success).toBe(false);
  });
});
