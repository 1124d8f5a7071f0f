import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalJson, isPlainJson, stableHash } from './json.js';
import { createPrng } from './random.js';
import { compareSemVer, isSemVer } from './semver.js';
import { toMillis } from './time.js';

describe('canonical JSON and hashes', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
  it('hashes structurally equal values equally (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const shuffled = JSON.parse(JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x)));
        expect(stableHash(shuffled)).toBe(stableHash(v));
      }),
      { numRuns: 100 },
    );
  });
  it('recognises plain JSON', () => {
    expect(isPlainJson({ a: [1, 'x', true, null, { b: 2 }] })).toBe(true);
    expect(isPlainJson({ a: undefined })).toBe(false);
    expect(isPlainJson({ a: new Date(0) })).toBe(false);
    expect(isPlainJson({ a: 1n })).toBe(false);
    expect(isPlainJson({ a: Number.NaN })).toBe(false);
  });
});

describe('semver', () => {
  it('orders versions by precedence', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2.0', '2.0.0'];
    for (let i = 1; i < ordered.length; i++) expect(compareSemVer(ordered[i - 1] as string, ordered[i] as string)).toBeLessThan(0);
    expect(compareSemVer('1.0.0+build.1', '1.0.0')).toBe(0);
    expect(isSemVer('1.0')).toBe(false);
    expect(isSemVer('01.0.0')).toBe(false);
  });
});

describe('seeded PRNG and time', () => {
  it('repeats for a seed and differs between seeds', () => {
    const a = createPrng('seed');
    const b = createPrng('seed');
    const c = createPrng(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
  it('reads ISO timestamps and epoch milliseconds', () => {
    expect(toMillis('1970-01-01T00:00:01Z')).toBe(1000);
    expect(toMillis(5)).toBe(5);
    expect(() => toMillis('tomorrow')).toThrow();
  });
});
