import { describe, expect, it } from 'vitest';
import { ChunkPool } from '../src/worker/chunk-pool.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ChunkPool', () => {
  it('reuses a released slab for the next chunk', () => {
    const pool = new ChunkPool(1000);
    const a = pool.copy(new Uint8Array([1, 2, 3]).buffer);
    expect([...a]).toEqual([1, 2, 3]);
    pool.release(a);
    expect(pool.held).toBe(1);
    const b = pool.copy(new Uint8Array([4, 5]).buffer);
    expect(b.buffer).toBe(a.buffer);
    expect([...b]).toEqual([4, 5]);
    expect(pool.held).toBe(0);
  });

  it('drops its free slabs once unused for a while, and keeps them while in use', async () => {
    const pool = new ChunkPool(40);
    pool.release(pool.copy(new ArrayBuffer(10)));
    pool.release(pool.copy(new ArrayBuffer(10)));
    expect(pool.held).toBe(1);
    await sleep(25);
    pool.release(pool.copy(new ArrayBuffer(10))); // used within the period: the slab stays
    await sleep(25);
    expect(pool.held).toBe(1);
    await sleep(80);
    expect(pool.held).toBe(0);
  });
});
