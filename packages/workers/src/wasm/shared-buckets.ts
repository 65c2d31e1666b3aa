/**
 * Token buckets every worker thread shares, for limits that must hold for the whole proxy
 * (local-rate-limit). Filters reach them through the `bucket_take` host call.
 */
export interface SharedBuckets {
  /**
   * Takes `tokens` from bucket `bucketId`, which refills at `ratePerSec` up to `burst`.
   * Returns 0 when the tokens were taken, else the milliseconds until they would be (>= 1).
   */
  take(bucketId: number, tokens: number, nowMs: number, ratePerSec: number, burst: number): number;
}

/**
 * SharedBuckets over one BigInt64 slot per bucket, in a SharedArrayBuffer (its own, or a region of
 * SharedState). Each slot holds the bucket's "theoretical arrival time" in microseconds (GCRA):
 * the moment the bucket will be full again. One value per bucket means one compare-exchange per
 * take, so threads never lock and never see a half-updated bucket.
 */
export class AtomicBuckets implements SharedBuckets {
  static readonly BYTES_PER_BUCKET = 8;
  readonly slots: BigInt64Array;

  /** `byteOffset` must be a multiple of 8. */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer, byteOffset = 0, count = (buffer.byteLength - byteOffset) >> 3) {
    this.slots = new BigInt64Array(buffer, byteOffset, count);
  }

  /** Buckets in a fresh SharedArrayBuffer; post `slots.buffer` to the other threads. */
  static create(count: number): AtomicBuckets {
    return new AtomicBuckets(new SharedArrayBuffer(count * AtomicBuckets.BYTES_PER_BUCKET));
  }

  get count(): number {
    return this.slots.length;
  }

  take(bucketId: number, tokens: number, nowMs: number, ratePerSec: number, burst: number): number {
    if (!(Number.isInteger(bucketId) && bucketId >= 0 && bucketId < this.slots.length)) {
      throw new RangeError(`bucket ${bucketId} is outside 0..${this.slots.length - 1}`);
    }
    // More tokens than the burst could never be granted: a caller's mistake, not a wait.
    const validTokens = Number.isInteger(tokens) && tokens >= 1 && tokens <= burst;
    if (!(ratePerSec > 0) || !(burst >= 1) || !validTokens || !Number.isFinite(nowMs)) {
      throw new RangeError(`invalid bucket arguments: tokens ${tokens}, rate ${ratePerSec}/s, burst ${burst}`);
    }
    const emissionUs = 1e6 / ratePerSec;
    const toleranceUs = burst * emissionUs;
    const nowUs = Math.floor(nowMs * 1000);
    const slots = this.slots;
    for (;;) {
      const current = Atomics.load(slots, bucketId);
      const tat = Math.max(Number(current), nowUs);
      const next = tat + tokens * emissionUs;
      const excessUs = next - nowUs - toleranceUs;
      if (excessUs > 0) return Math.max(1, Math.ceil(excessUs / 1000));
      if (Atomics.compareExchange(slots, bucketId, current, BigInt(Math.ceil(next))) === current) return 0;
    }
  }
}
