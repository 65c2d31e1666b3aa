import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AtomicBuckets } from '../src/wasm/shared-buckets.js';

describe('AtomicBuckets', () => {
  // rate 10/s (one token per 100 ms), burst 5; each row: [now ms, tokens, expected wait ms]
  const steps: Array<[number, number, number]> = [
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 0],
    [0, 1, 100],
    [50, 1, 50],
    [100, 1, 0],
    [100, 1, 100],
    [1000, 5, 0],
    [1000, 1, 100],
    [1030, 2, 170],
    [1200, 2, 0],
    [1200, 1, 100],
  ];

  it('refills at the rate up to the burst, and says how long to wait', () => {
    const buckets = AtomicBuckets.create(2);
    const waits = steps.map(([now, tokens]) => buckets.take(1, tokens, now, 10, 5));
    expect(waits).toEqual(steps.map((s) => s[2]));
    // the other bucket is untouched
    expect(buckets.take(0, 5, 0, 10, 5)).toBe(0);
  });

  it('answers at least 1 ms when it refuses, even a sliver short', () => {
    const buckets = AtomicBuckets.create(1);
    expect(buckets.take(0, 3, 0, 1000, 3)).toBe(0);
    expect(buckets.take(0, 1, 0.5, 1000, 3)).toBe(1);
  });

  it('rejects ids outside its range and impossible requests', () => {
    const buckets = AtomicBuckets.create(2);
    expect(() => buckets.take(2, 1, 0, 1, 1)).toThrowError(RangeError);
    expect(() => buckets.take(0, 2, 0, 1, 1)).toThrowError(/tokens 2/);
    expect(() => buckets.take(0, 1, 0, 0, 1)).toThrowError(/rate 0/);
  });

  it('lives in a region of a larger shared buffer', () => {
    const sab = new SharedArrayBuffer(64);
    const buckets = new AtomicBuckets(sab, 16, 2);
    expect(buckets.count).toBe(2);
    buckets.take(1, 1, 0, 1, 1);
    expect(new BigInt64Array(sab)[3]).toBe(1_000_000n);
  });

  it('grants exactly the burst when three threads race for it', async () => {
    const buckets = AtomicBuckets.create(1);
    // The workers run this very class (its compiled source), on the same memory.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const AtomicBuckets = ${AtomicBuckets.toString()};
      const buckets = new AtomicBuckets(workerData);
      let granted = 0;
      for (let i = 0; i < 2000; i++) if (buckets.take(0, 1, 1000, 0.001, 1500) === 0) granted++;
      parentPort.postMessage(granted);
    `;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(source, { eval: true, workerData: buckets.slots.buffer });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    let mine = 0;
    const others = Promise.all([run(), run()]);
    for (let i = 0; i < 2000; i++) if (buckets.take(0, 1, 1000, 0.001, 1500) === 0) mine++;
    const [a, b] = await others;
    expect(mine + a + b).toBe(1500);
  });
});
