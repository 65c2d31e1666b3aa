import { HeaderList } from '@pillion/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../src/wasm/action.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import { FilterError } from '../src/wasm/filter-error.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';
import { WasmFilter } from '../src/wasm/wasm-filter.js';
import { fixtureModule } from './wasm-fixtures.js';

let behaviours: WebAssembly.Module;

beforeAll(async () => {
  behaviours = await fixtureModule('behaviours');
});

function setup(options: { failOpen?: boolean; maxMemory?: number } = {}) {
  const errors: Array<{ filter: string; kind: string; message: string }> = [];
  const filter = new WasmFilter(behaviours, { name: 'b', config: '{"tag":"t"}', ...options });
  const chain = new FilterChain([filter], {
    onFilterError: (name, error) => errors.push({ filter: name, kind: error.kind, message: error.message }),
  });
  return { filter, chain, errors };
}

describe('a failing filter', () => {
  // Each row: the request header that makes the fixture fail, and the kind of failure reported.
  const failures: Array<[string, string, string, RegExp]> = [
    ['trap', 'x-trap', 'trap', /unreachable/],
    ['exception', 'x-throw', 'abort', /asked to throw/],
    ['memory past max_memory', 'x-grow', 'memory', /over max_memory 1048576/],
  ];

  for (const [what, header, kind, message] of failures) {
    it(`${what}: the request gets 500, the instance is re-created, the next request is served`, () => {
      const { filter, chain, errors } = setup({ maxMemory: 1024 * 1024 });
      const broken = filter.current();
      const req = new RecordingRequest({ headers: [header, '2000000'] });
      expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
      expect(req.localReply?.status).toBe(500);
      chain.onLog(req);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ filter: 'b', kind });
      expect(errors[0]!.message).toMatch(message);
      expect(broken.broken).toBe(true);
      expect(filter.current()).not.toBe(broken);
      expect(filter.generation).toBe(1);

      const next = new RecordingRequest();
      expect(chain.onRequestHeaders(next)).toBe(Action.Continue);
      expect(next.requestHeaders.get('x-filter')).toBe('t');
      chain.onLog(next);
      // the fresh instance starts from zero memory use; the counters live on in the filter
      expect(filter.current().memoryBytes).toBeLessThanOrEqual(1024 * 1024);
      expect(filter.metrics.get('requests_seen')).toBe(2);
    });
  }

  it('fail_open: the request skips the filter and goes on', () => {
    const { filter, chain, errors } = setup({ failOpen: true });
    const req = new RecordingRequest({ headers: ['x-trap', '1'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.localReply).toBeNull();
    expect(req.requestHeaders.get('x-filter')).toBeUndefined();
    req.respond(200, new HeaderList());
    expect(chain.onResponseHeaders(req)).toBe(Action.Continue);
    // the filter sat out the rest of the request: no response header from it
    expect(req.responseHeaders?.get('x-filter-response')).toBeUndefined();
    chain.onLog(req);
    expect(errors.map((e) => e.kind)).toEqual(['trap']);
    expect(filter.generation).toBe(1);
  });

  it('a trap in a response hook fails that request with 500', () => {
    const { chain, errors } = setup();
    const req = new RecordingRequest({ headers: ['x-response-trap', '1'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    req.respond(200, new HeaderList());
    expect(chain.onResponseHeaders(req)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(500);
    chain.onLog(req);
    expect(errors.map((e) => e.kind)).toEqual(['trap']);
  });

  it('requests in flight on the failed instance fail too (their filter state is gone), new ones do not', () => {
    const { filter, chain, errors } = setup();
    const inFlight = new RecordingRequest();
    expect(chain.onRequestHeaders(inFlight)).toBe(Action.Continue);
    const trapping = new RecordingRequest({ headers: ['x-trap', '1'] });
    expect(chain.onRequestHeaders(trapping)).toBe(Action.LocalReply);
    chain.onLog(trapping);

    inFlight.respond(200, new HeaderList());
    expect(chain.onResponseHeaders(inFlight)).toBe(Action.LocalReply);
    expect(inFlight.localReply?.status).toBe(500);
    chain.onLog(inFlight);
    expect(errors.map((e) => e.kind)).toEqual(['trap', 'crashed']);
    // requests_logged: the crashed instance's requests never reach onLog
    expect(filter.metrics.get('requests_logged')).toBe(0);
  });

  it('a config the module rejects fails at load time, naming the filter', () => {
    expect(() => new WasmFilter(behaviours, { name: 'picky', config: '{"reject":true}' })).toThrowError(FilterError);
    expect(() => new WasmFilter(behaviours, { name: 'picky', config: '{"reject":true}' })).toThrowError(
      /filter picky: config: .*config rejected on purpose/,
    );
  });

  it('a config that is not JSON fails at load time', () => {
    expect(() => new WasmFilter(behaviours, { name: 'b', config: '{"tag":' })).toThrowError(/invalid JSON at offset 7/);
  });

  it('a config field of the wrong type names the field', () => {
    expect(() => new WasmFilter(behaviours, { name: 'b', config: '{"tag":3}' })).toThrowError(
      /config 'tag' must be a string, not a number/,
    );
  });
});
