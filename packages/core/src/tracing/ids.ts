/**
 * Trace and span ids from a random source. Random bytes are drawn in blocks (one call of the source
 * per `block` bytes) and turned into hex by Buffer's native encoder; an all-zero id, which both W3C
 * and B3 forbid, is drawn again.
 */

export class IdGenerator {
  private readonly buf: Buffer;
  private pos: number;

  /** `fill` fills its argument with random bytes (crypto.randomFillSync in the proxy, a seeded one in tests). */
  constructor(
    private readonly fill: (buf: Uint8Array) => void,
    block = 1024,
  ) {
    this.buf = Buffer.alloc(Math.max(16, block - (block % 8)));
    this.pos = this.buf.length;
  }

  /** 32 lower-case hex digits, not all zero. */
  traceId(): string {
    for (;;) {
      const id = this.hex(16);
      if (id !== '00000000000000000000000000000000') return id;
    }
  }

  /**
   * A new trace's id and its first span's id in one draw (one hex conversion instead of two): 48 hex
   * digits, the trace id in the first 32 and the span id in the last 16, neither all zero.
   */
  traceAndSpanIds(): string {
    for (;;) {
      const ids = this.hex(24);
      if (!ids.startsWith('00000000000000000000000000000000') && !ids.endsWith('0000000000000000')) return ids;
    }
  }

  /** 16 lower-case hex digits, not all zero. */
  spanId(): string {
    for (;;) {
      const id = this.hex(8);
      if (id !== '0000000000000000') return id;
    }
  }

  private hex(bytes: number): string {
    if (this.pos + bytes > this.buf.length) {
      this.fill(this.buf);
      this.pos = 0;
    }
    const start = this.pos;
    this.pos += bytes;
    return this.buf.toString('hex', start, this.pos);
  }
}
