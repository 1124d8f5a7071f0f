import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  decodePosition,
  encodePosition,
  MAX_EVENTS_PER_APPEND,
  MAX_XID,
  positionHorizon,
} from './position.js';

const xid = fc.bigInt({ min: 1n, max: MAX_XID - 1n });
const index = fc.integer({ min: 0, max: MAX_EVENTS_PER_APPEND - 1 });

describe('position encoding', () => {
  it('round-trips transaction id and index', () => {
    fc.assert(
      fc.property(xid, index, (x, i) =>
        expect(decodePosition(encodePosition(x, i))).toEqual({ xid: x, index: i }),
      ),
    );
  });

  it('orders by transaction id first, then by index within the append', () => {
    fc.assert(
      fc.property(xid, index, xid, index, (x1, i1, x2, i2) => {
        const [p1, p2] = [encodePosition(x1, i1), encodePosition(x2, i2)];
        if (x1 < x2) expect(p1).toBeLessThan(p2);
        else if (x1 === x2) expect(p1 < p2).toBe(i1 < i2);
      }),
    );
  });

  it('puts every position of a transaction below the horizon exactly when its id is below xmin', () => {
    fc.assert(
      fc.property(xid, index, xid, (x, i, xmin) =>
        expect(encodePosition(x, i) < positionHorizon(xmin)).toBe(x < xmin),
      ),
    );
  });

  it('fits a signed bigint column for every accepted transaction id', () => {
    expect(encodePosition(MAX_XID - 1n, MAX_EVENTS_PER_APPEND - 1)).toBe(2n ** 63n - 1n);
  });

  it('refuses indexes and transaction ids out of range', () => {
    expect(() => encodePosition(1n, MAX_EVENTS_PER_APPEND)).toThrow(RangeError);
    expect(() => encodePosition(1n, -1)).toThrow(RangeError);
    expect(() => encodePosition(0n, 0)).toThrow(RangeError);
    expect(() => encodePosition(MAX_XID, 0)).toThrow(RangeError);
    expect(() => decodePosition(-1n)).toThrow(RangeError);
  });
});
