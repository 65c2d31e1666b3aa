/**
 * ProxyExchange retries against real upstream sockets: per_try_timeout, the replay buffer, and the
 * delay a Retry-After on 503 (or 429) sets, with the cap `backoff.retry_after_max` puts on it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  exchangeTestBed,
  Harness,
  answer,
  patterned,
  resetWhenComplete,
  scriptedUpstream,
  silent,
  type HarnessOptions,
  type ScriptedUpstream,
} from './exchange-fixtures.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

const bed = exchangeTestBed();
const { upstream, start } = bed;
afterEach(() => bed.cleanup());

describe('retry.per_try_timeout', () => {
  // Timers are fake so each timeout is exact: the attempt is still waiting 1 ms before per_try_timeout
  // and has timed out at it. The backoff is 500 ms (base 1 s x random 0.5).
  function fakeClock(): void {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
  }
  const perTry = (attempts: number) => ({ retry: { attempts, per_try_timeout: '1s', backoff: { base: '1s', max: '1s' } } });

  it('times out an attempt that gets no answer, retries on the other endpoint, and relays its answer', async () => {
    fakeClock();
    const a = await upstream(silent);
    const b = await upstream(answer(200, 'from b', { 'x-from': 'b' }));
    const h = start({ upstreams: [a.port, b.port], route: perTry(1) });
    const { x, res } = h.request('GET', '/item');
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request at a' });
    vi.advanceTimersByTime(999);
    expect(h.clusterStat('upstream_timeouts')).toBe(0);
    vi.advanceTimersByTime(1);
    expect(h.clusterStat('upstream_timeouts')).toBe(1);
    expect(h.clusterStat('retries')).toBe(1);
    vi.advanceTimersByTime(499); // the backoff
    expect(h.attemptsTo(b.port)).toBe(0);
    vi.advanceTimersByTime(1);
    expect(h.attemptsTo(b.port)).toBe(1);

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.statusCode).toBe(200);
    expect(res.header('x-from')).toBe('b');
    expect(res.text).toBe('from b');
    // a got the request first, never answered, and the proxy closed that connection.
    expect(a.completeRequests.map((r) => r.target)).toEqual(['/item']);
    await waitFor(() => a.connections[0]!.closed, { message: 'the timed-out connection to close' });
    expect(a.connections[0]!.closedHere).toBe(false);
    expect(b.completeRequests.map((r) => r.target)).toEqual(['/item']);
    expect([h.attemptsTo(a.port), h.attemptsTo(b.port)]).toEqual([1, 1]);
    expect(h.clusterStat('upstream_timeouts')).toBe(1);
    expect(h.log).toHaveLength(1);
    expect(h.log[0]).toMatchObject({ status: 200, attempts: 2, upstream: `127.0.0.1:${b.port}` });
    expect(x.finished).toBe(true);
    expect(h.held()).toEqual(h.idle());
  });

  it('answers 504 "per-try timeout" once every attempt timed out, counting each in upstream_timeouts', async () => {
    fakeClock();
    const a = await upstream(silent);
    const b = await upstream(silent);
    const h = start({ upstreams: [a.port, b.port], route: perTry(1) });
    const { res } = h.request('GET', '/slow');
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request at a' });
    vi.advanceTimersByTime(1000 + 500); // a's timeout, then the backoff
    expect(h.attemptsTo(b.port)).toBe(1);
    await waitFor(() => b.completeRequests.length === 1, { message: 'the retry at b' });
    vi.advanceTimersByTime(999);
    expect(res.status).toBeNull();
    vi.advanceTimersByTime(1);

    expect(res.violations).toEqual([]);
    expect(res.status).toBe('504 Gateway Timeout');
    expect(res.header('server')).toBe('pillion');
    expect(res.text).toBe('upstream timeout: per-try timeout\n');
    expect(res.endClose).toBe(false);
    await waitFor(() => a.connections[0]!.closed && b.connections[0]!.closed, { message: 'both timed-out connections to close' });
    expect(h.clusterStat('upstream_timeouts')).toBe(2);
    expect(h.clusterStat('retries')).toBe(1);
    expect(h.requestsCounted()).toEqual([0, 0, 0, 0, 0, 1]);
    expect(h.log[0]).toMatchObject({ status: 504, attempts: 2 });
    expect(h.held()).toEqual(h.idle());
  });

  it('without retries left (attempts: 0) the first timeout is the answer', async () => {
    fakeClock();
    const a = await upstream(silent);
    const b = await upstream(answer(200, 'never asked'));
    const h = start({ upstreams: [a.port, b.port], route: perTry(0) });
    const { res } = h.request('GET', '/');
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request at a' });
    vi.advanceTimersByTime(1000);

    expect(res.text).toBe('upstream timeout: per-try timeout\n');
    expect(h.clusterStat('upstream_timeouts')).toBe(1);
    expect(h.clusterStat('retries')).toBe(0);
    expect(h.attemptsTo(b.port)).toBe(0);
    expect(h.held()).toEqual(h.idle());
  });
});

describe('retry.replay_buffer', () => {
  const retryOnReset = (replay: number) => ({ retry: { attempts: 1, on: ['reset'], replay_buffer: replay, backoff: { base: '1ms', max: '1ms' } } });

  it('an idempotent request whose body fits is retried, and the next upstream gets the exact same bytes', async () => {
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(201, 'stored'));
    const h = start({ upstreams: [a.port, b.port], route: retryOnReset(64) });
    const body = patterned(60);
    const { res } = h.request('PUT', '/doc', { 'content-length': '60' });
    res.send(body.subarray(0, 25), false, 'arraybuffer'); // uWS memory: neutered after the call
    res.send(body.subarray(25), true, 'buffer');

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect(res.statusCode).toBe(201);
    expect(res.text).toBe('stored');
    expect(a.completeRequests).toHaveLength(1);
    expect(a.completeRequests[0]!.body.equals(body)).toBe(true);
    expect(b.completeRequests).toHaveLength(1);
    expect(b.completeRequests[0]!.header('content-length')).toBe('60');
    expect(b.completeRequests[0]!.body.equals(body)).toBe(true);
    expect(b.bytesRead - b.completeRequests[0]!.body.length).toBe(b.connections[0]!.raw.indexOf('\r\n\r\n') + 4); // nothing but one head and one body
    expect(h.clusterStat('upstream_resets')).toBe(1);
    expect(h.clusterStat('retries')).toBe(1);
    expect(h.clusterStat('upstream_bytes_out')).toBe(120); // the body went up twice
    expect(h.held()).toEqual(h.idle());
  });

  it('an idempotent request whose body is larger than replay_buffer is not retried once it reached an upstream: 502', async () => {
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(201, 'stored'));
    const h = start({ upstreams: [a.port, b.port], route: retryOnReset(64) });
    const body = patterned(65);
    const { res } = h.request('PUT', '/doc', { 'content-length': '65' });
    res.send(body.subarray(0, 40), false);
    res.send(body.subarray(40), true);

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.status).toBe('502 Bad Gateway');
    expect(res.text).toBe('upstream reset or invalid response: upstream reset before response\n');
    expect(a.completeRequests[0]!.body.equals(body)).toBe(true);
    expect(b.connections).toHaveLength(0);
    expect(h.attemptsTo(b.port)).toBe(0);
    expect(h.clusterStat('upstream_resets')).toBe(1);
    expect(h.clusterStat('retries')).toBe(0);
    expect(h.held()).toEqual(h.idle());
  });

  it('a POST larger than replay_buffer that reached an upstream which reset is not retried: 502', async () => {
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(200, 'created'));
    const h = start({ upstreams: [a.port, b.port], route: retryOnReset(16) });
    const body = patterned(40, 3);
    const { res } = h.request('POST', '/orders', { 'content-length': '40' });
    res.send(body, true, 'buffer');

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.statusCode).toBe(502);
    expect(a.completeRequests[0]!.body.equals(body)).toBe(true);
    expect(b.connections).toHaveLength(0);
    expect(h.clusterStat('retries')).toBe(0);
    expect(h.held()).toEqual(h.idle());
  });

  it('a POST within replay_buffer that reached an upstream is not retried either (not idempotent): 502', async () => {
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(200, 'created'));
    const h = start({ upstreams: [a.port, b.port], route: retryOnReset(64) });
    const { res } = h.request('POST', '/orders', { 'content-length': '5' });
    res.send('hello', true);

    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.statusCode).toBe(502);
    expect(b.connections).toHaveLength(0);
    expect(h.clusterStat('retries')).toBe(0);
  });

  describe('while a retry waits out its backoff', () => {
    // The backoff is held on fake timers (base 1s, random 0.5: 500 ms) so the client can send meanwhile.
    function holdBackoff(): void {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      vi.spyOn(Math, 'random').mockReturnValue(0.5);
    }
    const route = (replay: number) => ({ retry: { attempts: 1, on: ['reset'], replay_buffer: replay, backoff: { base: '1s', max: '1s' } } });
    /** a resets once it has read `n` body bytes. */
    const resetAfter = (n: number) => (req: { body: Buffer; conn: { reset(): void } }) => {
      if (req.body.length >= n) req.conn.reset();
    };

    it('a body that outgrows the buffer gets 502 "request body outgrew the retry buffer" and nothing is sent again', async () => {
      holdBackoff();
      const a = await upstream(resetAfter(40));
      const b = await upstream(answer(200, 'never'));
      const h = start({ upstreams: [a.port, b.port], route: route(64) });
      const body = patterned(100);
      const { res } = h.request('PUT', '/big', { 'content-length': '100' });
      res.send(body.subarray(0, 40), false);
      await waitFor(() => h.clusterStat('retries') === 1, { message: 'the retry to be scheduled' });
      expect(h.attemptsTo(b.port)).toBe(0);
      res.send(body.subarray(40), true); // 100 bytes > 64: no longer replayable
      vi.advanceTimersByTime(500);
      expect(h.attemptsTo(b.port)).toBe(1);

      await waitFor(() => res.ended, { message: 'the response' });
      expect(res.violations).toEqual([]);
      expect(res.status).toBe('502 Bad Gateway');
      expect(res.text).toBe('upstream reset or invalid response: request body outgrew the retry buffer\n');
      expect(a.requests[0]!.body.equals(body.subarray(0, 40))).toBe(true);
      // b's connection was opened for the retry and handed back unused.
      await waitFor(() => h.endpoint(b.port).pool.idleCount === 1, { message: 'the unused connection back in the pool' });
      expect(b.bytesRead).toBe(0);
      expect(h.held()).toEqual(h.idle());
    });

    it('a chunk that still fits is sent with the replay, once: the retry carries the whole body', async () => {
      holdBackoff();
      const a = await upstream(resetAfter(30));
      const b = await upstream(answer(200, 'ok'));
      const h = start({ upstreams: [a.port, b.port], route: route(64) });
      const body = patterned(50, 9);
      const { res } = h.request('PUT', '/fits', { 'content-length': '50' });
      res.send(body.subarray(0, 30), false, 'arraybuffer');
      await waitFor(() => h.clusterStat('retries') === 1, { message: 'the retry to be scheduled' });
      res.send(body.subarray(30), true, 'arraybuffer');
      vi.advanceTimersByTime(500);

      await waitFor(() => res.ended, { message: 'the response' });
      expect(res.statusCode).toBe(200);
      expect(b.completeRequests).toHaveLength(1);
      expect(b.completeRequests[0]!.body.equals(body)).toBe(true);
      expect(b.connections[0]!.raw.length).toBe(b.connections[0]!.raw.indexOf('\r\n\r\n') + 4 + 50);
      expect(h.held()).toEqual(h.idle());
    });
  });
});

