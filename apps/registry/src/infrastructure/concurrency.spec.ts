import { describe, expect, it } from '@jest/globals';
import { KeyedChain, Semaphore, sleep } from './concurrency.js';

describe('Semaphore', () => {
  it('never lets more than the limit run at once and runs everything', async () => {
    const sem = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sem.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(2);
          active--;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(done).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('releases its slot when work fails', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(sem.run(() => Promise.resolve('next'))).resolves.toBe('next');
  });
});

describe('KeyedChain', () => {
  it('runs one key in order and different keys concurrently, surviving failures', async () => {
    const chain = new KeyedChain();
    const log: string[] = [];
    const job = (key: string, n: number, ms: number, fail = false) =>
      chain.run(key, async () => {
        log.push(`${key}${n}+`);
        await sleep(ms);
        log.push(`${key}${n}-`);
        if (fail) throw new Error(`${key}${n}`);
        return n;
      });
    const results = await Promise.allSettled([
      job('a', 1, 10, true),
      job('a', 2, 1),
      job('b', 1, 1),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
    await sleep(1);
    expect(chain.size).toBe(0);
  });
});
