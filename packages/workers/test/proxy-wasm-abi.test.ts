/**
 * The proxy-wasm ABI's marshalling, exactly: the map serialization (the spec's own example), values
 * returned through module-allocated memory, status codes for bad arguments and bad pointers.
 */
import { HeaderList } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { BufferType, MapType, Status, deserializePairs, proxyWasmAbiOf, serializePairs } from '../src/wasm/proxy-wasm/index.js';
import { bufferImports } from '../src/wasm/proxy-wasm/imports-buffers.js';
import { headerImports } from '../src/wasm/proxy-wasm/imports-headers.js';
import { contextImports } from '../src/wasm/proxy-wasm/imports-context.js';
import { property, propertyPath } from '../src/wasm/proxy-wasm/imports-properties.js';
import type { HostState, VmEnv } from '../src/wasm/proxy-wasm/host.js';
import { VmMemory } from '../src/wasm/proxy-wasm/vm-memory.js';
import { FilterMetrics } from '../src/wasm/filter-metrics.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';

const utf8 = new TextEncoder();

describe('map serialization', () => {
  it('matches the spec example {a: 1, b: 22}', () => {
    const bytes = serializePairs(['a', '1', 'b', '22']);
    expect([...bytes]).toEqual([2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x61, 0, 0x31, 0, 0x62, 0, 0x32, 0x32, 0]);
    expect(deserializePairs(bytes)).toEqual(['a', '1', 'b', '22']);
  });

  it('reads both empty forms and UTF-8', () => {
    expect(deserializePairs(new Uint8Array(0))).toEqual([]);
    expect(deserializePairs(new Uint8Array([0]))).toEqual([]);
    expect(deserializePairs(serializePairs(['k', 'é✓']))).toEqual(['k', 'é✓']);
    expect(serializePairs([]).length).toBe(4);
  });

  it.each([
    ['too short', [1, 0]],
    ['a count larger than the bytes', [9, 0, 0, 0, 0, 0, 0, 0]],
    ['an entry past the end', [1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0x61, 0]],
    ['a missing NUL', [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x61, 1, 0x62, 0]],
  ])('refuses %s', (_what, bytes) => {
    expect(() => deserializePairs(new Uint8Array(bytes))).toThrow(RangeError);
  });
});

describe('ABI detection', () => {
  const module = (exports: string[]) => {
    // A minimal module exporting empty functions with these names.
    const names = exports.map((n) => [...utf8.encode(n)]);
    const typeSec = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
    const funcSec = [0x03, 1 + exports.length, exports.length, ...exports.map(() => 0)];
    const exportBody = [exports.length, ...names.flatMap((n, i) => [n.length, ...n, 0x00, i])];
    const exportSec = [0x07, exportBody.length, ...exportBody];
    const codeBody = [exports.length, ...exports.flatMap(() => [0x02, 0x00, 0x0b])];
    const codeSec = [0x0a, codeBody.length, ...codeBody];
    return new WebAssembly.Module(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0, 0, 0, ...typeSec, ...funcSec, ...exportSec, ...codeSec]));
  };

  it.each([
    [['proxy_abi_version_0_2_1'], '0.2.1'],
    [['proxy_abi_version_0_2_0'], '0.2.0'],
    [['proxy_abi_version_0_2_0', 'proxy_abi_version_0_2_1'], '0.2.1'],
    [['on_request_headers'], null],
    [['proxy_abi_version_0_1_0'], null],
  ])('%j → %s', (exports, version) => {
    expect(proxyWasmAbiOf(module(exports as string[]))).toBe(version);
  });
});

