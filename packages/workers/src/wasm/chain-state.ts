import type { ChainInstance } from './chain-filter.js';

const EMPTY = new Uint8Array(0);
/** A pooled state keeps a body buffer up to this size for the next request; larger ones are dropped. */
const KEEP_BUFFER_BYTES = 64 * 1024;

/** A body being withheld for filters that asked for all of it. */
export class BodyBuffer {
  private bytes: Uint8Array = EMPTY;
  private length = 0;

  /** Copies `chunk` in (the caller may reuse its memory); false when that would pass `limit`. */
  append(chunk: Uint8Array, limit: number): boolean {
    const needed = this.length + chunk.length;
    if (needed > limit) return false;
    if (needed > this.bytes.length) {
      const grown = new Uint8Array(Math.min(limit, Math.max(needed, this.bytes.length * 2, 1024)));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(chunk, this.length);
    this.length = needed;
    return true;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Replaces the withheld body with `bytes` (a filter rewrote it); the buffer owns them from now on. */
  replace(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.length = bytes.length;
  }

  /** Hands the body over: its memory is the caller's from now on (the buffer starts empty again). */
  take(): Uint8Array {
    const body = this.bytes.subarray(0, this.length);
    this.bytes = EMPTY;
    this.length = 0;
    return body;
  }

  reset(): void {
    this.length = 0;
    if (this.bytes.length > KEEP_BUFFER_BYTES) this.bytes = EMPTY;
  }
}

/**
 * What the chain remembers about one request in flight (FilterRequest.filterState). Pooled by the
 * chain: taken in onRequestHeaders, returned in onLog.
 */
export class FilterChainState {
  /** The id filters see for this request (their per-request context key). */
  id = 0;
  /** Per filter, the instance serving this request; null before it is reached or after it failed. */
  readonly instances: (ChainInstance | null)[];
  /** Per direction (0 request, 1 response): position of the first filter that wants the whole body, or -1. */
  readonly bufferFrom = [-1, -1];
  /** Per direction: the smallest limit asked for. */
  readonly bufferLimit = [0, 0];
  readonly bodies = [new BodyBuffer(), new BodyBuffer()] as const;

  constructor(filters: number) {
    this.instances = new Array<ChainInstance | null>(filters).fill(null);
  }

  reset(): void {
    const instances = this.instances;
    for (let i = 0; i < instances.length; i++) instances[i] = null;
    if (this.bufferFrom[0] !== -1) this.bodies[0].reset();
    if (this.bufferFrom[1] !== -1) this.bodies[1].reset();
    this.bufferFrom[0] = this.bufferFrom[1] = -1;
    this.bufferLimit[0] = this.bufferLimit[1] = 0;
  }
}
