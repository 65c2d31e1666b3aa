/**
 * A proxy-wasm module in Pillion's filter chain, driven as the pipeline drives it: the lifecycle
 * Envoy runs (root context configured once, a context per request, done/log/delete), header rewrites,
 * local responses, buffered bodies rewritten, properties, metrics, ticks, and a VM replaced after a
 * trap or proc_exit. The module is the fixture in fixtures/proxy-wasm, built from source.
 */
import { HeaderList } from '@pillion/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { Action } from '../src/wasm/action.js';
import type { FilterError } from '../src/wasm/filter-error.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import { FilterMetrics } from '../src/wasm/filter-metrics.js';
import { RecordingRequest } from '../src/wasm/recording-request.js';
import { ProxyWasmFilter, SharedData, SharedQueues, type ProxyWasmFilterOptions } from '../src/wasm/proxy-wasm/index.js';
import { proxyWasm020Fixture, proxyWasmFixture } from './proxy-wasm-fixtures.js';

let module: WebAssembly.Module;
const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  module = await proxyWasmFixture();
}, 60_000);

function chainWith(rootId: string, options: Partial<ProxyWasmFilterOptions> = {}) {
  const errors: FilterError[] = [];
  const metrics = options.metrics ?? new FilterMetrics();
  const filter = new ProxyWasmFilter(module, { name: 'pw', rootId, maxMemory: 16 << 20, metrics, ...options });
  const chain = new FilterChain([filter], { onFilterError: (_name, error) => errors.push(error) });
  return { chain, filter, errors, metrics };
}

describe('configuration', () => {
  it('hands proxy_on_configure the config and fails start-up when the module refuses it', () => {
    const { chain } = chainWith('rewrite', { config: 'a string as is' });
    const req = new RecordingRequest();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.get('x-config')).toBe('a string as is');
    chain.onLog(req);
    expect(() => chainWith('rewrite', { config: 'reject' })).toThrow(/proxy_on_configure returned false/);
  });

  it('refuses a module importing a host function this host does not provide, naming it', () => {
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0, 0, 0,
      0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
      0x02, 0x17, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x0f, ...text('proxy_http_call'), 0x00, 0x00, // import env.proxy_http_call
      0x05, 0x03, 0x01, 0x00, 0x01, // memory 1 page
      0x07, 0x0a, 0x01, 0x06, ...text('memory'), 0x02, 0x00, // export memory
    ]);
    expect(() => new ProxyWasmFilter(new WebAssembly.Module(bytes), { name: 'x', maxMemory: 1 << 20 })).toThrow(/does not provide: env\.proxy_http_call/);
  });
});

describe('ABI 0.2.0', () => {
  it('runs a module in the AssemblyScript SDK\'s shape (malloc, root id by property)', async () => {
    const old = await proxyWasm020Fixture();
    const filter = new ProxyWasmFilter(old, { name: 'as', rootId: 'my_root', config: '{"k":1}', maxMemory: 16 << 20 });
    const chain = new FilterChain([filter], { onFilterError: (_n, error) => { throw error; } });
    const req = new RecordingRequest();
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(req.requestHeaders.raw).toEqual(['x-abi', '0.2.0', 'x-root', 'my_root', 'x-config', '{"k":1}']);
    chain.onLog(req);
  }, 60_000);
});

describe('hot swap', () => {
  it('a new config makes a new VM, configured with it; requests in flight finish on the old one', () => {
    const { chain, filter } = chainWith('rewrite', { config: 'v1' });
    const inFlight = new RecordingRequest();
    chain.onRequestHeaders(inFlight);
    chain.swap('pw', module, 'v2');
    expect(filter.generation).toBe(1);
    const next = new RecordingRequest();
    chain.onRequestHeaders(next);
    expect([inFlight.requestHeaders.get('x-config'), next.requestHeaders.get('x-config')]).toEqual(['v1', 'v2']);
    inFlight.respond(200, new HeaderList());
    chain.onResponseHeaders(inFlight);
    expect(inFlight.responseHeaders!.get('x-proxy-wasm-response')).toBe('yes');
    chain.onLog(inFlight);
    chain.onLog(next);
    expect(() => chain.swap('pw', module, 'reject')).toThrow(/refused its config/);
    const after = new RecordingRequest();
    chain.onRequestHeaders(after);
    expect(after.requestHeaders.get('x-config')).toBe('v2');
    chain.onLog(after);
  });
});