/** A host over a plain memory, allocating from a bump pointer like a module's proxy_on_memory_allocate. */
function fakeHost(request: RecordingRequest | null) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let next = 32 * 1024;
  const vm = new VmMemory();
  vm.attach(memory, (size) => {
    const at = next;
    next += (size + 7) & ~7;
    return at;
  });
  const env: VmEnv = {
    name: 'f',
    rootId: 'root',
    config: utf8.encode('cfg'),
    maxMemory: 1 << 20,
    maxBodyBytes: 1024,
    metrics: new FilterMetrics(),
    sharedData: null,
    sharedQueues: null,
    log: () => {},
    now: () => 1000,
    random: () => 0.5,
  };
  const host: HostState = {
    env,
    memory: vm,
    request,
    context: request === null ? 0 : 2,
    body: null,
    bodyDirection: -1,
    bodyBuffered: false,
    rewrittenBody: null,
    replied: false,
    configuration: null,
    configurationType: -1,
    setTickPeriod: () => {},
    watchQueue: () => {},
  };
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  let scratch = 1024;
  const put = (s: string | Uint8Array): [number, number] => {
    const bytes = typeof s === 'string' ? utf8.encode(s) : s;
    const at = scratch;
    u8.set(bytes, at);
    scratch += bytes.length + 8;
    return [at, bytes.length];
  };
  const RET_PTR = 16;
  const RET_LEN = 20;
  const returned = () => u8.slice(dv.getUint32(RET_PTR, true), dv.getUint32(RET_PTR, true) + dv.getUint32(RET_LEN, true));
  return { host, put, returned, dv, RET_PTR, RET_LEN };
}

