/**
 * The proxy-wasm shared key-value store (proxy_get_shared_data / proxy_set_shared_data), visible to
 * the filter's VMs in every worker thread at once: a SharedArrayBuffer of fixed slots, found by
 * hashing the key (open addressing; keys are never removed, as the ABI has no delete).
 *
 * Each slot starts with a version word. 0: empty. Odd: a writer holds it. Even: stable, and the
 * value's compare-and-swap token. A writer takes a slot by moving the version from even to odd with
 * Atomics.compareExchange (so a set with a stale token fails without writing) and publishes by
 * storing the next even number; a reader copies the value and retries if the version moved. Calls
 * are synchronous, as the ABI needs, and never block on another thread's callback.
 */
import { HostCallError } from '../filter-error.js';

const VERSION = 0;
const HASH = 1;
const KEY_LENGTH = 2;
const VALUE_LENGTH = 3;
const HEADER_BYTES = 16;
/** Versions run 2, 4, ... up to this, then wrap to 2 (0 and odd numbers mean something else). */
const MAX_VERSION = 0x7ffffffe;
/** A slot held longer than this many looks belongs to a writer that died mid-write. */
const MAX_SPINS = 10_000_000;

export interface SharedDataLimits {
  keys: number;
  keyBytes: number;
  valueBytes: number;
}

/** The schema's defaults (filters[].shared_data), for a filter made without one. */
export const SHARED_DATA_DEFAULTS: SharedDataLimits = { keys: 256, keyBytes: 256, valueBytes: 4096 };

/** Whether `module` imports the shared data host functions (only then does it get a store). */
export function usesSharedData(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.module === 'env' && (i.name === 'proxy_get_shared_data' || i.name === 'proxy_set_shared_data'));
}

export type SetResult = 'ok' | 'cas-mismatch' | 'too-large' | 'full';

export class SharedData {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly slotBytes: number;

  /** Over `buffer` (made by create() in the supervisor, posted to the workers). */
  constructor(buffer: SharedArrayBuffer, readonly limits: SharedDataLimits) {
    this.buffer = buffer;
    this.slotBytes = SharedData.slotBytes(limits);
    if (buffer.byteLength !== this.slotBytes * limits.keys) throw new RangeError('shared data buffer does not match its limits');
    this.words = new Int32Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  static create(limits: SharedDataLimits): SharedData {
    return new SharedData(new SharedArrayBuffer(SharedData.slotBytes(limits) * limits.keys), limits);
  }

  private static slotBytes(limits: SharedDataLimits): number {
    return HEADER_BYTES + Math.ceil((limits.keyBytes + limits.valueBytes) / 4) * 4;
  }

  /** The value and its compare-and-swap token, or null when the key was never set. */
  get(key: Uint8Array): { value: Uint8Array; cas: number } | null {
    if (key.length > this.limits.keyBytes) return null;
    const hash = fnv1a(key);
    const slots = this.limits.keys;
    for (let probe = 0; probe < slots; probe++) {
      const slot = (((hash >>> 0) % slots) + probe) % slots;
      const base = (slot * this.slotBytes) >> 2;
      for (let spins = 0; ; spins++) {
        const version = Atomics.load(this.words, base + VERSION);
        if (version === 0) return null;
        if ((version & 1) === 1) {
          this.backOff(spins);
          continue;
        }
        if (this.words[base + HASH] !== hash || !this.keyIs(slot, key)) break;
        const length = this.words[base + VALUE_LENGTH]!;
        const at = slot * this.slotBytes + HEADER_BYTES + this.limits.keyBytes;
        const value = length >= 0 && length <= this.limits.valueBytes ? this.bytes.slice(at, at + length) : new Uint8Array(0);
        if (Atomics.load(this.words, base + VERSION) === version) return { value, cas: version };
      }
    }
    return null;
  }

  /** Sets `key` to `value`; with a non-zero `cas`, only if the stored value still has that token. */
  set(key: Uint8Array, value: Uint8Array, cas: number): SetResult {
    if (key.length > this.limits.keyBytes || value.length > this.limits.valueBytes || key.length === 0) return 'too-large';
    const hash = fnv1a(key);
    const slots = this.limits.keys;
    for (let probe = 0; probe < slots; probe++) {
      const slot = (((hash >>> 0) % slots) + probe) % slots;
      const base = (slot * this.slotBytes) >> 2;
      for (let spins = 0; ; spins++) {
        const version = Atomics.load(this.words, base + VERSION);
        if (version === 0) {
          if (Atomics.compareExchange(this.words, base + VERSION, 0, 1) !== 0) continue;
          this.words[base + HASH] = hash;
          this.words[base + KEY_LENGTH] = key.length;
          this.bytes.set(key, slot * this.slotBytes + HEADER_BYTES);
          this.writeValue(slot, base, value);
          Atomics.store(this.words, base + VERSION, 2);
          return 'ok';
        }
        if ((version & 1) === 1) {
          this.backOff(spins);
          continue;
        }
        if (this.words[base + HASH] !== hash || !this.keyIs(slot, key)) break;
        if (cas !== 0 && cas >>> 0 !== version) return 'cas-mismatch';
        if (Atomics.compareExchange(this.words, base + VERSION, version, version + 1) !== version) {
          if (cas !== 0) return 'cas-mismatch';
          continue;
        }
        this.writeValue(slot, base, value);
        Atomics.store(this.words, base + VERSION, version >= MAX_VERSION ? 2 : version + 2);
        return 'ok';
      }
    }
    return 'full';
  }

  private writeValue(slot: number, base: number, value: Uint8Array): void {
    this.words[base + VALUE_LENGTH] = value.length;
    this.bytes.set(value, slot * this.slotBytes + HEADER_BYTES + this.limits.keyBytes);
  }

  private keyIs(slot: number, key: Uint8Array): boolean {
    const base = (slot * this.slotBytes) >> 2;
    if (this.words[base + KEY_LENGTH] !== key.length) return false;
    const at = slot * this.slotBytes + HEADER_BYTES;
    const bytes = this.bytes;
    for (let i = 0; i < key.length; i++) if (bytes[at + i] !== key[i]) return false;
    return true;
  }

  private backOff(spins: number): void {
    if (spins > MAX_SPINS) throw new HostCallError('a shared data slot stayed locked: a writer died mid-write');
  }
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h | 0;
}
