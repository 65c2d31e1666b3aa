// Latencies with microsecond resolution. autocannon's own histogram keeps whole
// milliseconds, which reads as 0 or 1 for a proxy on loopback; this one is log-linear
// (exact below 1024 us, then 512 steps per power of two: within 0.2%) and allocates once.

const LINEAR = 1024;
const SUB = 512;
const SUB_BITS = 9;
const MAX_EXP = 22; // covers 2^31 us, about 35 minutes

export class LatencyHistogram {
  constructor() {
    this.counts = new Uint32Array(LINEAR + MAX_EXP * SUB);
    this.total = 0;
  }

  /**
   * Bucket index of a latency in whole microseconds.
   * @param {number} us
   */
  static indexOf(us) {
    if (us < LINEAR) return us < 0 ? 0 : us;
    const v = us >= 2 ** 31 ? 2 ** 31 - 1 : us;
    const e = 31 - Math.clz32(v) - SUB_BITS;
    return LINEAR + (e - 1) * SUB + ((v >>> e) - SUB);
  }

  /**
   * Smallest latency (us) that lands in bucket `i`.
   * @param {number} i
   */
  static lowerBound(i) {
    if (i < LINEAR) return i;
    const e = ((i - LINEAR) >> SUB_BITS) + 1;
    return (((i - LINEAR) & (SUB - 1)) + SUB) * 2 ** e;
  }

  /** @param {number} ms */
  record(ms) {
    this.counts[LatencyHistogram.indexOf(Math.round(ms * 1000))]++;
    this.total++;
  }

  /**
   * The latency (ms) at or below which `p` percent of the recorded values fall; null when empty.
   * @param {number} p 0..100
   * @returns {number | null}
   */
  percentile(p) {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return LatencyHistogram.lowerBound(i) / 1000;
    }
    return null;
  }
}
