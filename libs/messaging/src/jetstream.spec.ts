import { describe, expect, it } from '@jest/globals';
import { isMissingJetStreamResource, reopening, whileJetStreamStarts } from './jetstream.js';

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

describe('reopening', () => {
  const missing = () => Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' });
  const timeout = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });

  /** A handle to a resource that is gone until `reopen` provisions it again. */
  const world = () => {
    const state = { exists: true, reopened: 0 };
    const handle = (generation: number) => ({
      generation,
      async get(key: string) {
        if (!state.exists) throw timeout();
        return `${key}@${generation}`;
      },
      async put(key: string) {
        if (!state.exists) throw missing();
        return `put ${key}@${generation}`;
      },
      async status() {
        if (!state.exists) throw new Error('stream not found');
        return 'ok';
      },
      async broken() {
        throw new Error('permissions violation');
      },
    });
    const reopen = async () => {
      state.exists = true;
      state.reopened += 1;
      return handle(state.reopened);
    };
    return { state, first: handle(0), reopen };
  };

  it('provisions the resource again when a call finds it missing, and repeats the call once', async () => {
    const w = world();
    const h = reopening(w.first, w.reopen);
    expect(await h.put('a')).toBe('put a@0');
    w.state.exists = false;
    expect(await h.put('b')).toBe('put b@1');
    expect(await h.put('c')).toBe('put c@1');
    expect(w.state.reopened).toBe(1);
  });

  it('with a probe, tells a timeout on a missing resource from a slow one', async () => {
    const w = world();
    const h = reopening(w.first, w.reopen, { probe: (x) => x.status() });
    w.state.exists = false;
    expect(await h.get('k')).toBe('k@1');
    const noProbe = world();
    noProbe.state.exists = false;
    await expect(reopening(noProbe.first, noProbe.reopen).get('k')).rejects.toThrow('timeout');
  });

  it('passes any other failure through, and concurrent callers share one reopen', async () => {
    const w = world();
    const h = reopening(w.first, w.reopen);
    await expect(h.broken()).rejects.toThrow('permissions violation');
    w.state.exists = false;
    expect(await Promise.all([h.put('x'), h.put('y')])).toEqual(['put x@1', 'put y@1']);
    expect(w.state.reopened).toBe(1);
    expect(isMissingJetStreamResource(missing())).toBe(true);
    expect(isMissingJetStreamResource(timeout())).toBe(false);
  });
});
