import { HostCallError } from '../filter-error.js';

const utf8 = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });
const CACHE_SLOTS = 256;
const MAX_CACHED_LENGTH = 64;

/** Raised for a pointer outside the module's memory; host functions answer INVALID_MEMORY_ACCESS. */
export class MemoryAccessError extends Error {}

/**
 * One proxy-wasm instance's linear memory, as the ABI uses it: bytes (UTF-8 strings) in, and values
 * out through memory the module allocates (`proxy_on_memory_allocate`, or `malloc` for older
 * modules), whose address and size the host writes at the pointers the module passed.
 */
export class VmMemory {
  private u8 = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));
  private memory: WebAssembly.Memory | null = null;
  private readonly cache: string[] = new Array<string>(CACHE_SLOTS).fill('');
  private allocate: ((size: number) => number) | null = null;

  /** Host functions are bound before the instance exists; its memory arrives here once it does. */
  attach(memory: WebAssembly.Memory, allocate: ((size: number) => number) | null): void {
    this.memory = memory;
    this.allocate = allocate;
  }

  get byteLength(): number {
    // Growth detaches the old buffer (its views read length 0), so reading memory.buffer, which
    // costs more than a length check, happens only after the module grew its memory.
    if (this.u8.length === 0 && this.memory !== null) this.refresh();
    return this.u8.length;
  }

  /** A view of [ptr, ptr + len): valid until the module runs again (its memory may grow). */
  bytes(ptr: number, len: number): Uint8Array {
    this.check(ptr >>> 0, len >>> 0);
    return this.u8.subarray(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  }

  /** A copy of [ptr, ptr + len), for keeping after the call. */
  copy(ptr: number, len: number): Uint8Array {
    return this.bytes(ptr, len).slice();
  }

  /**
   * UTF-8 at [ptr, ptr + len). Filters pass the same few header names and values on every request,
   * so short ASCII strings go through a small cache keyed by address: a hit compares the bytes in
   * place and returns the string made last time, with no allocation.
   */
  string(ptr: number, len: number): string {
    if (len === 0) return '';
    if (len > MAX_CACHED_LENGTH) return decoder.decode(this.bytes(ptr, len));
    const at = ptr >>> 0;
    this.check(at, len >>> 0);
    const u8 = this.u8;
    const slot = ((at >>> 3) ^ (at >>> 11) ^ len) & (CACHE_SLOTS - 1);
    const cached = this.cache[slot]!;
    if (cached.length === len) {
      let i = 0;
      while (i < len && cached.charCodeAt(i) === u8[at + i]) i++;
      if (i === len) return cached;
    }
    let s = '';
    for (let i = 0; i < len; i++) {
      const b = u8[at + i]!;
      if (b >= 0x80) return decoder.decode(this.bytes(ptr, len));
      s += String.fromCharCode(b);
    }
    this.cache[slot] = s;
    return s;
  }

  setU32(ptr: number, value: number): void {
    this.check(ptr >>> 0, 4);
    this.view.setUint32(ptr >>> 0, value >>> 0, true);
  }

  setU64(ptr: number, value: bigint): void {
    this.check(ptr >>> 0, 8);
    this.view.setBigUint64(ptr >>> 0, value, true);
  }

  /** Copies `value` into memory the module allocates, then writes its address and size. */
  returnBytes(value: Uint8Array, ptrPtr: number, sizePtr: number): void {
    let at = 0;
    if (value.length > 0) {
      if (this.allocate === null) throw new HostCallError('the module exports neither proxy_on_memory_allocate nor malloc: the host cannot return values');
      at = this.allocate(value.length) >>> 0;
      if (at === 0) throw new HostCallError(`the module could not allocate ${value.length} bytes for a value`);
      this.check(at, value.length);
      this.u8.set(value, at);
    }
    this.setU32(ptrPtr, at);
    this.setU32(sizePtr, value.length);
  }

  returnString(value: string, ptrPtr: number, sizePtr: number): void {
    this.returnBytes(utf8.encode(value), ptrPtr, sizePtr);
  }

  private check(ptr: number, len: number): void {
    if (ptr + len > this.u8.length) this.refresh();
    if (ptr + len > this.u8.length) throw new MemoryAccessError(`memory range ${ptr}+${len} is outside the module's memory`);
  }

  private refresh(): void {
    if (this.memory === null) throw new HostCallError('the module called the host while being instantiated (a start function); export _initialize or _start instead');
    const buffer = this.memory.buffer;
    if (this.u8.buffer !== buffer) {
      this.u8 = new Uint8Array(buffer);
      this.view = new DataView(buffer);
    }
  }
}
