import { describe, expect, it } from '@jest/globals';
import { whileJetStreamStarts } from './jetstream.js';

describe('whileJetStreamStarts', () => {
  it('retries what JetStream refuses while its cluster forms, then returns', async () => {
    let calls = 0;
    const result = await whileJetStreamStarts(async () => {
      calls += 1;
      if (calls < 3) throw new Error('no suitable peers for placement');
      return 'created';
    }, 5_000);
    expect([result, calls]).toEqual(['created', 3]);
  });

  it('throws anything else at once, and the transient refusal past the deadline', async () => {
    let calls = 0;
    await expect(whileJetStreamStarts(async () => {
      calls += 1;
      throw new Error('stream name already in use with a different configuration');
    })).rejects.toThrow(/already in use/);
    expect(calls).toBe(1);
    await expect(whileJetStreamStarts(() => Promise.reject(new Error('JetStream system temporarily unavailable')), 250)).rejects.toThrow(/temporarily unavailable/);
  });
});
