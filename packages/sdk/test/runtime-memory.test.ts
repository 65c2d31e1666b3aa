import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Action, FilterChain, RecordingRequest, WasmFilter } from '../../workers/src/wasm/index.js';
import { compileCached } from './helpers/compile-cached.js';

const entry = fileURLToPath(new URL('./fixtures/per-request-garbage.ts', import.meta.url));

/** Linear memory of the filter's instance after `count` requests, sampled every `every`. */
async function memoryOver(count: number, every: number, ascFlags: string[] = []): Promise<number[]> {
  const module = new WebAssembly.Module(await compileCached(entry, { ascFlags }));
  const filter = new WasmFilter(module, { name: 'garbage', maxMemory: 1 << 30 });
  const chain = new FilterChain([filter], { onFilterError: (_n, error) => { throw error; } });
  const samples: number[] = [];
  for (let i = 1; i <= count; i++) {
    const req = new RecordingRequest({ path: `/p/${i % 100}`, headers: ['user-agent', 'curl/8.5.0'] });
    if (chain.onRequestHeaders(req) !== Action.Continue) throw new Error('unexpected reply');
    chain.onLog(req);
    if (i % every === 0) samples.push(filter.current().memoryBytes);
  }
  return samples;
}

describe('the runtime filters are built with', () => {
  it('keeps memory flat over 100k requests (incremental GC)', async () => {
    const samples = await memoryOver(100_000, 10_000);
    console.log(`incremental runtime, memory every 10k requests: ${samples.map((b) => `${b >> 10}K`).join(' ')}`);
    expect(new Set(samples.slice(1)).size).toBe(1);
  });

  it('is needed: the stub runtime grows with every request', async () => {
    const samples = await memoryOver(100_000, 10_000, ['--runtime', 'stub']);
    console.log(`stub runtime, memory every 10k requests: ${samples.map((b) => `${b >> 10}K`).join(' ')}`);
    expect(samples.at(-1)! - samples[0]!).toBeGreaterThan(8 * 1024 * 1024);
  });
});
