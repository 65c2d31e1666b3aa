/**
 * Reusable memory for request body chunks on their way upstream. uWS hands body chunks (up to about
 * 512 KiB) in memory it takes back when the callback returns, so each must be copied; a fresh
 * allocation that large is a page-faulting mmap and munmap per chunk. Chunks are instead copied into
 * buffers kept here and given back once the socket has written them.
 */
const SLAB = 512 * 1024;
const MAX_FREE = 16;

export class ChunkPool {
  private readonly free: Buffer[] = [];

  /** A copy of `src` in pooled memory (or fresh memory when it is larger than a slab). */
  copy(src: ArrayBuffer): Buffer {
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
  }
}
