import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@flotilla/config';
import { RateLimitedError } from '@flotilla/domain';
import { httpErrorOf } from '@flotilla/platform';
import { promClient } from '@flotilla/telemetry';
import { WatcherLimits } from './watcher-limits.js';

const limits = (env: Record<string, string>) => new WatcherLimits(loadConfig(env), new promClient.Registry());

describe('event watchers are capped', () => {
  it('per caller (EVENT_WATCHERS_PER_CALLER): beyond, 429 with Retry-After; a release frees the slot', () => {
    const l = limits({ EVENT_WATCHERS_PER_CALLER: '2' });
    const a1 = l.acquire('key:a');
    l.acquire('key:a');
    const refused = (() => {
      try {
        l.acquire('key:a');
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(httpErrorOf(refused).status).toBe(429);
    expect(httpErrorOf(refused).headers['Retry-After']).toBe('5');
    expect(() => l.acquire('key:b')).not.toThrow();
    a1();
    a1(); // twice is once
    expect(() => l.acquire('key:a')).not.toThrow();
    expect(() => l.acquire('key:a')).toThrow(RateLimitedError);
  });

  it('per gateway (EVENT_WATCHERS_MAX), whoever asks', () => {
    const l = limits({ EVENT_WATCHERS_MAX: '3', EVENT_WATCHERS_PER_CALLER: '10' });
    const releases = ['a', 'b', 'c'].map((c) => l.acquire(c));
    expect(() => l.acquire('d')).toThrow(/EVENT_WATCHERS_MAX/);
    releases[0]!();
    expect(() => l.acquire('d')).not.toThrow();
  });
});
