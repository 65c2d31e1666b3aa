import { HeaderList } from '@pillion/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../src/wasm/action.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';
import { WasmFilter } from '../src/wasm/wasm-filter.js';
import { fixtureModule } from './wasm-fixtures.js';

let behaviours: WebAssembly.Module;
let versionTwo: WebAssembly.Module;

beforeAll(async () => {
  behaviours = await fixtureModule('behaviours');
  versionTwo = await fixtureModule('version-two');
});

function serve(chain: FilterChain, count: number): number {
  let failures = 0;
  for (let i = 0; i < count; i++) {
    const req = new RecordingRequest({ headers: ['accept', '*/*', 'x-secret', String(i)] });
    if (chain.onRequestHeaders(req) !== Action.Continue) failures++;
    req.respond(200, new HeaderList(['content-type', 'text/plain']));
    if (chain.onResponseHeaders(req) !== Action.Continue) failures++;
    chain.onLog(req);
  }
  return failures;
}

describe('filter memory over many requests', () => {
  it('stays flat over 100k requests: the runtime frees what each request allocated', () => {
    const filter = new WasmFilter(behaviours, { name: 'b' });
    const chain = new FilterChain([filter], { onFilterError: (_n, error) => { throw error; } });
    expect(serve(chain, 20_000)).toBe(0);
    const warm = filter.current().memoryBytes;
    expect(serve(chain, 100_000)).toBe(0);
    expect(filter.current().memoryBytes).toBe(warm);
    expect(filter.generation).toBe(0);
    expect(filter.metrics.get('requests_logged')).toBe(120_000);
  });

  it('measures what a header hook costs (printed, not asserted)', () => {
    const rows: string[] = [];
    const measure = (label: string, chain: FilterChain) => {
      serve(chain, 5_000);
      const n = 50_000;
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const req = new RecordingRequest({ headers: ['accept', '*/*'] });
        chain.onRequestHeaders(req);
        chain.onLog(req);
      }
      const ns = Number(process.hrtime.bigint() - started) / n;
      rows.push(`${label.padEnd(52)} ${(ns / 1000).toFixed(2)} us/request`);
    };
    const none = () => { throw new Error('unexpected filter error'); };
    measure('no filter', new FilterChain([], { onFilterError: none }));
    measure('one header set (version-two: 1 host call)', new FilterChain([new WasmFilter(versionTwo, { name: 'v2' })], { onFilterError: none }));
    measure('behaviours fixture (~12 host calls)', new FilterChain([new WasmFilter(behaviours, { name: 'b' })], { onFilterError: none }));
    console.log(`header hook cost, onRequestHeaders + onLog:\n${rows.join('\n')}`);
    expect(rows).toHaveLength(3);
  });
});
