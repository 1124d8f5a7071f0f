import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '../errors.js';
import { detectNodeTransitions } from './node-transitions.js';

const now = '2026-03-01T10:00:00.000Z';
const ago = (s: number) => new Date(Date.parse(now) - s * 1000).toISOString();
const thresholds = { suspectAfterMs: 15_000, offlineAfterMs: 60_000 };

describe('detectNodeTransitions', () => {
  it('derives online → suspect → offline → online from heartbeat age', () => {
    const transitions = detectNodeTransitions(
      [
        { nodeId: 'fresh', status: 'online', lastHeartbeatAt: ago(5) },
        { nodeId: 'quiet', status: 'online', lastHeartbeatAt: ago(20) },
        { nodeId: 'silent', status: 'suspect', lastHeartbeatAt: ago(61) },
        { nodeId: 'gone-at-once', status: 'online', lastHeartbeatAt: ago(120) },
        { nodeId: 'back', status: 'offline', lastHeartbeatAt: ago(2) },
        { nodeId: 'back-suspect', status: 'suspect', lastHeartbeatAt: ago(1) },
        { nodeId: 'still-suspect', status: 'suspect', lastHeartbeatAt: ago(30) },
        { nodeId: 'still-offline', status: 'offline', lastHeartbeatAt: ago(300) },
        { nodeId: 'cordoned-quiet', status: 'cordoned', lastHeartbeatAt: ago(20) },
        { nodeId: 'draining-gone', status: 'draining', lastHeartbeatAt: ago(90) },
        { nodeId: 'retired', status: 'deregistered', lastHeartbeatAt: ago(9999) },
      ],
      now,
      thresholds,
    );
    expect(transitions.map((t) => [t.nodeId, t.from, t.to, t.command])).toEqual([
      ['quiet', 'online', 'suspect', 'MarkNodeSuspect'],
      ['silent', 'suspect', 'offline', 'MarkNodeOffline'],
      ['gone-at-once', 'online', 'offline', 'MarkNodeOffline'],
      ['back', 'offline', 'online', 'MarkNodeRecovered'],
      ['back-suspect', 'suspect', 'online', 'MarkNodeRecovered'],
      ['cordoned-quiet', 'cordoned', 'suspect', 'MarkNodeSuspect'],
      ['draining-gone', 'draining', 'offline', 'MarkNodeOffline'],
    ]);
    expect(transitions[0]?.silenceMs).toBe(20_000);
  });

  it('accepts epoch milliseconds', () => {
    expect(detectNodeTransitions([{ nodeId: 'n', status: 'online', lastHeartbeatAt: 0 }], 16_000, thresholds)).toHaveLength(1);
  });

  it('refuses thresholds in the wrong order', () => {
    expect(() => detectNodeTransitions([], now, { suspectAfterMs: 60_000, offlineAfterMs: 15_000 })).toThrow(ValidationError);
  });
});