describe('headers', () => {
  it('rewrites request and response headers, :path included; framing fields stay the proxy\'s', () => {
    const { chain, errors } = chainWith('rewrite');
    const req = new RecordingRequest({ path: '/rewrite-me/x?y=1', headers: ['x-replace-me', 'old', 'x-remove-me', '1', 'content-length', '0'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    const h = req.requestHeaders;
    expect(h.get('x-proxy-wasm')).toBe('added');
    expect(h.get('x-replace-me')).toBe('replaced');
    expect(h.has('x-remove-me')).toBe(false);
    expect(h.get('x-headers-arg')).toBe('3');
    expect(h.get('x-end-of-stream')).toBe('1');
    expect(h.get('x-framing-status')).toBe('2'); // BAD_ARGUMENT
    expect(h.get('content-length')).toBe('0');
    expect(req.path).toBe('/rewritten/x?y=1');
    expect(h.get('x-pairs-size-matches')).toBe('yes');
    req.respond(201, new HeaderList(['x-powered-by', 'node', 'x-up', '1']));
    expect(chain.onResponseHeaders(req)).toBe(Action.Continue);
    expect(req.responseHeaders!.raw).toEqual(['x-up', '1', 'x-proxy-wasm-response', 'yes', 'x-seen-status', '201']);
    chain.onLog(req);
    expect(errors).toEqual([]);
  });
});

describe('local responses', () => {
  it('answer with the status, body and headers the module sent, and still see the response phase', () => {
    const { chain } = chainWith('deny');
    const req = new RecordingRequest({ headers: ['x-deny', '1'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(403);
    expect(req.localReply?.body).toBe('forbidden by proxy-wasm\n');
    expect(req.localReply?.headers?.raw).toEqual(['x-denied-by', 'proxy-wasm', 'content-type', 'text/plain']);
    req.respond(403, req.localReply!.headers!);
    chain.onResponseHeaders(req);
    expect(req.responseHeaders!.get('x-deny-filter-saw-response')).toBe('yes');
    chain.onLog(req);
    const ok = new RecordingRequest();
    expect(chain.onRequestHeaders(ok)).toBe(Action.Continue);
    chain.onLog(ok);
  });
});

describe('bodies', () => {
  it('with buffer_body, hands the module the whole body and forwards what it wrote', () => {
    const { chain, errors } = chainWith('body', { bufferBody: [true, true] });
    const req = new RecordingRequest({ method: 'POST', headers: ['content-length', '11'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, text('hello '), false)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, text('world'), true)).toBe(Action.Continue);
    expect(decode(chain.takeRequestBody(req))).toBe('HELLO WORLD');
    expect(req.requestHeaders.get('x-append-status')).toBe('2'); // BAD_ARGUMENT: content-length framed it
    const chunked = new RecordingRequest({ method: 'POST', headers: ['transfer-encoding', 'chunked'] });
    expect(chain.onRequestHeaders(chunked)).toBe(Action.Buffer);
    expect(chain.onRequestBody(chunked, text('abc'), true)).toBe(Action.Continue);
    expect(decode(chain.takeRequestBody(chunked))).toBe('ABC|seen');
    chain.onLog(chunked);
    req.respond(200, new HeaderList(['content-length', '8']));
    expect(chain.onResponseHeaders(req)).toBe(Action.Buffer);
    expect(chain.onResponseBody(req, text('upstr'), false)).toBe(Action.Buffer);
    expect(chain.onResponseBody(req, text('eam!'), false)).toBe(Action.Buffer);
    expect(chain.onResponseBody(req, new Uint8Array(0), true)).toBe(Action.Continue);
    expect(decode(chain.takeResponseBody(req))).toBe('UPSTREAM!');
    chain.onLog(req);
    expect(errors).toEqual([]);
  });

  it('over max_body_bytes answers 413', () => {
    const { chain } = chainWith('body', { bufferBody: [true, false], maxBodyBytes: 4 });
    const req = new RecordingRequest({ method: 'POST', headers: ['content-length', '5'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Buffer);
    expect(chain.onRequestBody(req, text('12345'), true)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(413);
    chain.onLog(req);
  });

  it('without buffer_body, a module that pauses mid-body fails the request, naming buffer_body', () => {
    const { chain, errors } = chainWith('body');
    const req = new RecordingRequest({ method: 'POST', headers: ['content-length', '11'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.Continue);
    expect(chain.onRequestBody(req, text('hello '), false)).toBe(Action.LocalReply);
    expect(req.localReply?.status).toBe(500);
    expect(errors[0]?.detail).toMatch(/without buffer_body/);
    chain.onLog(req);
  });
});

describe('properties', () => {
  it('reads request attributes, the plugin\'s root id and the time', () => {
    const { chain } = chainWith('props', { now: () => 1_700_000_000_123 });
    const req = new RecordingRequest({ method: 'DELETE', path: '/x/y?z', authority: 'a.example', clientAddress: '10.1.2.3', clientIdentity: 'spiffe://c', headers: ['user-agent', 'test/1'] });
    chain.onRequestHeaders(req);
    const h = req.requestHeaders;
    expect([h.get('x-prop-path'), h.get('x-prop-url-path'), h.get('x-prop-method'), h.get('x-prop-host')]).toEqual(['/x/y?z', '/x/y', 'DELETE', 'a.example']);
    expect([h.get('x-prop-source'), h.get('x-prop-root-id'), h.get('x-prop-name'), h.get('x-prop-ua')]).toEqual(['10.1.2.3', 'props', 'pw', 'test/1']);
    expect(h.get('x-prop-destination')).toBe('none');
    expect(h.get('x-prop-mtls')).toBe('01');
    expect(h.get('x-now-ms')).toBe('1700000000123');
    chain.onLog(req);
  });
});

describe('failures', () => {
  it.each([
    ['a trap', 'x-trap', 'trap'],
    ['proc_exit', 'x-exit', 'trap'],
    ['an AssemblyScript throw (abort → proc_exit)', 'x-throw', 'trap'],
  ])('%s answers 500, replaces the VM, and the next request runs on a fresh one', (_what, header, kind) => {
    const { chain, errors, filter } = chainWith('trap');
    const first = new RecordingRequest();
    chain.onRequestHeaders(first);
    expect(first.requestHeaders.get('x-vm-requests')).toBe('1');
    chain.onLog(first);
    const bad = new RecordingRequest({ headers: [header, '1'] });
    expect(chain.onRequestHeaders(bad)).toBe(Action.LocalReply);
    expect(bad.localReply?.status).toBe(500);
    expect(errors.map((e) => e.kind)).toEqual([kind]);
    chain.onLog(bad);
    expect(filter.generation).toBe(1);
    const next = new RecordingRequest();
    expect(chain.onRequestHeaders(next)).toBe(Action.Continue);
    expect(next.requestHeaders.get('x-vm-requests')).toBe('1');
    chain.onLog(next);
  });

  it('with fail_open, skips the filter for that request', () => {
    const { chain, errors } = chainWith('trap', { failOpen: true });
    const bad = new RecordingRequest({ headers: ['x-trap', '1'] });
    expect(chain.onRequestHeaders(bad)).toBe(Action.Continue);
    expect(bad.localReply).toBeNull();
    expect(errors).toHaveLength(1);
    chain.onLog(bad);
  });

  it('past max_memory the call fails and the VM is replaced', () => {
    const { chain, errors, filter } = chainWith('trap', { maxMemory: 512 * 1024 });
    const req = new RecordingRequest({ headers: ['x-grow', '1'] });
    expect(chain.onRequestHeaders(req)).toBe(Action.LocalReply);
    expect(errors[0]?.kind).toBe('memory');
    chain.onLog(req);
    expect(filter.generation).toBe(1);
  });
});

describe('metrics and lifecycle', () => {
  it('counters, gauges and histograms land in the filter\'s metrics; every context is deleted', () => {
    const { chain, metrics } = chainWith('metrics');
    for (const size of [10, 30]) {
      const req = new RecordingRequest({ headers: ['x-size', String(size)] });
      chain.onRequestHeaders(req);
      chain.onLog(req);
    }
    expect(metrics.snapshot()).toEqual({
      proxy_requests_seen: 2,
      last_request_bytes: 30,
      request_bytes_count: 2,
      request_bytes_sum: 40,
      contexts_deleted: 2,
    });
    expect(metrics.kindOf('last_request_bytes')).toBe('gauge');
  });

  it('proxy_on_tick runs at the period the root context asked for, until the filter closes', async () => {
    const { filter, metrics } = chainWith('tick', { config: '5' });
    await waitFor(() => (metrics.get('ticks') ?? 0) >= 3, { message: 'three ticks' });
    filter.close();
    const after = metrics.get('ticks')!;
    const probe = chainWith('tick', { config: '5' });
    await waitFor(() => (probe.metrics.get('ticks') ?? 0) >= 3, { message: 'another filter ticking' });
    probe.filter.close();
    expect(metrics.get('ticks')).toBe(after);
  });
});

describe('shared data', () => {
  it('is shared by VMs over the same store, with compare-and-swap', () => {
    const store = SharedData.create({ keys: 8, keyBytes: 16, valueBytes: 16 });
    const a = chainWith('shared', { sharedData: store });
    const b = chainWith('shared', { sharedData: new SharedData(store.buffer, store.limits) });
    const counts: string[] = [];
    for (const { chain } of [a, b, a, b]) {
      const req = new RecordingRequest();
      chain.onRequestHeaders(req);
      counts.push(req.requestHeaders.get('x-shared-count')!);
      chain.onLog(req);
    }
    expect(counts).toEqual(['1', '2', '3', '4']);
  });
});

describe('shared queues', () => {
  it('deliver proxy_on_queue_ready to the VM that registered the queue last, which dequeues every item', async () => {
    const queues = SharedQueues.create({ queues: 2, items: 8, itemBytes: 16 });
    const a = chainWith('queue', { sharedQueues: queues });
    const b = chainWith('queue', { sharedQueues: new SharedQueues(queues.buffer, queues.limits) });
    const statuses: string[] = [];
    for (const [{ chain }, job] of [[a, 'one'], [b, 'two'], [a, 'three']] as const) {
      const req = new RecordingRequest({ headers: ['x-job', job] });
      chain.onRequestHeaders(req);
      statuses.push(`${req.requestHeaders.get('x-enqueue-status')}/${req.requestHeaders.get('x-queue-resolved')}`);
      chain.onLog(req);
    }
    expect(statuses).toEqual(['0/yes', '0/yes', '0/yes']);
    // Both run in this thread: the queue's owner is this thread, and each filter delivers to its VM.
    await waitFor(() => (a.metrics.get('queue_items') ?? 0) + (b.metrics.get('queue_items') ?? 0) === 3, { message: 'three items dequeued' });
    expect((a.metrics.get('queue_bytes') ?? 0) + (b.metrics.get('queue_bytes') ?? 0)).toBe(11);
    a.filter.close();
    b.filter.close();
  });

  it('refuse an item past the queue\'s limits', () => {
    const queues = SharedQueues.create({ queues: 1, items: 1, itemBytes: 4 });
    const { chain, filter } = chainWith('queue', { sharedQueues: queues });
    const statuses: string[] = [];
    for (const job of ['toolong', 'ok', 'full']) {
      const req = new RecordingRequest({ headers: ['x-job', job] });
      chain.onRequestHeaders(req);
      statuses.push(req.requestHeaders.get('x-enqueue-status')!);
      chain.onLog(req);
    }
    filter.close();
    expect(statuses[0]).toBe('2');
    expect(statuses[1]).toBe('0');
  });
});
