import { HostCallError } from './filter-error.js';

const utf16 = new TextDecoder('utf-16le');
const CACHE_SLOTS = 256;
const MAX_CACHED_LENGTH = 64;

/**
 * Reads and writes strings in one instance's memory, as the ABI passes them (UTF-16 code units).
 *
 * Filters pass the same few header names and values on every request, so short strings go
 * through a small direct-mapped cache: a hit compares code units in place and returns the string
 * made last time, with no allocation.
 */
export class WasmMemory {
  private u8 = new Uint8Array(0);
  private u16 = new Uint16Array(0);
  private readonly names: string[] = new Array<string>(CACHE_SLOTS).fill('');
  private readonly values: string[] = new Array<string>(CACHE_SLOTS).fill('');

  /** `null` while the instance is being made: a call then means the module ran code too early. */
  constructor(private readonly memory: WebAssembly.Memory | null) {}

  /** Current size in bytes. */
  get byteLength(): number {
    // Growth detaches the old buffer, so a zero-length view means "look again".
    if (this.u8.length === 0) this.refresh();
    return this.u8.length;
  }

  /** A header name: lower-cased. */
  readName(ptr: number, len: number): string {
    return this.read(ptr, len, this.names, true);
  }

  readString(ptr: number, len: number): string {
    return this.read(ptr, len, this.values, false);
  }

  /** Copies `value` to `dst` when it fits in `cap` code units; returns its length either way. */
  writeString(value: string, dst: number, cap: number): number {
    const len = value.length;
    if (len > cap) return len;
    const u16 = this.views(dst, len, 2);
    const base = dst >>> 1;
    for (let i = 0; i < len; i++) u16[base + i] = value.charCodeAt(i);
    return len;
  }

  /** Copies `bytes` to `dst` when they fit in `cap` bytes; returns their length either way. */
  writeBytes(bytes: Uint8Array, dst: number, cap: number): number {
    const len = bytes.length;
    if (len > cap) return len;
    this.views(dst, len, 1);
    this.u8.set(bytes, dst);
    return len;
  }

  private read(ptr: number, len: number, cache: string[], lower: boolean): string {
    if (len === 0) return '';
    const u16 = this.views(ptr, len, 2);
    const base = ptr >>> 1;
    if (len > MAX_CACHED_LENGTH) {
      const s = utf16.decode(u16.subarray(base, base + len));
      return lower ? s.toLowerCase() : s;
    }
    // Keyed by address: a filter's literals and config strings sit still, so a hit costs one
    // comparison pass. Memory reused for another string just misses.
    const slot = ((ptr >>> 4) ^ (ptr >>> 12) ^ len) & (CACHE_SLOTS - 1);
    const cached = cache[slot]!;
    if (cached.length === len) {
      let i = 0;
      for (; i < len; i++) {
        let c = u16[base + i]!;
        if (lower && c >= 0x41 && c <= 0x5a) c += 0x20;
        if (cached.charCodeAt(i) !== c) break;
      }
      if (i === len) return cached;
    }
    let s = '';
    for (let i = 0; i < len; i++) {
      let c = u16[base + i]!;
      if (lower && c >= 0x41 && c <= 0x5a) c += 0x20;
      s += String.fromCharCode(c);
    }
    cache[slot] = s;
    return s;
  }

  /** Checks that [ptr, ptr + len units) is inside memory, refreshing the views if it grew. */
  private views(ptr: number, len: number, unit: 1 | 2): Uint16Array {
    const end = ptr + len * unit;
    if (end > this.u8.length) this.refresh();
    if (!(ptr >= 0 && len >= 0 && end <= this.u8.length) || (unit === 2 && (ptr & 1) !== 0)) {
      throw new HostCallError(`memory range ${ptr}+${len * unit} is outside the instance's memory`);
    }
    return this.u16;
  }

  /** Reading memory.buffer costs more than a length check, so views are refreshed only on growth. */
  private refresh(): void {
    if (this.memory === null) {
      throw new HostCallError('the module called the host while being instantiated: build it with --exportStart _start (pillion-sdk build does)');
    }
    const buffer = this.memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >>> 1);
  }
}
