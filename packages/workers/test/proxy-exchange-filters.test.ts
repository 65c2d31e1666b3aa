/**
 * ProxyExchange with a WASM filter that buffers bodies or fails in a body hook (fixtures/exchange-bodies.ts):
 * what goes upstream and when, the 413 / 500 over a filter's limit, and a body hook failing after the
 * response head went downstream.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Action } from '../src/wasm/action.js';
import { FilterChain } from '../src/wasm/filter-chain.js';
import { WasmFilter } from '../src/wasm/wasm-filter.js';
import { answer, exchangeTestBed, patterned, type Harness, type Script, type ScriptedUpstream } from './exchange-fixtures.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { fixtureModule } from './wasm-fixtures.js';

let bodies: WebAssembly.Module;
const bed = exchangeTestBed();
const { upstream } = bed;
afterEach(() => bed.cleanup());

beforeAll(async () => {
  bodies = await fixtureModule('exchange-bodies');
}, 120_000);

/** A harness whose listener runs the exchange-bodies filter; `errors` collects the chain's failures. */
function withFilter(ports: number[]) {
  const h = bed.start({ upstreams: ports });
  const errors: { filter: string; kind: string }[] = [];
  const chain = new FilterChain([new WasmFilter(bodies, { name: 'bodies' })], {
    onFilterError: (filter, error) => errors.push({ filter, kind: error.kind }),
  });
  h.listener.filterChain = chain;
  return { h, chain, errors };
}

