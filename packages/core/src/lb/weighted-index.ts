/**
 * Cumulative weights and the binary search over them: weighted sampling in O(log n) with no
 * allocation per pick. Shared by random and least-request.
 */
export class WeightedIndex {
  /** prefix[i] = weight[0] + ... + weight[i]. */
  private prefix = new Float64Array(0);
  private n = 0;
  /** Every weight is the same: sampling is a multiplication, no search. */
  uniform = true;

  build(weights: ArrayLike<number>, n: number): void {
    if (this.prefix.length < n) this.prefix = new Float64Array(n);
    let sum = 0;
    let uniform = true;
    for (let i = 0; i < n; i++) {
      const w = weights[i];
      if (w !== weights[0]) uniform = false;
      sum += w;
      this.prefix[i] = sum;
    }
    this.n = n;
    this.uniform = uniform;
  }

  get total(): number {
    return this.n === 0 ? 0 : this.prefix[this.n - 1];
  }

  /** The index whose share of the total covers `u` in [0, 1). */
  sample(u: number): number {
    const n = this.n;
    if (this.uniform) {
      const i = Math.floor(u * n);
      return i < n ? i : n - 1;
    }
    const x = u * this.prefix[n - 1];
    let lo = 0;
    let hi = n - 1;
    // First index with prefix > x; floating error can only push x up to the total, where hi stays n - 1.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.prefix[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
