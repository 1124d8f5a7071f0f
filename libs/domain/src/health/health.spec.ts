import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { backlogTrend, type ClusterHealthInput, clusterHealth, type HealthStatus, nodeHealth } from './health.js';

describe('nodeHealth', () => {
  it('is healthy when nothing is high', () => {
    expect(nodeHealth({ cpu: 20, memory: 30, disk: 40, load: 1, cores: 4, heartbeatAgeMs: 1000 })).toMatchObject({ status: 'healthy', reasons: [] });
  });
  it('warns and goes critical with reasons', () => {
    const warn = nodeHealth({ cpu: 85, memory: 30, disk: 40, load: 1, cores: 4 });
    expect(warn.status).toBe('warning');
    expect(warn.reasons).toEqual([{ code: 'cpu_high', status: 'warning', message: 'CPU at 85% (warning from 80%)' }]);
    const crit = nodeHealth({ cpu: 50, memory: 97, disk: 40, load: 16, cores: 4, heartbeatAgeMs: 90_000 });
    expect(crit.status).toBe('critical');
    expect(crit.reasons.map((r) => r.code)).toEqual(['memory_critical', 'load_critical', 'heartbeat_missing']);
    expect(crit.score).toBe(0);
  });
  it('scores in [0, 1] (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -10, max: 200 }), fc.double({ min: -10, max: 200 }), fc.double({ min: 0, max: 200 }), fc.double({ min: 0, max: 100 }), fc.integer({ min: 0, max: 64 }), (cpu, memory, disk, load, cores) => {
        const h = nodeHealth({ cpu, memory, disk, load, cores });
        expect(h.score).toBeGreaterThanOrEqual(0);
        expect(h.score).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});

const status = fc.constantFrom<HealthStatus>('healthy', 'warning', 'critical');
const clusterInput: fc.Arbitrary<ClusterHealthInput> = fc.record({
  desired: fc.integer({ min: 0, max: 50 }),
  running: fc.integer({ min: 0, max: 60 }),
  nodeHealths: fc.array(status, { maxLength: 10 }),
  errorRate: fc.double({ min: 0, max: 1, noNaN: true }),
  backlogTrend: fc.double({ min: -100, max: 100, noNaN: true }),
  workers: fc.integer({ min: 0, max: 20 }),
  maxWorkers: fc.integer({ min: 0, max: 20 }),
  circuit: fc.constantFrom('closed' as const, 'open' as const, 'half_open' as const),
});

describe('clusterHealth', () => {
  it('is perfect for a fully running, healthy cluster', () => {
    expect(clusterHealth({ desired: 9, running: 9, nodeHealths: ['healthy', 'healthy'], errorRate: 0, backlogTrend: 0 })).toEqual({
      score: 1,
      status: 'healthy',
      components: { availability: 1, nodes: 1, errors: 1, backlog: 1 },
      recommendations: [],
    });
  });

  it('recommends raising max_workers when at max while the backlog grows', () => {
    const h = clusterHealth({ desired: 23, running: 23, nodeHealths: ['healthy'], errorRate: 0.01, backlogTrend: 12, workers: 20, maxWorkers: 20 });
    expect(h.recommendations).toContainEqual({ code: 'max_workers_reached', message: 'max_workers reached while backlog grows: raise max_workers' });
  });

  it('explains missing agents, critical nodes, errors and an open circuit', () => {
    const h = clusterHealth({ desired: 10, running: 4, nodeHealths: ['critical', 'healthy'], errorRate: 0.3, backlogTrend: 0, circuit: 'open' });
    expect(h.recommendations.map((r) => r.code)).toEqual(['agents_not_running', 'nodes_critical', 'high_error_rate', 'circuit_open']);
    expect(h.status).toBe('warning');
    expect(clusterHealth({ desired: 5, running: 0, nodeHealths: [], errorRate: 0, backlogTrend: 0 }).status).toBe('critical');
  });

  it('scores in [0, 1] (property)', () => {
    fc.assert(
      fc.property(clusterInput, (input) => {
        const h = clusterHealth(input);
        expect(h.score).toBeGreaterThanOrEqual(0);
        expect(h.score).toBeLessThanOrEqual(1);
        for (const c of Object.values(h.components)) expect(c >= 0 && c <= 1).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rises monotonically with the share of desired agents running (property)', () => {
    fc.assert(
      fc.property(clusterInput, fc.integer({ min: 0, max: 60 }), (input, other) => {
        const [lo, hi] = [Math.min(input.running, other), Math.max(input.running, other)];
        const a = clusterHealth({ ...input, running: lo });
        const b = clusterHealth({ ...input, running: hi });
        expect(a.score).toBeLessThanOrEqual(b.score);
        const rank = { critical: 0, warning: 1, healthy: 2 };
        expect(rank[a.status]).toBeLessThanOrEqual(rank[b.status]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('backlogTrend', () => {
  it('is the least-squares slope in tasks per minute', () => {
    const t0 = Date.UTC(2026, 0, 1);
    expect(backlogTrend([0, 1, 2, 3].map((m) => ({ at: t0 + m * 60_000, queueDepth: 10 + 5 * m })))).toBeCloseTo(5);
    expect(backlogTrend([{ at: t0, queueDepth: 3 }])).toBe(0);
  });
});