/** Writes a response head with `content-length: total` and `first` on completion of the request; the test writes the rest. */
function headThen(total: number, first: string): Script {
  return (req, event) => {
    if (event !== 'complete') return;
    req.conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\nx-up: 1\r\n\r\n${first}`);
  };
}

describe('a filter buffering the request body', () => {
  it('holds everything back until the last chunk, then sends the whole body upstream once', async () => {
    const u = await upstream(answer(200, 'got it'));
    const { h } = withFilter([u.port]);
    const body = patterned(30);
    const { res } = h.request('PUT', '/upload', { 'content-length': '30', 'x-buffer': '100' });
    res.send(body.subarray(0, 10), false, 'arraybuffer');
    res.send(body.subarray(10, 20), false, 'buffer');
    // No attempt was started: the pick and the pool request happen synchronously when it is.
    expect(h.attemptsTo(u.port)).toBe(0);
    expect(res.pauseCalls).toBe(0); // the client keeps sending while the filter reads
    res.send(body.subarray(20), true, 'arraybuffer');
    expect(h.attemptsTo(u.port)).toBe(1);

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.text).toBe('got it');
    expect(u.completeRequests).toHaveLength(1);
    const seen = u.completeRequests[0]!;
    expect(seen.header('content-length')).toBe('30');
    expect(seen.headerAll('x-request-body-call')).toEqual(['30 end']); // the filter saw it once, whole
    expect(seen.body.equals(body)).toBe(true);
    expect(u.bytesRead).toBe(u.connections[0]!.raw.indexOf('\r\n\r\n') + 4 + 30);
    expect(h.held()).toEqual(h.idle());
  });

  it('sends a chunked body whole, re-framed as one chunk and the last chunk', async () => {
    const u = await upstream(answer(200, 'ok'));
    const { h } = withFilter([u.port]);
    const { res } = h.request('POST', '/upload', { 'transfer-encoding': 'chunked', 'x-buffer': '64' });
    res.send('hello ', false);
    res.send('chunked ', false, 'buffer');
    expect(h.attemptsTo(u.port)).toBe(0);
    res.send('world', false);
    res.send('', true);
    await waitFor(() => res.ended, { message: 'the response' });
    const raw = u.connections[0]!.raw.toString('latin1');
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('13\r\nhello chunked world\r\n0\r\n\r\n');
    expect(u.completeRequests[0]!.headerAll('x-request-body-call')).toEqual(['19 end']);
  });

  it('answers 413 as soon as the body passes the limit, before the client sent the rest, and never goes upstream', async () => {
    const u = await upstream(answer(200, 'must not be asked'));
    const { h, errors } = withFilter([u.port]);
    const { x, res } = h.request('PUT', '/upload', { 'content-length': '40', 'x-buffer': '16' });
    res.send(patterned(10), false, 'buffer');
    expect(res.status).toBeNull();
    res.send(patterned(10, 1), false, 'arraybuffer'); // 20 > 16
    expect(res.violations).toEqual([]);
    expect(res.status).toBe('413 Content Too Large');
    expect(res.header('server')).toBe('pillion');
    expect(res.text).toBe('request body over the filter buffer limit\n');
    expect(res.endClose).toBe(true); // the rest of the body is never read
    expect(x.finished).toBe(true);
    res.send(patterned(20), true); // what the client had in flight is ignored
    expect(res.violations).toEqual([]);
    expect(h.attemptsTo(u.port)).toBe(0);
    expect(errors).toEqual([]);
    expect(h.requestsCounted()).toEqual([0, 0, 0, 0, 1, 0]);
    expect(h.listenerStat('local_replies')).toBe(1);
    expect(h.held()).toEqual(h.idle());
    expect(u.connections).toHaveLength(0);
  });
});

describe('a filter buffering the response body', () => {
  it('sends nothing downstream until the upstream finished, then the head and the whole body together', async () => {
    let first: ScriptedUpstream['connections'][number] | null = null;
    const u = await upstream((req, event) => {
      if (event !== 'complete') return;
      first = req.conn;
      req.conn.write('HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx-up: 1\r\n\r\nhello ');
    });
    const { h, chain } = withFilter([u.port]);
    const bodyCalls = vi.spyOn(chain, 'onResponseBody');
    const { res } = h.request('GET', '/page', { 'x-buffer-response': '64' });
    await waitFor(() => bodyCalls.mock.calls.length === 1, { message: 'the first body chunk to reach the filter' });
    expect(bodyCalls.mock.results[0]!.value).toBe(Action.Buffer);
    expect(res.calls).toEqual([]); // not even the head
    first!.write('world!');

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.status).toBe('200 OK');
    expect(res.header('x-up')).toBe('1');
    expect(res.header('x-response-body-call')).toBe('12 end');
    expect(res.text).toBe('hello world!');
    expect(res.calls.filter((c) => c === 'tryEnd')).toHaveLength(1);
    await waitFor(() => h.endpoint(u.port).pool.idleCount === 1, { message: 'the connection back in the pool' });
    expect(h.held()).toEqual(h.idle());
  });

  it('answers 500 as soon as the body passes the limit, without waiting for the rest, and drops the upstream connection', async () => {
    const u = await upstream(headThen(20, '0123456789'));
    const { h } = withFilter([u.port]);
    const { res } = h.request('GET', '/page', { 'x-buffer-response': '8' });

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.status).toBe('500 Internal Server Error');
    expect(res.text).toBe('response body over the filter buffer limit\n');
    expect(res.header('x-up')).toBeUndefined();
    await waitFor(() => u.connections[0]!.closed, { message: 'the upstream connection to close' });
    expect(u.connections[0]!.closedHere).toBe(false);
    expect(h.endpoint(u.port).pool.size).toBe(0);
    expect(h.requestsCounted()).toEqual([0, 0, 0, 0, 0, 1]);
    expect(h.held()).toEqual(h.idle());
  });

  it('a reply from the body hook of a buffered response replaces the response', async () => {
    const u = await upstream(answer(200, 'secret NO'));
    const { h } = withFilter([u.port]);
    const { res } = h.request('GET', '/page', { 'x-buffer-response': '64', 'x-reply-on': 'NO' });
    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.status).toBe('502 Bad Gateway');
    expect(res.text).toBe('refused by filter\n');
    expect(res.closeCalls).toBe(0);
  });
});

describe('a body hook failing after the response head went downstream', () => {
  async function failMidBody(headers: Record<string, string>, tail: string, total: number) {
    const u = await upstream(headThen(total, 'hello '));
    const { h, errors } = withFilter([u.port]);
    const { x, res } = h.request('GET', '/stream', headers);
    await waitFor(() => res.body.length === 6, { message: 'the first chunk downstream' });
    expect(res.status).toBe('200 OK');
    u.connections[0]!.write(tail);
    await waitFor(() => x.finished, { message: 'the exchange to end' });
    return { u, h, res, errors };
  }

  async function expectAborted(u: ScriptedUpstream, h: Harness, res: ReturnType<Harness['request']>['res']) {
    expect(res.violations).toEqual([]);
    expect(res.closeCalls).toBe(1);
    expect(res.endedBy).toBeNull(); // never a clean end
    expect(res.text).toBe('hello '); // nothing after the failing chunk
    // counted once, as aborted
    expect(h.requestsCounted().reduce((a, b) => a + b, 0)).toBe(1);
    expect(h.log).toHaveLength(1);
    expect(h.log[0]).toMatchObject({ status: 200, aborted: true });
    expect(h.listenerStat('downstream_aborted')).toBe(1);
    // the upstream connection is dropped, not pooled
    await waitFor(() => u.connections[0]!.closed, { message: 'the upstream connection to close' });
    expect(u.connections[0]!.closedHere).toBe(false);
    const pool = h.endpoint(u.port).pool;
    expect([pool.idleCount, pool.size]).toEqual([0, 0]);
    expect(h.state.endpoint(h.endpoint(u.port).slot, 'warm_connections')).toBe(0);
    expect(h.held()).toEqual(h.idle());
  }

  it('a trap on a later chunk closes the downstream connection', async () => {
    const { u, h, res, errors } = await failMidBody({ 'x-trap-on': 'TRAP' }, 'TRAP!', 15);
    expect(errors).toEqual([{ filter: 'bodies', kind: 'trap' }]);
    await expectAborted(u, h, res);
  });

  it('a trap on the chunk that completes the response closes it too, and the connection is not reused', async () => {
    const { u, h, res, errors } = await failMidBody({ 'x-trap-on': 'TRAP' }, 'TRAP!', 11);
    expect(errors).toEqual([{ filter: 'bodies', kind: 'trap' }]);
    await expectAborted(u, h, res);
  });

  it('a local reply from a later chunk closes the downstream connection', async () => {
    const { u, h, res, errors } = await failMidBody({ 'x-reply-on': 'NO' }, 'NO!', 15);
    expect(errors).toEqual([]);
    await expectAborted(u, h, res);
  });

  it('the filter is re-created: the next request on the listener is served', async () => {
    const { u, h } = await failMidBody({ 'x-trap-on': 'TRAP' }, 'TRAP!', 15);
    u.script = answer(200, 'fine');
    const { res } = h.request('GET', '/again');
    await waitFor(() => res.ended, { message: 'the next response' });
    expect(res.text).toBe('fine');
    expect(h.listener.filterChain!.filters[0]!.generation).toBe(1);
  });
});
