/**
 * Bodies stream through with backpressure: a 1 GiB upload and a 1 GiB download pass byte-exact while
 * the proxy's memory stays flat; a client that gives up cancels the upstream request; an upstream that
 * dies mid-response never yields a body presented as complete.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { simpleConfig } from '../helpers/configs.js';
import { waitFor } from '../helpers/wait-for.js';

const GiB = 1024 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 7 + 3) & 0xff;

let pillion: PillionProcess;
let upstream: Server;
let base: string;
let upstreamClosedEarly = 0;
const uploads: { bytes: number; sha: string }[] = [];

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

beforeAll(async () => {
  const [up, listen, admin] = await freePorts(3);
  upstream = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/upload') {
      const h = createHash('sha256');
      let bytes = 0;
      req.on('data', (d: Buffer) => {
        bytes += d.length;
        h.update(d);
      });
      req.on('end', () => {
        uploads.push({ bytes, sha: h.digest('hex') });
        res.end(JSON.stringify(uploads.at(-1)));
      });
      return;
    }
    if (url.pathname === '/download') {
      const total = Number(url.searchParams.get('bytes'));
      const chunked = url.searchParams.has('chunked');
      if (!chunked) res.setHeader('content-length', total);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const n = Math.min(CHUNK.length, total - sent);
          sent += n;
          if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {
        if (sent < total || !res.writableFinished) upstreamClosedEarly++;
      });
      pump();
      return;
    }
    if (url.pathname === '/die-mid-body') {
      res.setHeader('content-length', 1_000_000);
      res.write(CHUNK.subarray(0, 1000));
      setTimeout(() => res.socket!.destroy(), 50);
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], top: { drain_timeout: '2s' } }));
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

describe('large bodies with flat memory', () => {
  // Chunked: this uWS build closes the connection, without a reply, on a Content-Length of 10 digits or
  // more (1e9 bytes and up), so clients must send bodies that large chunked.
  it('uploads 1 GiB (chunked) byte-exact', async () => {
    const pid = pillion.child.pid!;
    const before = rssKiB(pid, 'VmRSS');
    const expected = createHash('sha256');
    async function* body() {
      for (let sent = 0; sent < GiB; sent += CHUNK.length) {
        expected.update(CHUNK);
        yield CHUNK;
      }
    }
    const r = await request(`${base}/upload`, { method: 'POST', body: Readable.from(body()) });
    const got = (await r.body.json()) as { bytes: number; sha: string };
    expect(got.bytes).toBe(GiB);
    expect(got.sha).toBe(expected.digest('hex'));
    // Backpressure holds the proxy's memory: it must not grow by anything near the body size.
    expect(rssKiB(pid, 'VmHWM') - before).toBeLessThan(200 * 1024);
  }, 120_000);

  it('downloads 1 GiB byte-exact', async () => {
    const pid = pillion.child.pid!;
    const before = rssKiB(pid, 'VmRSS');
    const r = await request(`${base}/download?bytes=${GiB}`);
    expect(r.headers['content-length']).toBe(String(GiB));
    const h = createHash('sha256');
    let bytes = 0;
    for await (const d of r.body) {
      bytes += d.length;
      h.update(d);
    }
    const expected = createHash('sha256');
    for (let i = 0; i < GiB / CHUNK.length; i++) expected.update(CHUNK);
    expect(bytes).toBe(GiB);
    expect(h.digest('hex')).toBe(expected.digest('hex'));
    expect(rssKiB(pid, 'VmHWM') - before).toBeLessThan(200 * 1024);
  }, 120_000);

  it('uploads with a Content-Length byte-exact', async () => {
    const body = Buffer.concat(Array.from({ length: 64 }, () => CHUNK));
    const r = await request(`${base}/upload`, { method: 'POST', body });
    const got = (await r.body.json()) as { bytes: number; sha: string };
    expect(got).toEqual({ bytes: body.length, sha: createHash('sha256').update(body).digest('hex') });
  });

  it('relays a chunked upstream body chunked, byte-exact', async () => {
    const r = await request(`${base}/download?bytes=5000000&chunked=1`);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect((await r.body.arrayBuffer()).byteLength).toBe(5_000_000);
  });
});

describe('aborts and resets', () => {
  it('a client abort cancels the upstream request and drops its connection', async () => {
    const before = upstreamClosedEarly;
    const agent = new Agent();
    const r = await request(`${base}/download?bytes=${GiB}`, { dispatcher: agent });
    let got = 0;
    for await (const d of r.body) {
      got += d.length;
      if (got > 10 * 1024 * 1024) break;
    }
    await agent.destroy();
    await waitFor(() => upstreamClosedEarly !== before, { intervalMs: 20, message: 'the upstream request to be cancelled' });
    expect(upstreamClosedEarly).toBe(before + 1);
    // The proxy stays healthy for the next request.
    expect(await (await fetch(`${base}/ok`)).text()).toBe('ok');
  });

  it('an upstream dying mid-body aborts the client instead of ending the response', async () => {
    const r = await request(`${base}/die-mid-body`);
    expect(r.statusCode).toBe(200);
    await expect(r.body.arrayBuffer()).rejects.toThrow();
  });
});