describe('header map host functions', () => {
  const setup = () => {
    const req = new RecordingRequest({ method: 'POST', path: '/a?b=1', authority: 'example.com', headers: ['x-one', '1', 'x-many', 'a', 'x-many', 'b', 'content-length', '3'] });
    const f = fakeHost(req);
    return { req, ...f, fns: headerImports(f.host) };
  };

  it('gets a value, joining repeated fields with commas, and the pseudo-headers', () => {
    const { fns, put, returned, RET_PTR, RET_LEN } = setup();
    const get = (name: string) => {
      const status = fns.proxy_get_header_map_value!(MapType.HttpRequestHeaders, ...put(name), RET_PTR, RET_LEN);
      return status === Status.Ok ? new TextDecoder().decode(returned()) : status;
    };
    expect(get('X-One')).toBe('1');
    expect(get('x-many')).toBe('a,b');
    expect(get(':path')).toBe('/a?b=1');
    expect(get(':method')).toBe('POST');
    expect(get(':authority')).toBe('example.com');
    expect(get('x-absent')).toBe(Status.NotFound);
  });

  it('returns every pair, pseudo-headers first, and the size of that serialization', () => {
    const { fns, returned, RET_PTR, RET_LEN, dv } = setup();
    expect(fns.proxy_get_header_map_pairs!(MapType.HttpRequestHeaders, RET_PTR, RET_LEN)).toBe(Status.Ok);
    const bytes = returned();
    expect(deserializePairs(bytes)).toEqual([':authority', 'example.com', ':path', '/a?b=1', ':method', 'POST', 'x-one', '1', 'x-many', 'a', 'x-many', 'b', 'content-length', '3']);
    expect(fns.proxy_get_header_map_size!(MapType.HttpRequestHeaders, RET_LEN)).toBe(Status.Ok);
    expect(dv.getUint32(RET_LEN, true)).toBe(bytes.length);
  });

  it('adds, replaces and removes; :path rewrites the request path', () => {
    const { fns, put, req } = setup();
    expect(fns.proxy_add_header_map_value!(MapType.HttpRequestHeaders, ...put('x-one'), ...put('2'))).toBe(Status.Ok);
    expect(req.requestHeaders.getAll('x-one')).toEqual(['1', '2']);
    expect(fns.proxy_replace_header_map_value!(MapType.HttpRequestHeaders, ...put('x-many'), ...put('c'))).toBe(Status.Ok);
    expect(req.requestHeaders.getAll('x-many')).toEqual(['c']);
    expect(fns.proxy_remove_header_map_value!(MapType.HttpRequestHeaders, ...put('x-one'))).toBe(Status.Ok);
    expect(req.requestHeaders.has('x-one')).toBe(false);
    expect(fns.proxy_replace_header_map_value!(MapType.HttpRequestHeaders, ...put(':path'), ...put('/new'))).toBe(Status.Ok);
    expect(req.path).toBe('/new');
  });

  it.each([
    ['a framing header', 'content-length', '9'],
    ['an invalid name', 'bad name', 'x'],
    ['a value with CR LF', 'x-ok', 'a\r\nb'],
    ['a pseudo-header other than :path', ':method', 'GET'],
  ])('answers BAD_ARGUMENT for %s', (_what, name, value) => {
    const { fns, put, req } = setup();
    const before = req.requestHeaders.raw.slice();
    expect(fns.proxy_add_header_map_value!(MapType.HttpRequestHeaders, ...put(name), ...put(value))).toBe(Status.BadArgument);
    expect(fns.proxy_replace_header_map_value!(MapType.HttpRequestHeaders, ...put(name), ...put(value))).toBe(Status.BadArgument);
    expect(req.requestHeaders.raw).toEqual(before);
  });

  it('sets all pairs, keeping the framing fields the proxy owns', () => {
    const { fns, put, req } = setup();
    const pairs = serializePairs([':path', '/p', 'x-new', 'v', 'content-length', '99']);
    expect(fns.proxy_set_header_map_pairs!(MapType.HttpRequestHeaders, ...put(pairs))).toBe(Status.Ok);
    expect(req.requestHeaders.raw).toEqual(['x-new', 'v', 'content-length', '3']);
    expect(req.path).toBe('/p');
    expect(fns.proxy_set_header_map_pairs!(MapType.HttpRequestHeaders, ...put(new Uint8Array([5, 0])))).toBe(Status.ParseFailure);
  });

  it('answers NOT_FOUND for maps Pillion does not have now, BAD_ARGUMENT for unknown ones', () => {
    const { fns, put, RET_PTR, RET_LEN } = setup();
    expect(fns.proxy_get_header_map_value!(MapType.HttpResponseHeaders, ...put('x'), RET_PTR, RET_LEN)).toBe(Status.NotFound);
    expect(fns.proxy_get_header_map_value!(MapType.HttpRequestTrailers, ...put('x'), RET_PTR, RET_LEN)).toBe(Status.NotFound);
    expect(fns.proxy_get_header_map_value!(42, ...put('x'), RET_PTR, RET_LEN)).toBe(Status.BadArgument);
  });

  it('answers INVALID_MEMORY_ACCESS for a pointer outside memory', () => {
    const { fns, RET_PTR, RET_LEN } = setup();
    expect(fns.proxy_get_header_map_value!(MapType.HttpRequestHeaders, 70000, 4, RET_PTR, RET_LEN)).toBe(Status.InvalidMemoryAccess);
    expect(fns.proxy_get_header_map_pairs!(MapType.HttpRequestHeaders, 0xfffffff0, RET_LEN)).toBe(Status.InvalidMemoryAccess);
  });

  it('fails the filter when called outside an HTTP callback', () => {
    const { host, put } = fakeHost(null);
    expect(() => headerImports(host).proxy_remove_header_map_value!(MapType.HttpRequestHeaders, ...put('x'))).toThrow(/only be called while an HTTP callback runs/);
  });
});