describe('Retry-After on a retried 503', () => {
  // Backoff base and max 10 s: without a Retry-After the retry would wait random x 10 s. Timers are
  // fake so each delay is exact: the retry has not started 1 ms before it and has at it.
  const backoff = { base: '10s', max: '10s', retry_after_max: '2s' };

  /** The retry starts after exactly `ms` (fake) milliseconds: not at ms - 1, at ms. */
  async function expectDelay(status: number, retryAfter: string | undefined, ms: number, on?: string[]): Promise<void> {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(Date.UTC(2026, 0, 15, 12, 0, 0));
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const a = await upstream(answer(status, 'busy', retryAfter === undefined ? {} : { 'retry-after': retryAfter }));
    const b = await upstream(answer(200, 'from b'));
    const h = start({ upstreams: [a.port, b.port], route: { retry: { attempts: 1, on: on ?? [String(status)], backoff } } });
    const { res } = h.request('GET', '/r');
    await waitFor(() => h.clusterStat('retries') === 1, { message: 'the retry to be scheduled' });
    expect(res.status).toBeNull();
    expect(a.completeRequests).toHaveLength(1);
    if (ms > 0) {
      vi.advanceTimersByTime(ms - 1);
      expect(h.attemptsTo(b.port)).toBe(0);
      vi.advanceTimersByTime(1);
    } else {
      vi.advanceTimersByTime(0);
    }
    expect(h.attemptsTo(b.port)).toBe(1);
    await waitFor(() => res.ended, { message: 'the retried response' });
    expect(res.violations).toEqual([]);
    expect(res.statusCode).toBe(200);
    expect(res.text).toBe('from b');
    expect(b.completeRequests).toHaveLength(1);
    expect(h.log[0]).toMatchObject({ status: 200, attempts: 2 });
    expect(h.held()).toEqual(h.idle());
  }

  it('retry-after: 0 retries at once instead of backing off', async () => {
    await expectDelay(503, '0', 0);
  });

  it('retry-after: 1 waits one second instead of the 5 s backoff', async () => {
    await expectDelay(503, '1', 1000);
  });

  it('without retry-after the backoff applies (random 0.5 x 10 s)', async () => {
    await expectDelay(503, undefined, 5000);
  });

  it('a retry-after that is not a delay or a date falls back to the backoff', async () => {
    await expectDelay(503, 'soon', 5000);
  });

  it('an HTTP-date retry-after waits until that date', async () => {
    await expectDelay(503, new Date(Date.UTC(2026, 0, 15, 12, 0, 1)).toUTCString(), 1000);
  });

  it('a retry-after beyond backoff.retry_after_max is cut to retry_after_max (it still retries)', async () => {
    await expectDelay(503, '3600', 2000);
  });

  it('429 with retry-after is honoured like 503', async () => {
    await expectDelay(429, '1', 1000);
  });

  it('a retry-after on another retried status (502) is ignored: the backoff applies', async () => {
    await expectDelay(502, '0', 5000);
  });
});
