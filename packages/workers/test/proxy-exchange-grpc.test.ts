/**
 * ProxyExchange with gRPC requests (HTTP/2, content-type application/grpc): the proxy's own answers
 * are trailers-only gRPC statuses, `grpc-timeout` bounds the route's timeout, and the status the
 * client got is counted and logged. HTTP/1.1 requests with the same content-type are not gRPC.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { H2_BODY, H2_NO_BODY } from '../src/worker/intake.js';
import { answer, exchangeTestBed, silent } from './exchange-fixtures.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

const bed = exchangeTestBed();
const { upstream, start } = bed;
afterEach(() => bed.cleanup());

const GRPC = { 'content-type': 'application/grpc', te: 'trailers' };
/** A port nothing listens on: every connect is refused. */
const CLOSED = 1;

describe('gRPC requests', () => {
  it('answers a connect failure with a trailers-only UNAVAILABLE, counted and logged by status name', async () => {
    const h = start({ upstreams: [CLOSED] });
    const { res } = h.request('POST', '/pkg.Echo/Unary', GRPC, H2_BODY);
    res.send('', true, 'buffer');
    await waitFor(() => res.ended, { message: 'the answer' });
    expect(res.violations).toEqual([]);
    expect(res.statusCode).toBe(200);
    expect(res.header('content-type')).toBe('application/grpc');
    expect(res.header('grpc-status')).toBe('14');
    expect(res.header('grpc-message')).toMatch(/^no healthy upstream: upstream connect failure/);
    // Trailers-only: nothing but the head, ending the stream.
    expect(res.body.length).toBe(0);
    expect(h.listenerStat('grpc_status_14')).toBe(1);
    expect(h.listenerStat('grpc_status_0')).toBe(0);
    expect(h.log[0]).toMatchObject({ status: 200, grpc_status: 'UNAVAILABLE' });
  });

  it('answers no route with UNIMPLEMENTED', async () => {
    const a = await upstream(silent);
    const h = start({ upstreams: [a.port], route: { match: { prefix: '/only' } } });
    const { res } = h.request('POST', '/pkg.Other/Call', GRPC, H2_NO_BODY);
    await waitFor(() => res.ended, { message: 'the answer' });
    expect(res.statusCode).toBe(200);
    expect(res.header('grpc-status')).toBe('12');
    expect(res.header('grpc-message')).toBe('no route');
    expect(h.listenerStat('grpc_status_12')).toBe(1);
  });

  it('lets grpc-timeout cut the route timeout short, answering DEADLINE_EXCEEDED', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = await upstream(silent);
    const h = start({ upstreams: [a.port], route: { timeout: '30s' } });
    const { res } = h.request('POST', '/pkg.Echo/Slow', { ...GRPC, 'grpc-timeout': '250m' }, H2_NO_BODY);
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request upstream' });
    vi.advanceTimersByTime(249);
    expect(res.ended).toBe(false);
    vi.advanceTimersByTime(1);
    expect(res.ended).toBe(true);
    expect(res.statusCode).toBe(200);
    expect(res.header('grpc-status')).toBe('4');
    expect(h.listenerStat('grpc_status_4')).toBe(1);
  });

  it('never lets grpc-timeout extend the route timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = await upstream(silent);
    const h = start({ upstreams: [a.port], route: { timeout: '100ms' } });
    const { res } = h.request('POST', '/pkg.Echo/Slow', { ...GRPC, 'grpc-timeout': '10S' }, H2_NO_BODY);
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request upstream' });
    vi.advanceTimersByTime(100);
    expect(res.header('grpc-status')).toBe('4');
  });

  it('ignores a malformed grpc-timeout (the route timeout applies)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const a = await upstream(silent);
    const h = start({ upstreams: [a.port], route: { timeout: '1s' } });
    const { res } = h.request('POST', '/pkg.Echo/Slow', { ...GRPC, 'grpc-timeout': '5x' }, H2_NO_BODY);
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request upstream' });
    vi.advanceTimersByTime(999);
    expect(res.ended).toBe(false);
    vi.advanceTimersByTime(1);
    expect(res.header('grpc-status')).toBe('4');
  });

  it('treats the same content-type over HTTP/1.1 as plain HTTP', async () => {
    const h = start({ upstreams: [CLOSED] });
    const { res } = h.request('POST', '/pkg.Echo/Unary', { ...GRPC, 'content-length': '0' }, 1);
    await waitFor(() => res.ended, { message: 'the answer' });
    expect(res.statusCode).toBe(503);
    expect(res.header('grpc-status')).toBeUndefined();
    expect(h.listenerStat('grpc_status_14')).toBe(0);
    expect(h.log[0]!.grpc_status).toBeUndefined();
  });

  it('relays an upstream answer and counts a response without grpc-status as MISSING', async () => {
    const a = await upstream(answer(200, 'not grpc', { 'content-type': 'text/plain' }));
    const h = start({ upstreams: [a.port] });
    const { res } = h.request('POST', '/pkg.Echo/Unary', GRPC, H2_NO_BODY);
    await waitFor(() => res.ended, { message: 'the answer' });
    expect(res.statusCode).toBe(200);
    expect(res.text).toBe('not grpc');
    expect(h.listenerStat('grpc_status_missing')).toBe(1);
    expect(h.log[0]).toMatchObject({ grpc_status: 'MISSING' });
  });
});