describe('buffer host functions', () => {
  it('read a slice, report the size, and replace a range of a withheld body', () => {
    const req = new RecordingRequest({ headers: ['content-length', '11'] });
    const { host, put, returned, dv, RET_PTR, RET_LEN } = fakeHost(req);
    const fns = bufferImports(host);
    host.body = utf8.encode('hello world');
    host.bodyDirection = BufferType.HttpRequestBody;
    host.bodyBuffered = true;
    expect(fns.proxy_get_buffer_bytes!(BufferType.HttpRequestBody, 6, 100, RET_PTR, RET_LEN)).toBe(Status.Ok);
    expect(new TextDecoder().decode(returned())).toBe('world');
    expect(fns.proxy_get_buffer_status!(BufferType.HttpRequestBody, RET_PTR, RET_LEN)).toBe(Status.Ok);
    expect(dv.getUint32(RET_PTR, true)).toBe(11);
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpRequestBody, 0, 5, ...put('HOWDY'))).toBe(Status.Ok);
    expect(new TextDecoder().decode(host.rewrittenBody!)).toBe('HOWDY world');
    // content-length framed the body: its length stays
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpRequestBody, 0xffffffff, 0, ...put('!'))).toBe(Status.BadArgument);
    req.requestHeaders.remove('content-length');
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpRequestBody, 0xffffffff, 0, ...put('!'))).toBe(Status.Ok);
    expect(new TextDecoder().decode(host.rewrittenBody!)).toBe('HOWDY world!');
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpRequestBody, 0, 0, ...put('>'))).toBe(Status.Ok);
    expect(new TextDecoder().decode(host.rewrittenBody!)).toBe('>HOWDY world!');
    expect(fns.proxy_get_buffer_bytes!(BufferType.HttpResponseBody, 0, 1, RET_PTR, RET_LEN)).toBe(Status.NotFound);
    expect(fns.proxy_get_buffer_bytes!(99, 0, 1, RET_PTR, RET_LEN)).toBe(Status.BadArgument);
  });

  it('refuse to change a streamed chunk (it is already on its way)', () => {
    const { host, put } = fakeHost(new RecordingRequest());
    host.body = utf8.encode('abc');
    host.bodyDirection = BufferType.HttpRequestBody;
    expect(bufferImports(host).proxy_set_buffer_bytes!(BufferType.HttpRequestBody, 0, 3, ...put('x'))).toBe(Status.NotFound);
  });

  it('refuse a response body of another length once its content-length went out', () => {
    const req = new RecordingRequest();
    req.respond(200, new HeaderList(['content-length', '3']));
    const { host, put } = fakeHost(req);
    host.body = utf8.encode('abc');
    host.bodyDirection = BufferType.HttpResponseBody;
    host.bodyBuffered = true;
    const fns = bufferImports(host);
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpResponseBody, 0, 3, ...put('abcd'))).toBe(Status.BadArgument);
    expect(fns.proxy_set_buffer_bytes!(BufferType.HttpResponseBody, 0, 3, ...put('ABC'))).toBe(Status.Ok);
  });
});

describe('effective context', () => {
  it('is OK for the context whose callback runs, NOT_FOUND for any other (no deferred callbacks here)', () => {
    const { host } = fakeHost(new RecordingRequest({ method: 'GET', path: '/' }));
    const set = contextImports(host).proxy_set_effective_context!;
    expect([set(2), set(3), set(1)]).toEqual([Status.Ok, Status.NotFound, Status.NotFound]);
    host.context = 0;
    expect(set(0)).toBe(Status.NotFound);
  });
});

describe('properties', () => {
  const req = new RecordingRequest({ method: 'PUT', path: '/p/q?x=1', authority: 'h.example', clientAddress: '10.0.0.7', clientIdentity: 'spiffe://a', headers: ['user-agent', 'ua/1'] });

  it.each([
    ['request.path', '/p/q?x=1'],
    ['request\0url_path', '/p/q'],
    ['request.query', 'x=1'],
    ['request.method', 'PUT'],
    ['request.host', 'h.example'],
    ['request\0headers\0user-agent', 'ua/1'],
    ['source.address', '10.0.0.7'],
    ['plugin_root_id', 'root'],
    ['plugin_name', 'f'],
    ['destination.address', null],
    ['response.code', null],
  ])('%j → %j', (path, value) => {
    expect(property(fakeHost(req).host, propertyPath(path))).toEqual(value);
  });

  it('encodes booleans as one byte and integers as 8 little-endian bytes', () => {
    expect(property(fakeHost(req).host, ['connection', 'mtls'])).toEqual(new Uint8Array([1]));
    const answered = new RecordingRequest();
    answered.respond(404, new HeaderList());
    expect(property(fakeHost(answered).host, ['response', 'code'])).toEqual(new Uint8Array([0x94, 1, 0, 0, 0, 0, 0, 0]));
  });
});
