/**
 * The endpoint pool against a real upstream socket server: warm-up (verified, concurrency-limited),
 * preconnect, idle shrink down to min_idle, gradual refresh by max_connection_age, and the pending
 * breaker.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HeaderList, SharedState } from '@pillion/core';
import { EndpointPool, type EndpointPoolOptions, type PoolLimits } from '../src/upstream/endpoint-pool.js';
import type { HttpConnection, UpstreamExchange } from '../src/upstream/http-connection.js';

interface Upstream {
  server: Server;
  port: number;
  accepted: number;
  open: number;
  healthInFlight: number;
  maxHealthInFlight: number;
}

const servers: Server[] = [];
const pools: EndpointPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Answers every request head with 200 after `delayMs` (health checks counted separately). */
async function upstream(delayMs = 0): Promise<Upstream> {
  const u: Upstream = { server: undefined as unknown as Server, port: 0, accepted: 0, open: 0, healthInFlight: 0, maxHealthInFlight: 0 };
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
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const health = head.startsWith('GET /health ');
        if (health) u.maxHealthInFlight = Math.max(u.maxHealthInFlight, ++u.healthInFlight);
        setTimeout(() => {
          if (health) u.healthInFlight--;
          if (!s.destroyed) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }, delayMs);
      }
    });
  });
  servers.push(u.server);
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', () => r()));
  u.port = (u.server.address() as import('node:net').AddressInfo).port;
  return u;
}

function pool(port: number, o: Partial<EndpointPoolOptions & PoolLimits> = {}) {
  const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
  const p = new EndpointPool(
    {
      host: '127.0.0.1',
      port,
      endpointSlot: 0,
      clusterSlot: 0,
      maxConnections: 16,
      connectTimeoutMs: 1000,
      idleTimeoutMs: 60_000,
      maxRequestsPerConnection: 0,
      maxResponseHeadBytes: 65536,
      warmup: null,
      preconnectRatio: 1,
      minIdle: 0,
      maxConnectionAgeMs: 0,
      clusterMaxConnections: Infinity,
      clusterMaxPending: Infinity,
      endpointMaxConnections: Infinity,
      endpointMaxPending: Infinity,
      ...o,
    },
    state,
    state.statsWriter(0),
  );
  pools.push(p);
  return { p, state };
}

/** An exchange that sends GET / and holds the connection until released. */
class Holder implements UpstreamExchange {
  conn: HttpConnection | null = null;
  done = false;
  onConnection(conn: HttpConnection): void {
    this.conn = conn;
    conn.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  }
  onConnectFailure(): void {}
  onResponseHead(): void {}
  onInformational(_s: number, _h: HeaderList): void {}
  onResponseBody(): void {}
  onResponseComplete(): void {
    this.done = true;
  }
  onUpstreamError(): void {}
  onUpstreamDrain(): void {}
  onReadDone(): void {}
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('endpoint pool', () => {
  it('warms up verified connections, at most `concurrency` at a time, and reports itself warm', async () => {
    const u = await upstream(50);
    const { p, state } = pool(u.port, {
      warmup: { connections: 5, concurrency: 2, backoffBaseMs: 10, backoffMaxMs: 100, check: { head: 'GET /health HTTP/1.1\r\nhost: x\r\n\r\n', accepts: (s) => s === 200 } },
    });
    const gen = state.cluster(0, 'membership_generation');
    p.warm();
    await until(() => p.isWarm);
    expect(u.accepted).toBe(5);
    expect(u.maxHealthInFlight).toBe(2);
    expect(p.idleCount).toBe(5);
    expect(state.endpoint(0, 'warm_pools')).toBe(1);
    expect(state.endpoint(0, 'warm_connections')).toBe(5);
    expect(state.cluster(0, 'membership_generation')).toBeGreaterThan(gen);
  });

  it('backs off and retries warm-up against an endpoint that is not up yet', async () => {
    const u = await upstream();
    const port = u.port;
    await new Promise((r) => u.server.close(r));
    servers.splice(servers.indexOf(u.server), 1);
    const { p } = pool(port, { warmup: { connections: 2, concurrency: 1, backoffBaseMs: 20, backoffMaxMs: 40, check: null } });
    p.warm();
    await new Promise((r) => setTimeout(r, 150));
    expect(p.isWarm).toBe(false);
    // The upstream comes up on the same port: warm-up finishes on a later try.
    const again = createServer((s) => s.on('error', () => {}));
    servers.push(again);
    await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
    await until(() => p.isWarm);
    expect(p.size).toBe(2);
  });

  it('preconnects ratio x connections in use', async () => {
    const u = await upstream(200);
    const { p } = pool(u.port, { preconnectRatio: 2 });
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) expect(p.acquire(h, false)).toBeNull();
    await until(() => held.every((h) => h.conn !== null));
    // 3 busy → 6 open: the next burst does not wait for connects.
    await until(() => p.size === 6);
    await until(() => held.every((h) => h.done));
    expect(u.accepted).toBe(6);
  });

  it('shrinks idle connections down to min_idle', async () => {
    const u = await upstream();
    const { p } = pool(u.port, { idleTimeoutMs: 300, minIdle: 1 });
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) p.acquire(h, false);
    await until(() => held.every((h) => h.done));
    expect(p.idleCount).toBe(3);
    await until(() => p.idleCount === 1, 3000);
    await new Promise((r) => setTimeout(r, 400));
    expect(p.idleCount).toBe(1);
    expect(u.open).toBe(1);
  });

  it('retires connections past max_connection_age one by one, never all at once', async () => {
    const u = await upstream();
    const { p } = pool(u.port, { maxConnectionAgeMs: 300, idleTimeoutMs: 600, minIdle: 3 });
    const held = [new Holder(), new Holder(), new Holder()];
    for (const h of held) p.acquire(h, false);
    await until(() => held.every((h) => h.done));
    const counts: number[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 1500) {
      counts.push(p.idleCount);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Math.min(...counts)).toBe(0);
    // Each sweep retires one: the idle count steps down through 2 and 1 rather than jumping to 0.
    expect(counts).toContain(2);
    expect(counts).toContain(1);
  });

  it('refuses a request past max_pending_requests', async () => {
    const u = await upstream(300);
    const { p, state } = pool(u.port, { maxConnections: 1, clusterMaxPending: 2 });
    expect(p.acquire(new Holder(), false)).toBeNull();
    expect(p.acquire(new Holder(), false)).toBeNull();
    expect(p.acquire(new Holder(), false)).toBe('max_pending_requests');
    expect(state.cluster(0, 'rq_pending')).toBe(2);
  });
});
