/**
 * `pnpm bench --load wrk` against real wrk: its Lua script makes the scenario's request (method,
 * body), its summary is read exactly, non-2xx answers count as errors, and its own CPU is read.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { measureWithWrk } from '../../bench/lib/wrk-load.js';
import { requirePrograms } from './programs.js';

requirePrograms();

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Seen {
  requests: number;
  methods: Set<string>;
  bodyBytes: Set<number>;
}

/** An HTTP/1.1 server answering `status` with the length of the body it read. */
async function serve(status: number): Promise<{ url: string; seen: Seen }> {
  const seen: Seen = { requests: 0, methods: new Set(), bodyBytes: new Set() };
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      seen.requests++;
      seen.methods.add(req.method ?? '');
      seen.bodyBytes.add(n);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(String(n));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const ctx = (url: string) => ({ url, seconds: 1, pid: null, upstreamPid: process.pid });

describe('bench --load wrk', () => {
  it('sends the scenario request and reads the counts wrk made', async () => {
    const { url, seen } = await serve(200);
    const load = { connections: 4, path: '/upload', method: 'POST' as const, bodyBytes: 4096 };
    const s = await measureWithWrk(ctx(url), { name: 'post', title: 'post', order: 1, load });
    expect(s.errors).toBe(0);
    expect(s.requests).toBeGreaterThan(0);
    // wrk counts the responses it read; the server may have answered a few more it never read.
    expect(seen.requests).toBeGreaterThanOrEqual(s.requests);
    expect([...seen.methods]).toEqual(['POST']);
    expect([...seen.bodyBytes]).toEqual([4096]);
    expect(s.rps).toBeCloseTo(s.requests / s.seconds, 6);
    expect(s.p50).toBeGreaterThan(0);
    expect(s.p99).toBeGreaterThanOrEqual(s.p50!);
    expect(s.loadCpu).toBeGreaterThan(0);
    // No proxy in this run: no proxy CPU or memory to read.
    expect(s.cpuPer10k).toBeNull();
  });

  it('counts answers outside 2xx-3xx as errors', async () => {
    const { url } = await serve(503);
    const s = await measureWithWrk(ctx(url), { name: 'get', title: 'get', order: 1, load: { connections: 2, path: '/' } });
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(s.requests);
  });
});
