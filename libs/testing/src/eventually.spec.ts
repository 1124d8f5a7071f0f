import { describe, expect, it } from '@jest/globals';
import { eventually, EventuallyTimeoutError } from './eventually.js';

describe('eventually', () => {
  it('returns the first truthy value, without waiting when the first probe succeeds', async () => {
    const started = performance.now();
    await expect(
      eventually(() => ({ id: 'a' }), { timeoutMs: 1000, what: 'a record' }),
    ).resolves.toEqual({ id: 'a' });
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('probes again after each falsy value, sync or async, until one is truthy', async () => {
    const seen: unknown[] = [];
    const answers: unknown[] = [undefined, null, false, 0, '', 'ready'];
    const value = await eventually(
      async () => {
        const next = answers[seen.length];
        seen.push(next);
        return next as string | undefined;
      },
      { timeoutMs: 2000, intervalMs: 1, what: 'ready' },
    );
    expect(value).toBe('ready');
    expect(seen).toEqual(answers);
  });

  it('retries a probe that throws, and returns once it succeeds', async () => {
    let calls = 0;
    const value = await eventually(
      () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return calls;
      },
      { timeoutMs: 2000, intervalMs: 1, what: 'three calls' },
    );
    expect(value).toBe(3);
  });

  it('pauses intervalMs between probes', async () => {
    const at: number[] = [];
    await eventually(
      () => {
        at.push(performance.now());
        return at.length === 3;
      },
      { timeoutMs: 2000, intervalMs: 40, what: 'three probes' },
    );
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(35);
  });

  it('gives up after timeoutMs, probing once more at the deadline, and says what it waited for and the last value', async () => {
    const at: number[] = [];
    const started = performance.now();
    const err = await eventually(
      () => {
        at.push(performance.now() - started);
        return at.length > 1_000_000 && 'never';
      },
      { timeoutMs: 150, intervalMs: 100, what: 'the impossible' },
    ).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(EventuallyTimeoutError);
    expect((err as Error).message).toBe(
      `timed out after 150 ms (${at.length} probes) waiting for the impossible; last value: false`,
    );
    expect(err).toMatchObject({ probes: at.length, lastValue: false });
    // At 0, 100 and 150 ms (fewer on a loaded machine): the last pause is cut short to the deadline.
    expect(at.length).toBeLessThanOrEqual(3);
    expect(at.at(-1)).toBeGreaterThanOrEqual(149);
    expect(took).toBeLessThan(2000);
  });

  it('on timeout after a throwing probe reports the last error, and keeps it as the cause', async () => {
    let calls = 0;
    const err = await eventually(
      () => {
        calls++;
        throw new Error(`refused (call ${calls})`);
      },
      { timeoutMs: 50, intervalMs: 5, what: 'a connection' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventuallyTimeoutError);
    expect((err as Error).message).toMatch(
      /^timed out after 50 ms \(\d+ probes\) waiting for a connection; last error: refused \(call \d+\)$/,
    );
    expect((err as Error).message).toContain(`call ${calls})`);
    expect(((err as Error).cause as Error).message).toBe(`refused (call ${calls})`);
  });

  it('when the probe threw earlier but last returned a falsy value, reports both', async () => {
    let calls = 0;
    const err = await eventually(
      () => {
        calls++;
        if (calls === 1) throw new Error('connection reset');
        return null;
      },
      { timeoutMs: 30, intervalMs: 5, what: 'a reply' },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /waiting for a reply; last value: null; an earlier probe threw: connection reset$/,
    );
    expect(((err as Error).cause as Error).message).toBe('connection reset');
  });

  it('describes the wait lazily, with the state at the moment it failed', async () => {
    const items: number[] = [];
    let described = 0;
    const err = await eventually(
      () => {
        items.push(items.length);
        return items.length > 1_000_000;
      },
      {
        timeoutMs: 30,
        intervalMs: 5,
        what: () => {
          described++;
          return `a million items (have ${items.length})`;
        },
      },
    ).catch((e: unknown) => e);
    expect(described).toBe(1);
    expect((err as Error).message).toContain(`waiting for a million items (have ${items.length})`);
  });

  it('reports a failed expect() from the probe with its message', async () => {
    const rows = [1, 2];
    const err = await eventually(
      () => {
        expect(rows).toHaveLength(3);
        return true;
      },
      { timeoutMs: 20, intervalMs: 5, what: 'three rows' },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/waiting for three rows; last error: .*toHaveLength/s);
  });

  it('with until, returns the first value it accepts, falsy or not', async () => {
    const counts = [3, 1, 0];
    await expect(
      eventually(() => counts.shift(), {
        until: (n) => n === 0,
        timeoutMs: 1000,
        intervalMs: 1,
        what: 'an empty queue',
      }),
    ).resolves.toBe(0);
    expect(counts).toEqual([]);
  });

  it('with until, a timeout shows the last value read, shortened when long', async () => {
    const row = { id: 'c-1', status: 'spawning', agents: [{ id: 'a-1', state: 'idle' }] };
    const err = await eventually(async () => row, {
      until: (r) => r.status === 'active',
      timeoutMs: 20,
      intervalMs: 5,
      what: 'c-1 active',
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /waiting for c-1 active; last value: \{ id: 'c-1', status: 'spawning', agents: \[ \{ id: 'a-1', state: 'idle' \} \] \}$/,
    );
    expect(err).toMatchObject({ lastValue: row });
    const long = await eventually(() => 'x'.repeat(10_000), {
      until: () => false,
      timeoutMs: 0,
      what: 'nothing',
    }).catch((e: unknown) => e);
    expect((err as Error).message.length).toBeLessThan(300);
    expect((long as Error).message).toMatch(/x… \(10002 characters\)$/);
  });

  it('probes at least once even with a zero timeout', async () => {
    await expect(eventually(() => 'now', { timeoutMs: 0, what: 'now' })).resolves.toBe('now');
    await expect(eventually(() => false, { timeoutMs: 0, what: 'never' })).rejects.toThrow(
      'timed out after 0 ms (1 probes) waiting for never; last value: false',
    );
  });
});
