/**
 * The proxy-wasm shared key-value store: get/set with compare-and-swap tokens, limits, and
 * increments from two threads at once that lose nothing.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedData } from '../src/wasm/proxy-wasm/shared-data.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('SharedData', () => {
  it('sets and gets, with a token that changes on every set', () => {
    const store = SharedData.create({ keys: 4, keyBytes: 8, valueBytes: 8 });
    expect(store.get(bytes('k'))).toBeNull();
    expect(store.set(bytes('k'), bytes('v1'), 0)).toBe('ok');
    const first = store.get(bytes('k'))!;
    expect(str(first.value)).toBe('v1');
    expect(store.set(bytes('k'), bytes('v2'), first.cas)).toBe('ok');
    expect(store.set(bytes('k'), bytes('v3'), first.cas)).toBe('cas-mismatch');
    const second = store.get(bytes('k'))!;
    expect(str(second.value)).toBe('v2');
    expect(second.cas).not.toBe(first.cas);
    expect(store.set(bytes('k'), bytes('v4'), 0)).toBe('ok');
    expect(str(store.get(bytes('k'))!.value)).toBe('v4');
  });

  it('keeps keys that collide apart, and says when it is full or a value too large', () => {
    const store = SharedData.create({ keys: 3, keyBytes: 4, valueBytes: 2 });
    for (const k of ['a', 'b', 'c']) expect(store.set(bytes(k), bytes(k.toUpperCase()), 0)).toBe('ok');
    expect(['a', 'b', 'c'].map((k) => str(store.get(bytes(k))!.value))).toEqual(['A', 'B', 'C']);
    expect(store.set(bytes('d'), bytes('D'), 0)).toBe('full');
    expect(store.set(bytes('a'), bytes('toolong'), 0)).toBe('too-large');
    expect(store.set(bytes('toolong'), bytes('x'), 0)).toBe('too-large');
    expect(store.get(bytes('d'))).toBeNull();
  });

  it('loses no increment when two threads compare-and-swap the same key', async () => {
    const store = SharedData.create({ keys: 4, keyBytes: 8, valueBytes: 4 });
    // The thread runs the built module (npx tsc -b), as the proxy's workers do.
    const url = new URL('../dist/wasm/proxy-wasm/shared-data.js', import.meta.url).href;
    // Each thread adds 1 to "n" 2000 times with get + set(cas), retrying on a mismatch.
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(({ SharedData }) => {
        const store = new SharedData(workerData.buffer, workerData.limits);
        const key = new TextEncoder().encode('n');
        let retries = 0;
        for (let i = 0; i < 2000; i++) {
          for (;;) {
            const got = store.get(key);
            const n = got ? new DataView(got.value.buffer).getUint32(0, true) : 0;
            const next = new Uint8Array(4);
            new DataView(next.buffer).setUint32(0, n + 1, true);
            if (store.set(key, next, got ? got.cas : 0) === 'ok') break;
            retries++;
          }
        }
        parentPort.postMessage(retries);
      });`;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: { url, buffer: store.buffer, limits: store.limits } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    store.set(bytes('n'), new Uint8Array(4), 0);
    await Promise.all([run(), run()]);
    expect(new DataView(store.get(bytes('n'))!.value.buffer).getUint32(0, true)).toBe(4000);
  }, 30_000);
});
