/**
 * Reusable memory for request body chunks on their way upstream. uWS hands body chunks (up to about
 * 512 KiB) in memory it takes back when the callback returns, so each must be copied; a fresh
 * allocation that large is a page-faulting mmap and munmap per chunk. Chunks are instead copied into
 * buffers kept here and given back once the socket has written them.
 *
 * The slabs kept are dropped once no chunk has been copied for a while, so the memory of a burst of
 * uploads (up to MAX_FREE slabs, 8 MiB) is not held for the life of the worker.
 */
const SLAB = 512 * 1024;
const MAX_FREE = 16;
/** How long the pool must go unused before its free slabs are dropped. */
const TRIM_MS = 2000;

export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** Chunks copied so far, and that count when the trim timer was armed: equal means unused since. */
  private copies = 0;
  private copiesAtArm = 0;
  private trimTimer: NodeJS.Timeout | null = null;

  constructor(private readonly trimMs = TRIM_MS) {}

  /** Free slabs held for reuse. */
  get held(): number {
    return this.free.length;
  }

  /** A copy of `src` in pooled memory (or fresh memory when it is larger than a slab). */
  copy(src: ArrayBuffer): Buffer {
    this.copies++;
    const n = src.byteLength;
    if (n > SLAB) {
      const big = Buffer.allocUnsafe(n);
      big.set(new Uint8Array(src));
      return big;
    }
    const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB);
    slab.set(new Uint8Array(src));
    return slab.subarray(0, n);
  }

  /** Takes back a buffer from copy() once nothing refers to it any more. */
  release(buf: Buffer): void {
    if (buf.buffer.byteLength !== SLAB || buf.byteOffset !== 0 || this.free.length >= MAX_FREE) return;
    this.free.push(Buffer.from(buf.buffer, 0, SLAB));
    if (this.trimTimer === null) this.armTrim();
  }

  private armTrim(): void {
    this.copiesAtArm = this.copies;
    this.trimTimer = setTimeout(() => this.trim(), this.trimMs);
    this.trimTimer.unref();
  }

  private trim(): void {
    this.trimTimer = null;
    if (this.copies === this.copiesAtArm) this.free.length = 0;
    else if (this.free.length) this.armTrim();
  }
}
