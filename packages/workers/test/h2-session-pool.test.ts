/**
 * The HTTP/2 upstream pool against real node:http2 servers on 127.0.0.1: streams multiplexed over one
 * session, another session when the endpoint's stream limit is reached (up to sessions_per_endpoint,
 * then a queue), the breakers, GOAWAY and REFUSED_STREAM as 'refused', keep-alive pings, warm-up,
 * idle sessions, connect failures and shutdown.
 *
 * The pool's time is a FakeClock: pings, idle sweeps and connect timeouts happen when the test moves
 * it. waitFor only waits for socket events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/wait-for.js';
import {
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_REFUSED_STREAM,
  closePools,
  closeServers,
  closedPort,
  get,
  h2Pool,
  h2Upstream,
  hold,
  mute,
  request,
  Recorder,
} from './h2-fixtures.js';

afterEach(async () => {
  closePools();
  await closeServers();
});

const allSettled = (rs: Recorder[]) => rs.every((r) => r.settled);

describe('multiplexing', () => {
  it('carries many concurrent requests as streams of one session', async () => {
    const u = await h2Upstream();
    const { pool, state, stat } = h2Pool(u.port);
    const rs = Array.from({ length: 20 }, (_, i) => request(pool, get(`/r${i}`)));
    await waitFor(() => allSettled(rs), { message: 'every request to settle' });
    expect(rs.map((r) => r.text)).toEqual(rs.map((_, i) => `ok /r${i}`));
    expect(rs.every((r) => r.status === 200 && r.complete)).toBe(true);
    expect(u.sessions.length).toBe(1);
    expect(u.streams.length).toBe(20);
    expect(stat('upstream_cx_total')).toBe(1);
    expect(stat('upstream_h2_sessions')).toBe(1);
    expect(stat('upstream_h2_streams')).toBe(20);
    expect(state.endpoint(0, 'cx_active')).toBe(1);
    // Every place was given back: the session is idle, nobody waits.
    await waitFor(() => pool.idleCount === 1, { message: 'the session to be idle' });
    expect(pool.pending).toBe(0);
    expect(state.endpoint(0, 'rq_pending')).toBe(0);
    expect(state.cluster(0, 'rq_pending')).toBe(0);
  });

  it('opens another session when the peer\'s max_concurrent_streams is reached, up to sessions_per_endpoint, then queues', async () => {
    const u = await h2Upstream({ handler: hold, settings: { maxConcurrentStreams: 2 } });
    const { pool } = h2Pool(u.port, {}, { sessionsPerEndpoint: 2, maxConcurrentStreams: 100 });
    const rs = Array.from({ length: 5 }, (_, i) => request(pool, get(`/r${i}`)));
    await waitFor(() => u.held.length === 4, { message: 'four streams at the upstream' });
    expect(u.sessions.length).toBe(2);
    expect(pool.sessionViews().map((v) => [v.state, v.streams, v.limit])).toEqual([
      ['open', 2, 2],
      ['open', 2, 2],
    ]);
    // The fifth waits in the queue: no third session, nothing over the peer's limit.
    expect(pool.pending).toBe(1);
    expect(rs[4]!.events).toEqual([]);
    const perSession = (s: unknown) => u.streams.filter((x) => x.session === s).length;
    expect(u.sessions.map(perSession)).toEqual([2, 2]);

    u.answerHeld();
    await waitFor(() => u.held.length === 1, { message: 'the queued request to reach the upstream' });
    expect(pool.pending).toBe(0);
    u.answerHeld();
    await waitFor(() => allSettled(rs), { message: 'every request to complete' });
    expect(rs.map((r) => r.text)).toEqual(['ok /r0', 'ok /r1', 'ok /r2', 'ok /r3', 'ok /r4']);
    expect(u.sessions.length).toBe(2);
  });

  it('caps the stream limit at the cluster\'s max_concurrent_streams when the peer allows more', async () => {
    const u = await h2Upstream({ handler: hold, settings: { maxConcurrentStreams: 50 } });
    const { pool } = h2Pool(u.port, {}, { sessionsPerEndpoint: 1, maxConcurrentStreams: 3 });
    const rs = Array.from({ length: 5 }, (_, i) => request(pool, get(`/r${i}`)));
    await waitFor(() => u.held.length === 3, { message: 'three streams at the upstream' });
    expect(pool.sessionViews()).toEqual([{ state: 'open', established: true, streams: 3, limit: 3, pinging: false }]);
    expect(pool.pending).toBe(2);
    u.answerHeld();
    await waitFor(() => u.held.length === 2);
    u.answerHeld();
    await waitFor(() => allSettled(rs));
    expect(u.sessions.length).toBe(1);
  });
});

describe('breakers', () => {
  it('refuses with max_pending_requests once the queue is full, and counts it', async () => {
    const u = await h2Upstream({ handler: hold, settings: { maxConcurrentStreams: 1 } });
    const { pool, state, stat } = h2Pool(u.port, { clusterMaxPending: 2 });
    const first = request(pool, get('/1'));
    await waitFor(() => u.held.length === 1);
    expect(first.stream).not.toBeNull();
    request(pool, get('/2'));
    request(pool, get('/3'));
    expect(pool.pending).toBe(2);
    expect(pool.acquire(new Recorder(get('/4')), false)).toBe('max_pending_requests');
    expect(stat('cb_reject_max_pending_requests')).toBe(1);
    expect(state.cluster(0, 'rq_pending')).toBe(2);
    expect(state.endpoint(0, 'rq_pending')).toBe(2);
  });

  it('counts sessions against max_connections and refuses when none may open', async () => {
    const u = await h2Upstream();
    const { pool, state, stat } = h2Pool(u.port, { clusterMaxConnections: 1 });
    // Another worker holds the only connection the breaker allows.
    state.addCluster(0, 'cx_active', 1);
    expect(pool.acquire(new Recorder(get('/')), false)).toBe('max_connections');
    expect(stat('cb_reject_max_connections')).toBe(1);
    expect(state.cluster(0, 'rq_pending')).toBe(0);
    expect(pool.size).toBe(0);
    // Once it is free, the session counts in cx_active.
    state.addCluster(0, 'cx_active', -1);
    const r = request(pool, get('/'));
    expect(state.cluster(0, 'cx_active')).toBe(1);
    await waitFor(() => r.complete);
  });
});

describe('GOAWAY and refused streams', () => {
  it('finishes streams up to the last stream id, refuses those above, and sends new requests to a new session', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool, stat } = h2Pool(u.port);
    const rs = [request(pool, get('/a')), request(pool, get('/b')), request(pool, get('/c'))];
    await waitFor(() => u.held.length === 3, { message: 'three streams at the upstream' });
    const ids = u.streams.map((s) => s.stream.id);
    expect(ids).toEqual([1, 3, 5]);
    u.sessions[0]!.goaway(0, 3);
    await waitFor(() => rs[2]!.error !== null, { message: 'the stream above the last id to be refused' });
    expect(rs[2]!.error!.kind).toBe('refused');
    expect(stat('upstream_h2_goaways')).toBe(1);
    expect(stat('upstream_h2_refused_streams')).toBe(1);
    expect(pool.sessionViews()[0]!.state).toBe('draining');

    // A new request does not go to the session going away.
    const next = request(pool, get('/d'));
    await waitFor(() => u.held.length === 4, { message: 'the new request at the upstream' });
    expect(u.sessions.length).toBe(2);
    expect(u.streams[3]!.session).toBe(u.sessions[1]);

    u.answerHeld();
    await waitFor(() => rs[0]!.complete && rs[1]!.complete && next.complete, { message: 'the streams below the last id and the new one to complete' });
    expect([rs[0]!.text, rs[1]!.text, next.text]).toEqual(['ok /a', 'ok /b', 'ok /d']);
    // The old session closes once its streams are done.
    await waitFor(() => pool.size === 1, { message: 'the old session to close' });
    expect(stat('upstream_h2_sessions')).toBe(2);
  });

  it('reports REFUSED_STREAM as refused, and other resets as reset', async () => {
    const u = await h2Upstream({
      handler: (stream, headers) => {
        if (headers[':path'] === '/refuse') stream.close(NGHTTP2_REFUSED_STREAM);
        else stream.close(NGHTTP2_INTERNAL_ERROR);
      },
    });
    const { pool, stat } = h2Pool(u.port);
    const refused = request(pool, get('/refuse'));
    const reset = request(pool, get('/reset'));
    await waitFor(() => refused.settled && reset.settled);
    expect(refused.error).toEqual({ kind: 'refused', detail: expect.stringContaining('REFUSED_STREAM') });
    expect(reset.error).toEqual({ kind: 'reset', detail: expect.stringContaining('INTERNAL_ERROR') });
    expect(stat('upstream_h2_refused_streams')).toBe(1);
    // The session survives stream resets.
    const after = request(pool, get('/fine'));
    u.handler = (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('fine');
    };
    await waitFor(() => after.complete);
    expect(u.sessions.length).toBe(1);
  });

  it('ends the streams of a session lost mid-flight as reset and counts the session error', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool, stat } = h2Pool(u.port);
    const r = request(pool, get('/x'));
    await waitFor(() => u.held.length === 1);
    u.sockets[0]!.resetAndDestroy();
    await waitFor(() => r.settled);
    expect(r.error?.kind).toBe('reset');
    await waitFor(() => pool.size === 0);
    expect(stat('upstream_h2_session_errors')).toBe(1);
    expect(stat('upstream_connect_failures')).toBe(0);
  });
});

describe('keep-alive pings', () => {
  it('destroys a session whose PING goes unanswered within keepalive_timeout, and counts it', async () => {
    const m = await mute();
    const { pool, clock, stat } = h2Pool(m.port, {}, { keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 500 });
    const r = request(pool, get('/never'));
    await waitFor(() => pool.sessionViews()[0]?.state === 'open' && m.frameTypes.includes(1), { message: 'the request HEADERS at the mute server' });
    clock.advance(1000);
    await waitFor(() => m.frameTypes.includes(6), { message: 'a PING at the mute server' });
    expect(pool.sessionViews()[0]!.pinging).toBe(true);
    clock.advance(499);
    expect(pool.size).toBe(1);
    clock.advance(1);
    await waitFor(() => r.settled && pool.size === 0, { message: 'the session to be destroyed' });
    expect(r.error?.kind).toBe('reset');
    expect(stat('upstream_h2_ping_timeouts')).toBe(1);
  });

  it('keeps a session whose PINGs are answered', async () => {
    const u = await h2Upstream();
    const { pool, clock, stat } = h2Pool(u.port, {}, { keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 500 });
    const r = request(pool, get('/'));
    await waitFor(() => r.complete);
    for (let i = 1; i <= 3; i++) {
      // To the next PING (every 1000 ms), then past its deadline (500 ms later) once it is answered.
      clock.advance(i === 1 ? 1000 : 500);
      await waitFor(() => u.pings === i, { message: `PING ${i} at the server` });
      await waitFor(() => pool.sessionViews()[0]?.pinging === false, { message: `PING ${i} acknowledged` });
      clock.advance(500);
      expect(pool.sessionViews()[0]?.state).toBe('open');
    }
    expect(pool.size).toBe(1);
    expect(stat('upstream_h2_ping_timeouts')).toBe(0);
  });
});

describe('warm-up and idle sessions', () => {
  const warmup = { connections: 4, concurrency: 2, backoffBaseMs: 10, backoffMaxMs: 100, check: null };

  it('opens min(sessions_per_endpoint, warmup.connections) sessions before any request and reports the pool warm', async () => {
    const u = await h2Upstream();
    const { pool, state } = h2Pool(u.port, { warmup }, { sessionsPerEndpoint: 2 });
    const generation = state.cluster(0, 'membership_generation');
    pool.warm();
    await waitFor(() => pool.isWarm, { message: 'the pool to report itself warm' });
    expect(u.sessions.length).toBe(2);
    expect(u.streams.length).toBe(0);
    expect(state.endpoint(0, 'warm_pools')).toBe(1);
    expect(state.cluster(0, 'membership_generation')).toBe(generation + 1);
    const r = request(pool, get('/'));
    // A warm session takes the request at once: no new connection.
    expect(r.stream).not.toBeNull();
    await waitFor(() => r.complete);
    expect(u.sessions.length).toBe(2);
  });

  it('opens nothing before the first request without warm-up', async () => {
    const u = await h2Upstream();
    const { pool } = h2Pool(u.port);
    pool.warm();
    expect(pool.size).toBe(0);
    const r = request(pool, get('/'));
    expect(pool.size).toBe(1);
    await waitFor(() => r.complete);
    expect(u.sessions.length).toBe(1);
  });

  it('closes a session idle past idle_timeout, but keeps the warm-up sessions', async () => {
    const u = await h2Upstream();
    const cold = h2Pool(u.port, { idleTimeoutMs: 10_000 });
    const r = request(cold.pool, get('/'));
    await waitFor(() => r.complete && cold.pool.idleCount === 1);
    cold.clock.advance(9_000);
    expect(cold.pool.size).toBe(1);
    cold.clock.advance(6_000);
    await waitFor(() => cold.pool.size === 0, { message: 'the idle session to close' });
    await waitFor(() => u.sessions[0]!.closed || u.sessions[0]!.destroyed, { message: 'the server to see it close' });

    const warm = h2Pool(u.port, { idleTimeoutMs: 10_000, warmup: { ...warmup, connections: 1 } });
    warm.pool.warm();
    await waitFor(() => warm.pool.isWarm);
    warm.clock.advance(60_000);
    expect(warm.pool.size).toBe(1);
  });

  it('drains a session after max_requests_per_connection streams and opens a new one', async () => {
    const u = await h2Upstream();
    const { pool } = h2Pool(u.port, { maxRequestsPerConnection: 2 });
    const rs = [request(pool, get('/1')), request(pool, get('/2'))];
    await waitFor(() => allSettled(rs));
    const third = request(pool, get('/3'));
    await waitFor(() => third.complete);
    expect(rs.map((r) => r.text)).toEqual(['ok /1', 'ok /2']);
    expect(u.sessions.length).toBe(2);
  });
});

describe('connect failures', () => {
  it('tells the waiting exchanges when the endpoint refuses the connection, and counts it', async () => {
    const port = await closedPort();
    const { pool, state, stat } = h2Pool(port);
    const rs = [request(pool, get('/1')), request(pool, get('/2'))];
    await waitFor(() => allSettled(rs));
    expect(rs.map((r) => r.failure)).toEqual([expect.stringContaining('ECONNREFUSED'), expect.stringContaining('ECONNREFUSED')]);
    expect(stat('upstream_cx_total')).toBe(1);
    expect(stat('upstream_connect_failures')).toBe(1);
    expect(state.endpointStat(0, 'connect_failures')).toBe(1);
    expect(state.cluster(0, 'rq_pending')).toBe(0);
    expect(state.cluster(0, 'cx_active')).toBe(0);
  });

  it('fails setup with the connect timeout when the endpoint never sends SETTINGS', async () => {
    const m = await mute({ sendSettings: false });
    const { pool, clock, stat } = h2Pool(m.port, { connectTimeoutMs: 1000 });
    const r = request(pool, get('/'));
    await waitFor(() => m.connections === 1);
    expect(pool.sessionViews()[0]!.state).toBe('connecting');
    clock.advance(1000);
    await waitFor(() => r.settled);
    expect(r.failure).toBe('no HTTP/2 SETTINGS from the endpoint within the connect timeout');
    expect(stat('upstream_connect_failures')).toBe(1);
    expect(pool.size).toBe(0);
  });

  it('fails setup when the endpoint does not speak HTTP/2', async () => {
    const { createServer } = await import('node:http');
    const h1 = createServer((_req, res) => res.end('http/1.1'));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (h1.address() as import('node:net').AddressInfo).port;
      const { pool, stat } = h2Pool(port);
      const r = request(pool, get('/'));
      await waitFor(() => r.settled);
      expect(r.failure).toMatch(/HTTP\/2/);
      expect(stat('upstream_connect_failures')).toBe(1);
    } finally {
      h1.closeAllConnections();
      await new Promise((r) => h1.close(r));
    }
  });
});

describe('shutdown', () => {
  it('close() cuts the streams in flight and fails the waiters with "pool closed"', async () => {
    const u = await h2Upstream({ handler: hold, settings: { maxConcurrentStreams: 1 } });
    const { pool, state } = h2Pool(u.port);
    const busy = request(pool, get('/busy'));
    await waitFor(() => u.held.length === 1);
    const waiting = request(pool, get('/waiting'));
    expect(pool.pending).toBe(1);
    pool.close();
    expect(waiting.failure).toBe('pool closed');
    await waitFor(() => busy.settled && pool.size === 0);
    expect(busy.error?.kind).toBe('reset');
    expect(state.cluster(0, 'cx_active')).toBe(0);
    expect(state.cluster(0, 'rq_pending')).toBe(0);
    const late = request(pool, get('/late'));
    expect(late.failure).toBe('pool closed');
  });

  it('closeIdle() lets busy sessions finish their streams and closes them after', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool } = h2Pool(u.port);
    const busy = request(pool, get('/busy'));
    await waitFor(() => u.held.length === 1);
    pool.closeIdle();
    expect(pool.sessionViews()[0]!.state).toBe('draining');
    u.answerHeld();
    await waitFor(() => busy.complete);
    expect(busy.text).toBe('ok /busy');
    await waitFor(() => pool.size === 0, { message: 'the drained session to close' });
  });
});
