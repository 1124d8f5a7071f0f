/**
 * A binary min-heap of node indices keyed by a float, ties broken by a per-node rank. Typed
 * arrays and no per-entry objects: placement pushes and pops hundreds of thousands of entries.
 */
export class IndexHeap {
  private readonly keys: Float64Array;
  private readonly ids: Int32Array;
  private readonly rank: Int32Array;
  private count = 0;

  constructor(capacity: number, rank: Int32Array) {
    this.keys = new Float64Array(Math.max(1, capacity));
    this.ids = new Int32Array(Math.max(1, capacity));
    this.rank = rank;
  }

  get size(): number {
    return this.count;
  }

  /** Loads entries without ordering them; call heapify() afterwards. */
  load(id: number, key: number): void {
    this.ids[this.count] = id;
    this.keys[this.count] = key;
    this.count++;
  }

  heapify(): void {
    for (let i = (this.count >> 1) - 1; i >= 0; i--) this.down(i);
  }

  push(id: number, key: number): void {
    let i = this.count++;
    this.ids[i] = id;
    this.keys[i] = key;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  peekId(): number {
    return this.ids[0] as number;
  }

  peekKey(): number {
    return this.keys[0] as number;
  }

  /** Removes the top; read it with peekId/peekKey first. */
  pop(): void {
    const last = --this.count;
    if (last > 0) {
      this.ids[0] = this.ids[last] as number;
      this.keys[0] = this.keys[last] as number;
      this.down(0);
    }
  }

  private less(a: number, b: number): boolean {
    const ka = this.keys[a] as number;
    const kb = this.keys[b] as number;
    if (ka !== kb) return ka < kb;
    return (this.rank[this.ids[a] as number] as number) < (this.rank[this.ids[b] as number] as number);
  }

  private swap(a: number, b: number): void {
    const id = this.ids[a] as number;
    const key = this.keys[a] as number;
    this.ids[a] = this.ids[b] as number;
    this.keys[a] = this.keys[b] as number;
    this.ids[b] = id;
    this.keys[b] = key;
  }

  private down(i: number): void {
    const n = this.count;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.less(r, l) ? r : l;
      if (!this.less(m, i)) return;
      this.swap(m, i);
      i = m;
    }
  }
}
