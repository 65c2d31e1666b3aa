/**
 * The endpoint pool against a real upstream socket server: warm-up (verified, concurrency-limited,
 * backing off with jitter), preconnect, idle shrink down to min_idle, gradual refresh by
 * max_connection_age, connect timeouts and the pending breaker.
 *
 * The sockets are real; the pool's time is a FakeClock and its jitter a seeded random, so everything
 * that depends on time happens exactly when the test moves the clock, and nothing waits for real time.
 * waitFor only waits for socket events.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay, HeaderList, SharedState } from '@pillion/core';
import { EndpointPool, type EndpointPoolOptions, type EndpointPoolSources, type PoolLimits } from '../src/upstream/endpoint-pool.js';
import type { HttpConnection } from '../src/upstream/http-connection.js';
import type { UpstreamExchange, UpstreamStream } from '../src/upstream/upstream-exchange.js';
import type { WarmupCheck } from '../src/upstream/warmup-probe.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { FakeClock } from './fake-clock.js';
import { poolOptions } from './pool-fixtures.js';
import { blackhole } from './l4-fixtures.js';
import { seeded } from './lb-fixtures.js';

interface Upstream {
  server: Server;
  port: number;
  accepted: number;
  open: number;
  /** Requests received and not answered yet (only when holding). */
  held: (() => void)[];
  /** Most requests held at once. */
  maxHeld: number;
  answerAll(): void;
}

const servers: Server[] = [];
const pools: EndpointPool[] = [];
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const c of cleanup.splice(0)) await c();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Answers every request head with 200: at once, or (`hold`) when the test calls answerAll(). */
async function upstream(hold = false): Promise<Upstream> {
  const u: Upstream = {
    server: undefined as unknown as Server,
    port: 0,
    accepted: 0,
    open: 0,
    held: [],
    maxHeld: 0,
    answerAll: () => {
      for (const answer of u.held.splice(0)) answer();
    },
  };
  const sockets = new Set<Socket>();
  u.server = createServer((s) => {
    u.accepted++;
    u.open++;
    sockets.add(s);
    s.on('close', () => (u.open--, sockets.delete(s)));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        buf = buf.slice(end + 4);
        const answer = () => {
          if (!s.destroyed) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        };
        if (!hold) answer();
        else {
          u.held.push(answer);
          u.maxHeld = Math.max(u.maxHeld, u.held.length);
        }
      }
    });
  });
  servers.push(u.server);
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', () => r()));
  u.port = (u.server.address() as import('node:net').AddressInfo).port;
  return u;
}

function pool(port: number, o: Partial<EndpointPoolOptions & PoolLimits> = {}, sources: EndpointPoolSources = {}) {
  const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
  const p = new EndpointPool(
    poolOptions(port, o),
    state,
    state.statsWriter(0),
    { clock: new FakeClock(), random: seeded(1), ...sources },
  );
  pools.push(p);
  return { p, state };
}

/** An exchange that sends GET / and holds the connection until released. */
class Holder implements UpstreamExchange {
  /** The pool's streams are its HTTP/1.1 connections: the tests look at their sockets and deadlines. */
  conn: HttpConnection | null = null;
  done = false;
  failure: string | null = null;
  onConnection(conn: UpstreamStream): void {
    this.conn = conn as HttpConnection;
    conn.sendRequest('GET', '/', new HeaderList(['host', 'x']), { kind: 'none', length: 0 }, null, true, null);
  }
  onConnectFailure(reason: string): void {
    this.failure = reason;
  }
  onResponseHead(): void {}
  onInformational(_s: number, _h: HeaderList): void {}
  onResponseBody(): void {}
  onResponseTrailers(): void {}
  onResponseComplete(): void {
    this.done = true;
  }
  onUpstreamError(): void {}
  onUpstreamDrain(): void {}
  onReadDone(): void {}
}

const HEALTH: WarmupCheck = { path: '/health', headers: new HeaderList(['host', 'x']), accepts: (s) => s === 200 };
const byValue = (a: number, b: number) => a - b;

