/**
 * The HTTP/2 bench scenarios' load against real h2load: a clean run counts no error, 5xx answers and
 * streams lost with a dropped connection are counted (the reason measured runs use `-n`), and the
 * h2-to-h2 upstream (nginx) answers over h2c.
 */
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { measureH2load } from '../../bench/lib/h2-load.js';
import { startH2Upstream } from '../../bench/lib/h2-upstream.js';
import { requirePrograms } from './programs.js';

requirePrograms();

const LOAD = { connections: 2, streams: 5, path: '/' };
const servers: http2.Http2Server[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A node:http2 server on 127.0.0.1 whose stream handler is `onStream`; returns its URL. */
async function serve(onStream: (stream: http2.ServerHttp2Stream, n: number) => void): Promise<string> {
  const server = http2.createServer();
  let n = 0;
  server.on('stream', (stream) => onStream(stream, ++n));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** One GET over h2c: status and body. */
function getH2(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once('error', reject);
    const req = session.request({ ':path': '/' });
    let status = 0;
    let body = '';
    req.once('response', (h) => {
      status = Number(h[':status']);
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.once('end', () => {
      session.close();
      resolve({ status, body });
    });
    req.once('error', reject);
  });
}

const ctx = (url: string) => ({ url, seconds: 1, pid: null, upstreamPid: process.pid });

describe('bench h2load', () => {
  it('measures a clean run: no errors, latencies, h2load\'s CPU', async () => {
    const url = await serve((stream) => {
      stream.respond({ ':status': 200 });
      stream.end('Hello, World!');
    });
    const s = await measureH2load(ctx(url), LOAD);
    expect(s.errors).toBe(0);
    expect(s.requests).toBeGreaterThanOrEqual(1000);
    expect(s.extra).toMatchObject({ asked: s.requests, succeeded: s.requests, failed: 0, errored: 0 });
    expect(s.rps).toBeGreaterThan(0);
    expect(s.p50).not.toBeNull();
    expect(s.p99).toBeGreaterThanOrEqual(s.p50 ?? Infinity);
    expect(s.loadCpu).toBeGreaterThan(0);
  });

  it('counts 5xx answers as errors', async () => {
    const url = await serve((stream, n) => {
      stream.respond({ ':status': n % 10 === 0 ? 503 : 200 });
      stream.end('x');
    });
    const s = await measureH2load(ctx(url), LOAD);
    const fivexx = Number(s.extra?.status5xx);
    expect(fivexx).toBeGreaterThan(0);
    expect(s.errors).toBe(fivexx);
    expect(s.extra?.failed).toBe(fivexx);
  });

  it('counts the requests lost with a dropped connection as failed and errored', async () => {
    const url = await serve((stream, n) => {
      // After 500 answers every connection is dropped: h2load's timing mode would report 0 failed here.
      if (n > 500) {
        stream.session?.destroy();
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('x');
    });
    const s = await measureH2load(ctx(url), LOAD);
    expect(s.errors).toBeGreaterThan(0);
    expect(Number(s.extra?.errored)).toBeGreaterThan(0);
    expect(s.errors).toBe(Number(s.extra?.asked) - Number(s.extra?.succeeded));
  });

  it('starts the h2-to-h2 upstream: nginx answering 13 bytes over h2c, gone after stop', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-h2-upstream-'));
    try {
      const up = await startH2Upstream(path.join(dir, 'up'));
      const url = `http://${up.host}:${up.port}`;
      try {
        expect(await getH2(url)).toEqual({ status: 200, body: 'Hello, World!' });
        const s = await measureH2load({ ...ctx(url), upstreamPid: up.pid }, LOAD);
        expect(s.errors).toBe(0);
        expect(s.upstreamCpuPer10k).toBeGreaterThan(0);
      } finally {
        await up.stop();
      }
      const session = http2.connect(url);
      const failed = await new Promise<boolean>((resolve) => {
        session.once('error', () => resolve(true));
        session.once('connect', () => resolve(false));
      });
      session.destroy();
      expect(failed).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
