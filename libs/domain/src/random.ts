/**
 * Seeded pseudo-random numbers for the places where the domain needs randomness (the random
 * placement strategy, property-test helpers). `decide` functions never call Math.random: a seed
 * arrives with the input, so the same input always produces the same output.
 */
export interface Prng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

/** A seed as callers hold it: any number or string; strings are hashed (FNV-1a) to 32 bits. */
export type Seed = number | string;

export function seedToUint32(seed: Seed): number {
  if (typeof seed === 'number') return (Math.trunc(seed) ^ Math.trunc(seed / 0x1_0000_0000)) >>> 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** sfc32 seeded through splitmix32: fast, 128-bit state, passes PractRand for our purposes. */
export function createPrng(seed: Seed): Prng {
  let s = seedToUint32(seed);
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 0x1_0000_0000;
  };
  return {
    next,
    nextInt: (n: number) => Math.floor(next() * n),
  };
}
