/** The proxy-wasm shared queues: names, order, limits, and the owner a register leaves. */
import { describe, expect, it } from 'vitest';
import { SharedQueues } from '../src/wasm/proxy-wasm/shared-queues.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | string) => (typeof b === 'string' ? b : new TextDecoder().decode(b));

describe('SharedQueues', () => {
  it('registers by name (the same id again, the last registrant its owner) and resolves', () => {
    const q = SharedQueues.create({ queues: 2, items: 4, itemBytes: 8 });
    expect(q.resolve(bytes('a'))).toBe(0);
    const a = q.register(bytes('a'), 1);
    expect(a).toBe(1);
    expect(q.register(bytes('b'), 1)).toBe(2);
    expect(q.register(bytes('a'), 2)).toBe(a);
    expect(q.owner(a)).toBe(2);
    expect(q.resolve(bytes('a'))).toBe(a);
    expect(q.register(bytes('c'), 1)).toBe(0);
    expect(q.register(bytes(''), 1)).toBe(0);
  });

  it('is first in, first out, wraps around, and refuses past its limits', () => {
    const q = SharedQueues.create({ queues: 1, items: 2, itemBytes: 4 });
    const id = q.register(bytes('q'), 1);
    const seq = () => Atomics.load(q.words, q.seqIndex(id));
    expect(q.dequeue(id)).toBe('empty');
    expect(q.enqueue(id, bytes('1'))).toBe('ok');
    expect(q.enqueue(id, bytes('22'))).toBe('ok');
    expect(q.enqueue(id, bytes('3'))).toBe('full');
    expect(q.enqueue(id, bytes('55555'))).toBe('too-large');
    expect(seq()).toBe(2);
    expect(str(q.dequeue(id))).toBe('1');
    expect(q.enqueue(id, bytes('333'))).toBe('ok');
    expect(str(q.dequeue(id))).toBe('22');
    expect(str(q.dequeue(id))).toBe('333');
    expect(q.dequeue(id)).toBe('empty');
    expect(q.enqueue(9, bytes('x'))).toBe('not-found');
    expect(q.dequeue(9)).toBe('not-found');
  });
});
