/**
 * Walking on past a choice, for the policies whose first choice is not a position on a ring.
 * Attempt k >= 1 takes the k-th host of a rotation over the other n - 1 hosts, starting at an
 * offset taken from the request's salt: attempts 0 .. n-1 are n different hosts, and the retries
 * of many requests that first chose the same host spread over all the others rather than piling
 * onto its neighbour. Retries are rare; they do not follow weights.
 */
export function walkDistinct(first: number, salt: number, attempt: number, n: number): number {
  if (n <= 0) return -1;
  // `first` comes from the same build unless a caller reused the scratch across a rebuild (the
  // balancer restarts the walk then): even so, never hand back an index outside 0..n-1.
  const f = first >= 0 && first < n ? first : (first >>> 0) % n;
  if (attempt === 0 || n === 1) return f;
  const others = n - 1;
  const step = 1 + ((salt + attempt - 1) % others);
  return (f + step) % n;
}

/** A unsigned 32-bit salt from a uniform draw in [0, 1). */
export function saltOf(u: number): number {
  return (u * 4294967296) >>> 0;
}

/**
 * Walking on along a table of owners, for the policies whose first choice is a position in it (the
 * ring of ring-hash, the lookup table of maglev): attempt k takes the k-th distinct host met going
 * forward from that position, so a retry goes where the key would go were the hosts before it gone.
 * One instance per picker; it keeps the marks of the hosts already met, reused from walk to walk.
 */
export class OwnerWalk {
  private seen = new Uint32Array(0);
  private stamp = 0;

  /** Forgets every earlier walk; owners from now on are host indexes in 0 .. hosts - 1. */
  reset(hosts: number): void {
    this.seen = new Uint32Array(hosts);
    this.stamp = 0;
  }

  /**
   * The k-th distinct host met moving forward through `owners` from `at`, wrapping around (0 is
   * owners[at]); owners[at] again when there are not that many distinct hosts.
   */
  nth(owners: Int32Array, at: number, k: number): number {
    const len = owners.length;
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 1;
    }
    const stamp = this.stamp;
    const seen = this.seen;
    let found = 0;
    for (let step = 0; step < len; step++) {
      let p = at + step;
      if (p >= len) p -= len;
      const host = owners[p];
      if (seen[host] === stamp) continue;
      if (found === k) return host;
      seen[host] = stamp;
      found++;
    }
    return owners[at];
  }
}
