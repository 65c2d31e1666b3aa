/**
 * The proxy-wasm shared queues (proxy_register_shared_queue, proxy_resolve_shared_queue,
 * proxy_enqueue_shared_queue, proxy_dequeue_shared_queue), visible to the filter's VMs in every
 * worker thread: a SharedArrayBuffer of named bounded queues. Queues carry few items (work handed
 * between VMs), so one lock word guards the whole store; a queue's `seq` word counts enqueues, and
 * threads wait on it (Atomics.waitAsync) to deliver proxy_on_queue_ready to the queue's owner, the
 * VM that registered it last, as in Envoy.
 */
import { HostCallError } from '../filter-error.js';

export interface SharedQueueLimits {
  /** Queues the store holds. */
  queues: number;
  /** Items a queue holds; an enqueue past it is refused. */
  items: number;
  /** Bytes an item may have. */
  itemBytes: number;
}

/** The schema's defaults (filters[].shared_queues), for a filter made without one. */
export const SHARED_QUEUE_DEFAULTS: SharedQueueLimits = { queues: 8, items: 64, itemBytes: 4096 };

/** Bytes of a queue name. */
const NAME_BYTES = 256;
const LOCK = 0;
/** Per queue, after the store's header word (padded to 8): */
const NAME_LENGTH = 0;
const HEAD = 1;
const COUNT = 2;
const OWNER = 3;
const SEQ = 4;
const QUEUE_HEADER_WORDS = 8;
const MAX_SPINS = 10_000_000;

/** Whether `module` imports the shared queue host functions (only then does it get a store). */
export function usesSharedQueues(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.module === 'env' && /^proxy_(register|resolve|enqueue|dequeue)_shared_queue$/.test(i.name));
}

export type EnqueueResult = 'ok' | 'not-found' | 'full' | 'too-large';

export class SharedQueues {
  readonly buffer: SharedArrayBuffer;
  readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly queueBytes: number;

  constructor(buffer: SharedArrayBuffer, readonly limits: SharedQueueLimits) {
    this.queueBytes = SharedQueues.queueBytes(limits);
    if (buffer.byteLength !== 8 + this.queueBytes * limits.queues) throw new RangeError('shared queue buffer does not match its limits');
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  static create(limits: SharedQueueLimits): SharedQueues {
    return new SharedQueues(new SharedArrayBuffer(8 + SharedQueues.queueBytes(limits) * limits.queues), limits);
  }

  private static queueBytes(limits: SharedQueueLimits): number {
    return QUEUE_HEADER_WORDS * 4 + NAME_BYTES + limits.items * (4 + Math.ceil(limits.itemBytes / 4) * 4);
  }

  /** Opens the queue `name`, creating it if new, and makes `owner` (a thread's id + 1) its owner. 0 when full. */
  register(name: Uint8Array, owner: number): number {
    if (name.length === 0 || name.length > NAME_BYTES) return 0;
    return this.locked(() => {
      let free = -1;
      for (let q = 0; q < this.limits.queues; q++) {
        const length = this.words[this.word(q, NAME_LENGTH)]!;
        if (length === 0) {
          if (free === -1) free = q;
        } else if (this.nameIs(q, name)) {
          this.words[this.word(q, OWNER)] = owner;
          return q + 1;
        }
      }
      if (free === -1) return 0;
      this.bytes.set(name, this.base(free) + QUEUE_HEADER_WORDS * 4);
      this.words[this.word(free, NAME_LENGTH)] = name.length;
      this.words[this.word(free, OWNER)] = owner;
      return free + 1;
    });
  }

  /** The id of the queue `name`, or 0 when none was registered. */
  resolve(name: Uint8Array): number {
    return this.locked(() => {
      for (let q = 0; q < this.limits.queues; q++) if (this.words[this.word(q, NAME_LENGTH)] !== 0 && this.nameIs(q, name)) return q + 1;
      return 0;
    });
  }

  enqueue(id: number, value: Uint8Array): EnqueueResult {
    if (!this.known(id)) return 'not-found';
    if (value.length > this.limits.itemBytes) return 'too-large';
    const q = id - 1;
    const result = this.locked((): EnqueueResult => {
      const count = this.words[this.word(q, COUNT)]!;
      if (count >= this.limits.items) return 'full';
      const slot = (this.words[this.word(q, HEAD)]! + count) % this.limits.items;
      const at = this.itemAt(q, slot);
      new DataView(this.buffer, at, 4).setUint32(0, value.length, true);
      this.bytes.set(value, at + 4);
      this.words[this.word(q, COUNT)] = count + 1;
      return 'ok';
    });
    if (result === 'ok') {
      Atomics.add(this.words, this.word(q, SEQ), 1);
      Atomics.notify(this.words, this.word(q, SEQ));
    }
    return result;
  }

  /** The item at the front, or 'empty' / 'not-found'. */
  dequeue(id: number): Uint8Array | 'empty' | 'not-found' {
    if (!this.known(id)) return 'not-found';
    const q = id - 1;
    return this.locked(() => {
      const count = this.words[this.word(q, COUNT)]!;
      if (count === 0) return 'empty';
      const head = this.words[this.word(q, HEAD)]!;
      const at = this.itemAt(q, head);
      const length = new DataView(this.buffer, at, 4).getUint32(0, true);
      const value = this.bytes.slice(at + 4, at + 4 + length);
      this.words[this.word(q, HEAD)] = (head + 1) % this.limits.items;
      this.words[this.word(q, COUNT)] = count - 1;
      return value;
    });
  }

  /** The thread (id + 1) that registered queue `id` last. */
  owner(id: number): number {
    return this.known(id) ? Atomics.load(this.words, this.word(id - 1, OWNER)) : 0;
  }

  /** Index in `words` of queue `id`'s enqueue counter, to wait on. */
  seqIndex(id: number): number {
    return this.word(id - 1, SEQ);
  }

  private known(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id <= this.limits.queues && Atomics.load(this.words, this.word(id - 1, NAME_LENGTH)) !== 0;
  }

  private base(q: number): number {
    return 8 + q * this.queueBytes;
  }

  private word(q: number, field: number): number {
    return (this.base(q) >> 2) + field;
  }

  private itemAt(q: number, slot: number): number {
    return this.base(q) + QUEUE_HEADER_WORDS * 4 + NAME_BYTES + slot * (4 + Math.ceil(this.limits.itemBytes / 4) * 4);
  }

  private nameIs(q: number, name: Uint8Array): boolean {
    if (this.words[this.word(q, NAME_LENGTH)] !== name.length) return false;
    const at = this.base(q) + QUEUE_HEADER_WORDS * 4;
    for (let i = 0; i < name.length; i++) if (this.bytes[at + i] !== name[i]) return false;
    return true;
  }

  private locked<T>(fn: () => T): T {
    for (let spins = 0; Atomics.compareExchange(this.words, LOCK, 0, 1) !== 0; spins++) {
      if (spins > MAX_SPINS) throw new HostCallError('the shared queue lock stayed taken: a thread died holding it');
    }
    try {
      return fn();
    } finally {
      Atomics.store(this.words, LOCK, 0);
    }
  }
}
