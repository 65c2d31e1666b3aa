import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../src/wasm/action.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';
import { WasmFilter } from '../src/wasm/wasm-filter.js';
import { fixtureModule } from './wasm-fixtures.js';

let behaviours: WebAssembly.Module;
const text = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  behaviours = await fixtureModule('behaviours');
});

function chainOf(count: number): FilterChain {
  const filters = Array.from({ length: count }, (_, i) => new WasmFilter(behaviours, { name: `f${i}` }));
  return new FilterChain(filters, { onFilterError: (_n, error) => { throw error; } });
}

describe('request bodies', () => {
  it('stream chunk by chunk when no filter asks for the whole body', () => {
    const chain = chainOf(1);
    const req = new RecordingRequest();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(chain.onRequestBody(req, text('hello '), false)).toBe(Action.Continue);
    expect(chain.onRequestBody(req, text('world'), true)).toBe(Action.Continue);
    expect(req.requestHeaders.getAll('x-body')).toEqual(['6 hello ', '5 end world']);
    chain.onLog(req);
  });

  it('are withheld and delivered whole to a filter that asked, and to the filters after it', () => {
    const chain = chainOf(2);
    const req = new RecordingRequest({ headers: ['x-buffer', '100'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Buffer);
    const chunk = text('hello ');
    expect(chain.onRequestBody(req, chunk, false)).toBe(Action.Buffer);
    chunk.fill(0); // the pipeline may reuse its chunk memory: the chain kept a copy
    expect(chain.onRequestBody(req, text('world'), true)).toBe(Action.Continue);
    // both filters asked (same config); each saw the body once, whole
    expect(req.requestHeaders.getAll('x-body')).toEqual(['11 end hello world', '11 end hello world']);
    chain.onLog(req);
  });

  it('over the limit get 413', () => {
    const chain = chainOf(1);
    const req = new RecordingRequest({ headers: ['x-buffer', '8'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, text('12345'), false)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, text('67890'), true)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(413);
    chain.onLog(req);
  });

  it('an empty body still reaches a buffering filter once, at the end', () => {
    const chain = chainOf(1);
    const req = new RecordingRequest({ headers: ['x-buffer', '8'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, new Uint8Array(0), true)).toBe(Action.Continue);
    expect(req.requestHeaders.getAll('x-body')).toEqual(['0 end ']);
    chain.onLog(req);
  });
});
