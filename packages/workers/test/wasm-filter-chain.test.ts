import { HeaderList } from '@pillion/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../src/wasm/action.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import type { FilterError } from '../src/wasm/filter-error.js';
import { Hook } from '../src/wasm/hooks.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';
import { WasmFilter } from '../src/wasm/wasm-filter.js';
import { fixtureModule } from './wasm-fixtures.js';

let behaviours: WebAssembly.Module;
let raw: WebAssembly.Module;

beforeAll(async () => {
  behaviours = await fixtureModule('behaviours');
  raw = await fixtureModule('raw-abi', false);
});

function chainOf(filters: WasmFilter[], errors: Array<[string, FilterError]> = []): FilterChain {
  return new FilterChain(filters, { onFilterError: (name, error) => errors.push([name, error]) });
}

function request(headers: string[] = [], init: Partial<RecordingRequest> = {}): RecordingRequest {
  return new RecordingRequest({ method: 'POST', path: '/a?b=1', authority: 'example.com', clientAddress: '10.0.0.7', headers, ...init });
}

describe('FilterChain over SDK filters', () => {
  it('lets a filter read the request and change its headers', () => {
    const chain = chainOf([new WasmFilter(behaviours, { name: 'b', config: '{"tag":"t1"}' })]);
    const req = request(['x-secret', 's', 'accept', '*/*']);
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.raw).toEqual([
      'accept', '*/*',
      'x-filter', 't1',
      'x-seen', 'POST example.com/a?b=1 from 10.0.0.7',
    ]);
    chain.onLog(req);
  });

  it('rewrites the path and picks the cluster', () => {
    const chain = chainOf([new WasmFilter(behaviours, { name: 'b' })]);
    const req = request(['x-rewrite', '/v2/a', 'x-cluster', 'canary']);
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.path).toBe('/v2/a');
    expect(req.cluster).toBe('canary');
    chain.onLog(req);
  });

  it('stops the chain with the local reply a filter sends', () => {
    const first = new WasmFilter(behaviours, { name: 'first', config: '{"tag":"one"}' });
    const second = new WasmFilter(behaviours, { name: 'second', config: '{"tag":"two"}' });
    const chain = chainOf([first, second]);
    const req = request(['x-reply', '403']);
    expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(403);
    expect(req.localReply?.body).toBe('denied\n');
    expect(req.localReply?.headers?.raw).toEqual(['x-fixture', 'one']);
    chain.onLog(req);
    expect(first.metrics.get('requests_seen')).toBe(1);
    expect(second.metrics.get('requests_seen')).toBe(0);
    expect(first.metrics.get('requests_logged')).toBe(1);
  });

  it('answers 500 when a filter stops without a reply', () => {
    const chain = chainOf([new WasmFilter(behaviours, { name: 'b' })]);
    const req = request(['x-stop', '1']);
    expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(500);
    chain.onLog(req);
  });

  it('runs response hooks in reverse order, so the first filter has the last word', () => {
    const chain = chainOf([
      new WasmFilter(behaviours, { name: 'outer', config: '{"tag":"outer"}' }),
      new WasmFilter(behaviours, { name: 'inner', config: '{"tag":"inner"}' }),
    ]);
    const req = request();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.get('x-filter')).toBe('inner');
    req.respond(201, new HeaderList(['content-type', 'text/plain']));
    expect(chain.onResponseHeaders(req)).toBe(Action.Continue);
    expect(req.responseHeaders?.raw).toEqual(['content-type', 'text/plain', 'x-filter-response', 'outer 201']);
    chain.onLog(req);
  });

  it('refuses a header value with CR LF: the request fails instead of being smuggled', () => {
    const errors: Array<[string, FilterError]> = [];
    const chain = chainOf([new WasmFilter(behaviours, { name: 'b' })], errors);
    const req = request(['x-bad-header', '1']);
    expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(500);
    expect(req.requestHeaders.get('x-injected')).toBeUndefined();
    expect(errors.map(([name, e]) => [name, e.kind])).toEqual([['b', 'host']]);
    chain.onLog(req);
  });

  it('keeps counters per filter across requests', () => {
    const filter = new WasmFilter(behaviours, { name: 'b' });
    const chain = chainOf([filter]);
    for (let i = 0; i < 3; i++) {
      const req = request();
      chain.onRequestHeaders(req);
      chain.onLog(req);
    }
    expect(filter.metrics.snapshot()).toEqual({ requests_seen: 3, requests_logged: 3, hoarded_buffers: 0 });
  });

  it('calls only the hooks a module exports', () => {
    const filter = new WasmFilter(raw, { name: 'raw' });
    expect(filter.current().hooks).toBe(Hook.RequestHeaders);
    const chain = chainOf([filter]);
    const req = request();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.get('x-raw')).toBe('yes');
    req.respond(200, new HeaderList());
    expect(chain.onRequestBody(req, new Uint8Array(3), true)).toBe(Action.Continue);
    expect(chain.onResponseHeaders(req)).toBe(Action.Continue);
    chain.onLog(req);
  });

  it('stops calling the hooks an SDK filter left at their defaults', async () => {
    const filter = new WasmFilter(await fixtureModule('version-two'), { name: 'two' });
    const all = Hook.RequestHeaders | Hook.RequestBody | Hook.ResponseHeaders | Hook.ResponseBody | Hook.Log;
    expect(filter.current().hooks).toBe(all);
    const chain = chainOf([filter]);
    const req = request();
    chain.onRequestHeaders(req);
    chain.onRequestBody(req, new Uint8Array(0), true);
    req.respond(200, new HeaderList());
    chain.onResponseHeaders(req);
    chain.onResponseBody(req, new Uint8Array(0), true);
    chain.onLog(req);
    expect(filter.current().hooks).toBe(Hook.RequestHeaders | Hook.Log);
  });
});