describe('endpoint pool', () => {
  it('warms up verified connections, at most `concurrency` at a time, and reports itself warm', async () => {
    const u = await upstream(true);
    const clock = new FakeClock();
    const { p, state } = pool(u.port, { warmup: { connections: 5, concurrency: 2, backoffBaseMs: 10, backoffMaxMs: 100, check: HEALTH } }, { clock });
    const gen = state.cluster(0, 'membership_generation');
    p.warm();
    // Two connections at a time, each verified by a health check request; one opens as one passes.
    for (const inFlight of [2, 2, 1]) {
      await waitFor(() => u.held.length === inFlight, { message: `${inFlight} verifications at the upstream` });
      expect(p.isWarm).toBe(false);
      u.answerAll();
    }
    await waitFor(() => p.isWarm, { message: 'the pool to report itself warm' });
    expect(u.accepted).toBe(5);
    expect(u.maxHeld).toBe(2);
    expect(p.size).toBe(5);
    expect(p.idleCount).toBe(5);
    expect(state.endpoint(0, 'warm_pools')).toBe(1);
    expect(state.endpoint(0, 'warm_connections')).toBe(5);
    expect(state.cluster(0, 'membership_generation')).toBe(gen + 1);
    // No backoff timer; only the idle sweep is armed.
    expect(clock.pending).toBe(1);
  });

  it('backs off with jitter and retries warm-up against an endpoint that is not up yet', async () => {
    const u = await upstream();
    const port = u.port;
    await new Promise((r) => u.server.close(r));
    servers.splice(servers.indexOf(u.server), 1);
    const clock = new FakeClock();
    const { p } = pool(port, { warmup: { connections: 2, concurrency: 1, backoffBaseMs: 20, backoffMaxMs: 40, check: null } }, { clock, random: seeded(5) });
    // The pool draws one random number per failed attempt, for the full-jitter backoff.
    const draw = seeded(5);
    const delays = [backoffDelay(0, 20, 40, draw()), backoffDelay(1, 20, 40, draw())];
    expect(delays).toEqual([13, 30]);

    p.warm();
    expect(p.size).toBe(1);
    await waitFor(() => p.size === 0, { message: 'the first connect to be refused' });
    expect(clock.untilNext()).toBe(delays[0]);
    clock.advance(delays[0]! - 1);
    expect(p.size).toBe(0);
    clock.advance(1);
    expect(p.size).toBe(1); // the second try
    await waitFor(() => p.size === 0, { message: 'the second connect to be refused' });
    expect(clock.untilNext()).toBe(delays[1]);
    expect(p.isWarm).toBe(false);

    // The upstream comes up on the same port: the next try connects, and warm-up finishes.
    const again = createServer((s) => s.on('error', () => {}));
    servers.push(again);
    await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
    clock.advance(delays[1]! - 1);
    expect(p.size).toBe(0);
    clock.advance(1);
    expect(p.size).toBe(1);
    await waitFor(() => p.isWarm, { message: 'the pool to report itself warm' });
    expect(p.size).toBe(2);
    expect(p.idleCount).toBe(2);
  });

  it('a warm pool whose endpoint dies reports itself cold and reconnects after a backoff, not in a loop', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const clock = new FakeClock();
    const { p, state } = pool(port, { warmup: { connections: 2, concurrency: 2, backoffBaseMs: 20, backoffMaxMs: 40, check: null } }, { clock, random: seeded(5) });
    p.warm();
    await waitFor(() => p.isWarm, { message: 'the pool to report itself warm' });
    expect(state.endpoint(0, 'warm_pools')).toBe(1);

    // The endpoint goes away: its connections close and nothing listens on the port any more.
    await new Promise((r) => {
      server.close(r);
      for (const s of sockets) s.destroy();
    });
    servers.splice(servers.indexOf(server), 1);
    await waitFor(() => p.size === 0 && !p.isWarm, { message: 'the pool to lose its connections and report itself cold' });
    expect(state.endpoint(0, 'warm_pools')).toBe(0);
    expect(state.endpoint(0, 'warm_connections')).toBe(0);
    expect(state.endpoint(0, 'cx_active')).toBe(0);
    // Two connections opened by warm-up, then replacements: at most one per closed connection, each
    // refused, and the next try waits for a backoff timer (the sweep is the other pending timer).
    const opened = state.clusterStat(0, 'upstream_cx_total');
    expect(opened).toBeLessThanOrEqual(4);
    expect(clock.untilNext()).toBeGreaterThan(0);
    await new Promise((r) => setImmediate(r));
    expect(state.clusterStat(0, 'upstream_cx_total')).toBe(opened);
    expect(p.size).toBe(0);
  });

  it('preconnects ratio x connections in use', async () => {
    const u = await upstream(true);
    const { p } = pool(u.port, { preconnectRatio: 2 });
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) expect(p.acquire(h, false)).toBeNull();
    expect(p.size).toBe(3);
    await waitFor(() => u.held.length === 3, { message: 'the three requests at the upstream' });
    // 3 busy → 6 open: the next burst does not wait for connects.
    await waitFor(() => p.idleCount === 3, { message: 'three preconnected connections idle' });
    expect(p.size).toBe(6);
    await waitFor(() => u.accepted === 6, { message: 'six connections at the upstream' });
    u.answerAll();
    await waitFor(() => held.every((h) => h.done), { message: 'the three answers' });
    expect(p.idleCount).toBe(6);
    expect(p.size).toBe(6);
    expect(u.accepted).toBe(6);
  });

  it('shrinks idle connections down to min_idle', async () => {
    const u = await upstream();
    const clock = new FakeClock();
    const { p } = pool(u.port, { idleTimeoutMs: 300, minIdle: 1 }, { clock });
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) p.acquire(h, false);
    await waitFor(() => held.every((h) => h.done), { message: 'the three answers' });
    expect(p.idleCount).toBe(3);
    // The sweep runs every max(250, idle_timeout / 2) = 250 ms and closes what has been idle 300 ms.
    clock.advance(250);
    expect(p.idleCount).toBe(3);
    clock.advance(250);
    expect(p.idleCount).toBe(1);
    await waitFor(() => u.open === 1 && p.size === 1, { message: 'two connections closed' });
    clock.advance(10 * 250);
    expect(p.idleCount).toBe(1);
    expect(p.size).toBe(1);
  });

  it('retires connections past max_connection_age one by one, never all at once', async () => {
    const u = await upstream();
    const clock = new FakeClock();
    const t0 = clock.now();
    const { p } = pool(u.port, { maxConnectionAgeMs: 300, idleTimeoutMs: 600, minIdle: 3 }, { clock, random: seeded(5) });
    // Each connection's deadline is within +-10% of the age limit, drawn when it opens.
    const draw = seeded(5);
    const deadlines = [0, 1, 2].map(() => t0 + 300 * (0.9 + 0.2 * draw()));
    expect(deadlines.map((d) => Math.round(d - t0))).toEqual([311, 316, 283]);
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) p.acquire(h, false);
    await waitFor(() => held.every((h) => h.done), { message: 'the three answers' });
    expect(held.map((h) => h.conn!.ageDeadline).sort(byValue)).toEqual([...deadlines].sort(byValue));
    expect(p.idleCount).toBe(3);
    const retired = () => held.filter((h) => h.conn!.socket.destroyed).map((h) => h.conn!.ageDeadline);
    // The sweep runs every idle_timeout / 2 = 300 ms and retires one connection past its deadline.
    clock.advance(299);
    expect(p.idleCount).toBe(3);
    clock.advance(1);
    expect(p.idleCount).toBe(2);
    expect(retired()).toEqual([deadlines[2]]);
    clock.advance(300);
    expect(p.idleCount).toBe(1);
    clock.advance(300);
    expect(p.idleCount).toBe(0);
    expect(retired().sort(byValue)).toEqual([...deadlines].sort(byValue));
    await waitFor(() => u.open === 0 && p.size === 0, { message: 'every connection closed' });
  });

  it('gives up a connect that outlasts connect_timeout when the pool clock passes it', async () => {
    const hole = await blackhole();
    cleanup.push(() => hole.child.kill('SIGKILL'));
    const clock = new FakeClock();
    const { p } = pool(hole.port, { connectTimeoutMs: 1000 }, { clock });
    const h = new Holder();
    expect(p.acquire(h, false)).toBeNull();
    expect(p.size).toBe(1);
    clock.advance(999);
    expect(h.failure).toBeNull();
    expect(p.size).toBe(1);
    clock.advance(1);
    expect(h.failure).toBe('connect timeout');
    expect(p.size).toBe(0);
    expect(p.pending).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('refuses a request past max_pending_requests', async () => {
    const u = await upstream(true);
    const { p, state } = pool(u.port, { maxConnections: 1, clusterMaxPending: 2 });
    expect(p.acquire(new Holder(), false)).toBeNull();
    expect(p.acquire(new Holder(), false)).toBeNull();
    expect(p.acquire(new Holder(), false)).toBe('max_pending_requests');
    expect(state.cluster(0, 'rq_pending')).toBe(2);
  });
});
