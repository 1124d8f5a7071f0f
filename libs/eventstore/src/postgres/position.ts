/**
 * Global positions in the PostgreSQL adapter.
 *
 *   position = writing transaction id (xid8) * 2^20 + index of the event within its append
 *
 * Why not a sequence: concurrent transactions commit out of order, so with a bigserial a reader
 * can pass position 11 (committed) while 10 (taken earlier, still in flight) is not yet visible,
 * and never come back for it. Deriving positions from the transaction id fixes the order to the
 * order in which transactions *start writing*, and readers only look at transactions below their
 * snapshot's xmin: every transaction older than xmin has finished, and every transaction that can
 * still commit has an id >= xmin, hence positions above anything the reader returned. A
 * checkpoint can therefore never move past an event that becomes visible later.
 */

/** Bits reserved for the index of an event within one append (one transaction). */
export const INDEX_BITS = 20n;
/** Largest append the PostgreSQL adapter accepts (2^20 events). */
export const MAX_EVENTS_PER_APPEND = 1 << Number(INDEX_BITS);
/** xid8 values stay below this for the position to fit a signed bigint (2^43: ~8.8e12 transactions). */
export const MAX_XID = 1n << (63n - INDEX_BITS);

export function encodePosition(xid: bigint, index: number): bigint {
  if (xid < 1n || xid >= MAX_XID) throw new RangeError(`transaction id ${xid} out of range`);
  if (!Number.isInteger(index) || index < 0 || index >= MAX_EVENTS_PER_APPEND)
    throw new RangeError(`index ${index} out of range`);
  return (xid << INDEX_BITS) + BigInt(index);
}

export function decodePosition(position: bigint): { xid: bigint; index: number } {
  if (position < 0n) throw new RangeError(`position ${position} is negative`);
  return { xid: position >> INDEX_BITS, index: Number(position & ((1n << INDEX_BITS) - 1n)) };
}

/** The first position a transaction with this id (or any later one) can hold: readers stop below it. */
export function positionHorizon(xmin: bigint): bigint {
  return xmin << INDEX_BITS;
}
