import { describe, expect, it } from '@jest/globals';
import { parsePrometheusText } from './prometheus.js';

describe('parsePrometheusText', () => {
  it('reads families, labels, histograms and special values', () => {
    const f = parsePrometheusText(
      [
        '# HELP http_total Requests.',
        '# TYPE http_total counter',
        'http_total{route="/a",code="200"} 3',
        'http_total{route="/b \\"q\\""} 1e3',
        '# TYPE lat histogram',
        'lat_bucket{le="0.1"} 1',
        'lat_bucket{le="+Inf"} 2',
        'lat_sum 0.3',
        'lat_count 2',
        'up NaN',
        '',
      ].join('\n'),
    );
    expect(f.get('http_total')).toMatchObject({ type: 'counter', help: 'Requests.' });
    expect(f.get('http_total')!.samples.map((s) => s.value)).toEqual([3, 1000]);
    expect(f.get('http_total')!.samples[1]!.labels).toEqual({ route: '/b \\"q\\"' });
    expect(f.get('lat')!.samples).toHaveLength(4);
    expect(Number.isNaN(f.get('up')!.samples[0]!.value)).toBe(true);
  });

  it('refuses what Prometheus would refuse', () => {
    expect(() => parsePrometheusText('1bad 3')).toThrow(/not a valid sample/);
    expect(() => parsePrometheusText('ok{a="1" 3')).toThrow(/not a valid sample/);
    expect(() => parsePrometheusText('ok three')).toThrow(/not a valid sample/);
    expect(() => parsePrometheusText('# TYPE x countr')).toThrow(/unknown type/);
    expect(() => parsePrometheusText('x 1\n# TYPE x counter')).toThrow(/TYPE after samples/);
    expect(() => parsePrometheusText('x{a="1",a="2"} 1')).toThrow(/twice/);
  });
});
