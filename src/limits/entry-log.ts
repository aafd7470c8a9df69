// The admitted entries of one limit key, oldest first, as a ring buffer of typed arrays:
// no per-entry objects for the GC to chase, and O(1) append and expiry at either end.

const MIN_CAPACITY = 4;

export class EntryLog {
  /** Sum of the costs of the entries held. */
  sum = 0;
  length = 0;
  /** The window this key was last used with; decides when the whole key is idle. */
  windowMs = 0;
  /** Last time the key was moved to the fresh end of the owner's LRU order. */
  touchedAt = Number.NEGATIVE_INFINITY;

  private ts: Float64Array;
  private cost: Float64Array;
  private seq: Float64Array;
  private head = 0;
  private mask: number;

  constructor(capacity = MIN_CAPACITY) {
    this.ts = new Float64Array(capacity);
    this.cost = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.mask = capacity - 1;
  }

  oldestTs(): number {
    return this.ts[this.head];
  }

  newestTs(): number {
    return this.ts[(this.head + this.length - 1) & this.mask];
  }

  push(ts: number, cost: number, seq: number): void {
    if (this.length > this.mask) this.resize((this.mask + 1) * 2);
    const i = (this.head + this.length) & this.mask;
    this.ts[i] = ts;
    this.cost[i] = cost;
    this.seq[i] = seq;
    this.length++;
    this.sum += cost;
  }

  /** Drop every entry recorded at or before `cutoff`. */
  expire(cutoff: number): void {
    const mask = this.mask;
    let head = this.head;
    let len = this.length;
    let freed = 0;
    while (len > 0 && this.ts[head] <= cutoff) {
      freed += this.cost[head];
      head = (head + 1) & mask;
      len--;
    }
    if (len === this.length) return;
    this.head = head;
    this.length = len;
    // Recompute from nothing when empty so rounding drift of fractional adjustments never lingers.
    this.sum = len === 0 ? 0 : this.sum - freed;
    // Give memory back after a burst, so a key holds about one window's worth of entries.
    let capacity = mask + 1;
    while (capacity > 16 && len < capacity / 4) capacity /= 2;
    if (capacity !== mask + 1) this.resize(capacity);
  }

  /**
   * Milliseconds from `now` until entries worth at least `need` have left a window of `windowMs`.
   * Returns `windowMs` if even all of them would not be enough.
   */
  timeToFree(need: number, now: number, windowMs: number): number {
    let freed = 0;
    const mask = this.mask;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & mask;
      freed += this.cost[i];
      if (freed >= need) return Math.max(1, this.ts[i] + windowMs - now);
    }
    return windowMs;
  }

  /** Set the cost of entry `seq`; false when it is no longer held. */
  adjust(seq: number, newCost: number): boolean {
    // Sequence numbers are appended in increasing order, so the ring is sorted by seq.
    let lo = 0;
    let hi = this.length - 1;
    const mask = this.mask;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const i = (this.head + mid) & mask;
      const s = this.seq[i];
      if (s === seq) {
        this.sum += newCost - this.cost[i];
        this.cost[i] = newCost;
        return true;
      }
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  private resize(capacity: number): void {
    const ts = new Float64Array(capacity);
    const cost = new Float64Array(capacity);
    const seq = new Float64Array(capacity);
    const mask = this.mask;
    for (let k = 0; k < this.length; k++) {
      const i = (this.head + k) & mask;
      ts[k] = this.ts[i];
      cost[k] = this.cost[i];
      seq[k] = this.seq[i];
    }
    this.ts = ts;
    this.cost = cost;
    this.seq = seq;
    this.head = 0;
    this.mask = capacity - 1;
  }
}
