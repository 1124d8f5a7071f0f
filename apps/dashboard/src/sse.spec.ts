import { describe, expect, it } from '@jest/globals';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('splits a stream into events across chunk boundaries, skipping heartbeats', () => {
    const p = new SseParser();
    expect(p.push(': heartbeat\n\nid: 41\nevent: ClusterScaled\nda')).toEqual([]);
    expect(
      p.push('ta: {"a":1}\n\nid: 42\r\nevent: AgentStarted\r\ndata: {"b":\r\ndata: 2}\r\n\r\n'),
    ).toEqual([
      { id: '41', type: 'ClusterScaled', data: '{"a":1}' },
      { id: '42', type: 'AgentStarted', data: '{"b":\n2}' },
    ]);
  });
});
