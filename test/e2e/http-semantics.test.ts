/**
 * What the proxy changes and keeps on the way through: framing of bodyless responses, hop-by-hop
 * fields, forwarding fields, 100-continue, header edits and the route matchers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { rawRequest, startRawUpstream, type RawUpstream } from '../helpers/raw.js';

let pillion: PillionProcess;
let upA: RawUpstream;
let upB: RawUpstream;
let listen: number;

function answer(head: string): string {
  const path = head.split(' ')[1]!;
  switch (path) {
    case '/head-cl':
      return 'HTTP/1.1 200 OK\r\ncontent-length: 1234\r\ncontent-type: text/plain\r\n\r\n';
    case '/204':
      return 'HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n';
    case '/304':
      return 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\n\r\n';
    case '/hop':
      return 'HTTP/1.1 200 OK\r\nconnection: keep-alive, x-secret\r\nkeep-alive: timeout=5\r\nx-secret: 1\r\nproxy-connection: x\r\nx-kept: yes\r\ncontent-length: 2\r\n\r\nok';
    case '/chunked':
      return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n';
    default:
      return `HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\nx-echo-head: ${Buffer.from(head).toString('base64')}\r\n\r\n${path}`;
  }
}

beforeAll(async () => {
  const [a, b, l, admin] = await freePorts(4);
  listen = l!;
  upA = await startRawUpstream(a!, (head, s) => s.write(answer(head).replace('HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nx-up: a\r\n')));
  upB = await startRawUpstream(b!, (head, s) => s.write(answer(head).replace('HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nx-up: b\r\n')));
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        routes: [
          { match: { prefix: '/m', methods: ['DELETE'] }, cluster: 'b' },
          { match: { prefix: '/h', headers: { 'x-canary': '1' } }, cluster: 'b' },
          { match: { prefix: '/h', headers: { 'x-version': { regex: 'v[2-9]' } } }, cluster: 'b' },
          { match: { prefix: '/host', host: '*.example.com' }, cluster: 'b' },
          { match: { regex: '/re/[0-9]+' }, cluster: 'b' },
          { match: { prefix: '/weighted' }, weighted_clusters: [{ cluster: 'a', weight: 3 }, { cluster: 'b', weight: 1 }] },
          {
            match: { prefix: '/edit' },
            cluster: 'a',
            host_rewrite: 'internal.svc',
            request_headers: { add: { 'x-added': 'yes' }, remove: ['x-drop'] },
            response_headers: { add: { 'x-resp': 'r' }, remove: ['x-up'] },
          },
          { match: { prefix: '/' }, cluster: 'a' },
        ],
      },
    ],
    clusters: [
      { name: 'a', endpoints: [{ address: '127.0.0.1', port: a }] },
      { name: 'b', endpoints: [{ address: '127.0.0.1', port: b }] },
    ],
  });
});

afterAll(async () => {
  await pillion?.stop();
  await upA?.close();
  await upB?.close();
});

const req = (raw: string, wait = 600) => rawRequest(listen, raw, wait);
const headOf = (text: string) => text.slice(0, text.indexOf('\r\n\r\n') + 4).toLowerCase();
const upstreamHead = (text: string) => Buffer.from(/x-echo-head: (\S+)/i.exec(text)![1]!, 'base64').toString('latin1');

describe('bodyless responses', () => {
  it('HEAD keeps the upstream Content-Length and sends no body', async () => {
    const r = await req('HEAD /head-cl HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
    expect(headOf(r.text)).toContain('\r\ncontent-length: 1234\r\n');
    expect(r.text.endsWith('\r\n\r\n')).toBe(true);
  });

  it.each(['/204', '/304'])('%s carries no body and no invented Content-Length', async (path) => {
    const r = await req(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(Number(path.slice(1)));
    expect(headOf(r.text)).not.toContain('content-length');
    expect(headOf(r.text)).not.toContain('transfer-encoding');
    expect(r.text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('never sends both Content-Length and Transfer-Encoding', async () => {
    for (const path of ['/chunked', '/plain']) {
      const r = await req(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      const h = headOf(r.text);
      expect(h.includes('content-length') && h.includes('transfer-encoding')).toBe(false);
    }
  });
});

describe('hop-by-hop and forwarding fields', () => {
  it('drops hop-by-hop fields in both directions, including those named in Connection', async () => {
    const r = await req('GET /hop HTTP/1.1\r\nHost: a\r\nConnection: close, x-private\r\nx-private: p\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\r\n');
    const h = headOf(r.text);
    expect(h).not.toMatch(/\r\n(keep-alive|x-secret|proxy-connection):/);
    expect(h).toContain('\r\nx-kept: yes\r\n');
    const up = upA.requests.at(-1)!.toLowerCase();
    expect(up).not.toMatch(/\r\n(connection|keep-alive|x-private|te|proxy-connection|upgrade):/);
  });

  it('adds x-forwarded-*, via and keeps Host', async () => {
    const r = await req('GET /fwd HTTP/1.1\r\nHost: shop.test:8080\r\nX-Forwarded-For: 10.1.1.1\r\nVia: 1.0 edge\r\nConnection: close\r\n\r\n');
    const up = upstreamHead(r.text).toLowerCase();
    expect(up).toContain('\r\nhost: shop.test:8080\r\n');
    expect(up).toContain('\r\nx-forwarded-for: 10.1.1.1, 127.0.0.1\r\n');
    expect(up).toContain('\r\nx-forwarded-proto: http\r\n');
    expect(up).toContain('\r\nx-forwarded-host: shop.test:8080\r\n');
    expect(up).toContain('\r\nvia: 1.0 edge, 1.1 pillion\r\n');
    expect(up).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
  });

  it('applies route header edits and host_rewrite', async () => {
    const r = await req('GET /edit HTTP/1.1\r\nHost: a\r\nx-drop: 1\r\nConnection: close\r\n\r\n');
    const up = upstreamHead(r.text).toLowerCase();
    expect(up).toContain('\r\nhost: internal.svc\r\n');
    expect(up).toContain('\r\nx-added: yes\r\n');
    expect(up).not.toContain('x-drop');
    const h = headOf(r.text);
    expect(h).toContain('\r\nx-resp: r\r\n');
    expect(h).not.toContain('x-up');
  });
});

describe('100-continue', () => {
  it('tells the client to continue at once and forwards the body', async () => {
    // Send the head, then the body only after a 100 Continue has arrived.
    const { createConnection } = await import('node:net');
    const text = await new Promise<string>((resolve, reject) => {
      const s = createConnection(listen, '127.0.0.1');
      let got = '';
      let sentBody = false;
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (!sentBody && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          sentBody = true;
          s.write('hello');
        }
        if (sentBody && got.includes('\r\n\r\n/expect')) s.end();
      });
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.write('POST /expect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      setTimeout(() => s.destroy(), 3000);
    });
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
  });
});

describe('route matching through the proxy', () => {
  const upOf = (text: string) => /\r\nx-up: (\w)/i.exec(text)?.[1];
  it.each([
    ['method match', 'DELETE /m HTTP/1.1\r\nHost: a', 'b'],
    ['method mismatch falls through', 'GET /m HTTP/1.1\r\nHost: a', 'a'],
    ['exact header value', 'GET /h HTTP/1.1\r\nHost: a\r\nx-canary: 1', 'b'],
    ['header regex', 'GET /h HTTP/1.1\r\nHost: a\r\nx-version: v3', 'b'],
    ['header regex miss', 'GET /h HTTP/1.1\r\nHost: a\r\nx-version: v1', 'a'],
    ['wildcard host', 'GET /host HTTP/1.1\r\nHost: api.example.com:8080', 'b'],
    ['wildcard host needs a subdomain', 'GET /host HTTP/1.1\r\nHost: example.com', 'a'],
    ['path regex', 'GET /re/123 HTTP/1.1\r\nHost: a', 'b'],
    ['path regex is anchored', 'GET /re/123x HTTP/1.1\r\nHost: a', 'a'],
  ])('%s', async (_name, head, expected) => {
    const r = await req(`${head}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(upOf(r.text)).toBe(expected);
  });

  it('splits weighted clusters in proportion to weight', async () => {
    let a = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const r = await fetch(`http://127.0.0.1:${listen}/weighted`);
      await r.text();
      if (r.headers.get('x-up') === 'a') a++;
    }
    // 3:1 → 300 expected; binomial sd ≈ 8.7, so ±45 is over 5 sd.
    expect(a).toBeGreaterThan(255);
    expect(a).toBeLessThan(345);
  });
});
