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

function setup() {
  const errors: string[] = [];
  const filter = new WasmFilter(behaviours, { name: 'b', config: '{"tag":"v1"}' });
  const chain = new FilterChain([filter], { onFilterError: (_name, error) => errors.push(error.message) });
  return { filter, chain, errors };
}

describe('hot reload of a filter', () => {
  it('new requests use the new module; requests in flight finish on the old one', () => {
    const { chain, errors } = setup();
    const before = new RecordingRequest();
    expect(chain.onRequestHeaders(before)).toBe(Action.Continue);
    expect(before.requestHeaders.get('x-filter')).toBe('v1');

    chain.swap('b', versionTwo);

    const after = new RecordingRequest();
    expect(chain.onRequestHeaders(after)).toBe(Action.Continue);
    expect(after.requestHeaders.get('x-filter')).toBe('two');

    before.respond(200, new HeaderList());
    expect(chain.onResponseHeaders(before)).toBe(Action.Continue);
    expect(before.responseHeaders?.get('x-filter-response')).toBe('v1 200');
    after.respond(200, new HeaderList());
    expect(chain.onResponseHeaders(after)).toBe(Action.Continue);
    expect(after.responseHeaders?.get('x-filter-response')).toBeUndefined();
    chain.onLog(before);
    chain.onLog(after);
    expect(errors).toEqual([]);
  });

  it('a config change alone reloads the filter', () => {
    const { filter, chain } = setup();
    filter.swap(behaviours, '{"tag":"v2"}');
    const req = new RecordingRequest();
    chain.onRequestHeaders(req);
    expect(req.requestHeaders.get('x-filter')).toBe('v2');
    chain.onLog(req);
  });

  it('a reload that fails to start keeps the running filter', () => {
    const { filter, chain } = setup();
    expect(() => filter.swap(behaviours, '{"reject":true}')).toThrowError(/config rejected on purpose/);
    const req = new RecordingRequest();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.get('x-filter')).toBe('v1');
    chain.onLog(req);
  });

  it('swapping every 50 requests while 20 are always in flight fails none of them', () => {
    const { chain, errors } = setup();
    const inFlight: Array<{ req: RecordingRequest; tag: string }> = [];
    let failed = 0;
    let version = 1;
    for (let n = 1; n <= 2000; n++) {
      if (n % 50 === 0) {
        version++;
        if (version % 3 === 0) chain.swap('b', versionTwo);
        else chain.swap('b', behaviours, JSON.stringify({ tag: `v${version}` }));
      }
      const req = new RecordingRequest();
      if (chain.onRequestHeaders(req) !== Action.Continue) failed++;
      inFlight.push({ req, tag: req.requestHeaders.get('x-filter')! });
      if (inFlight.length > 20) {
        const { req: done, tag } = inFlight.shift()!;
        done.respond(200, new HeaderList());
        if (chain.onResponseHeaders(done) !== Action.Continue) failed++;
        // the response is decorated by the instance the request started on
        const decorated = done.responseHeaders!.get('x-filter-response');
        if (tag === 'two' ? decorated !== undefined : decorated !== `${tag} 200`) failed++;
        chain.onLog(done);
      }
    }
    expect(failed).toBe(0);
    expect(errors).toEqual([]);
  });
});
