// The HTTP/2 bench scenarios (h2-to-http1, h2-to-h2): h2load's arguments and summary, the error
// count, the peers' HTTP/2 configs, the rows and the notes, as tables. The runs against real h2load
// and nginx are in test/interop/bench-h2load.interop.ts.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { h2loadArgs, h2loadErrors, latenciesOf, parseH2load, requestsFor } from '../bench/lib/h2-load.js';
import { h2UpstreamConfig } from '../bench/lib/h2-upstream.js';
import { h2Status } from '../bench/lib/net.js';
import { H2_METHOD, TLS_METHOD, describeLoad, renderMarkdown } from '../bench/lib/report-markdown.js';
import { compareRows } from '../bench/lib/run-scenario.js';
import { haproxyConfig } from '../bench/peers/haproxy.js';
import { PEER_KINDS, peerVariants } from '../bench/peers/index.js';
import { nginxConfig } from '../bench/peers/nginx.js';
import { pillionConfig, pillionFromTree } from '../bench/peers/pillion.js';
import { clientBoundLine, connectionsTo, errorsLine, h2PillionConfig, h2Variants } from '../bench/scenarios/_h2.js';
import { loadScenarios } from '../bench/scenarios/index.js';

const summary = (o: { total: number; done: number; succeeded: number; failed: number; errored: number; timeout: number }, s: number[]) =>
  [
    'starting benchmark...',
    'spawning thread #0: 10 total client(s). 400000 total requests',
    'Application protocol: h2c',
    '',
    'finished in 2.00s, 89346.86 req/s, 7.07MB/s',
    `requests: ${o.total} total, ${o.done + 100} started, ${o.done} done, ${o.succeeded} succeeded, ${o.failed} failed, ${o.errored} errored, ${o.timeout} timeout`,
    `status codes: ${s[0]} 2xx, ${s[1]} 3xx, ${s[2]} 4xx, ${s[3]} 5xx`,
    'traffic: 14.15MB (14834890) total, 8.86MB (9293960) headers (space savings 27.78%), 2.22MB (2323490) data',
  ].join('\n');

const sample = (o: Record<string, unknown> = {}) => ({
  rps: 100, p50: 1, p99: 2, errors: 0, requests: 1000, seconds: 10, cpuPer10k: 0.5, rssKiB: 2048, upstreamCpuPer10k: 0.1, loadCpu: 0.5, ...o,
});

describe('h2load', () => {
  it('is asked for a fixed count (measured runs) or a duration (warm-up), one thread, a silent connection closed', () => {
    expect(h2loadArgs({ url: 'http://127.0.0.1:8080/', connections: 10, streams: 10, requests: 5000, logFile: '/t/log' })).toEqual([
      '-n', '5000', '-c', '10', '-m', '10', '-t', '1', '-N', '5', '--log-file=/t/log', 'http://127.0.0.1:8080/',
    ]);
    expect(h2loadArgs({ url: 'http://x/', connections: 2, streams: 3, seconds: 4 })).toEqual(['-D', '4', '-c', '2', '-m', '3', '-t', '1', '-N', '5', 'http://x/']);
  });

  it('reads the summary, and counts every request not answered 2xx as an error', () => {
    // A proxy SIGKILLed 2 s into a run of 400,000 requests, as h2load printed it.
    const killed = parseH2load(summary({ total: 400_000, done: 178_730, succeeded: 178_730, failed: 221_270, errored: 221_270, timeout: 0 }, [178_730, 0, 0, 0]));
    expect(killed.seconds).toBe(2);
    expect(killed.requests).toMatchObject({ total: 400_000, done: 178_730, failed: 221_270, errored: 221_270 });
    expect(h2loadErrors(killed)).toBe(221_270);
    const clean = parseH2load(summary({ total: 1000, done: 1000, succeeded: 1000, failed: 0, errored: 0, timeout: 0 }, [1000, 0, 0, 0]));
    expect(h2loadErrors(clean)).toBe(0);
    // 3xx is a success to h2load and an error to the bench; 5xx is both.
    const mixed = parseH2load(summary({ total: 1000, done: 1000, succeeded: 990, failed: 10, errored: 0, timeout: 0 }, [985, 5, 0, 10]));
    expect(h2loadErrors(mixed)).toBe(15);
    expect(parseH2load('finished in 19.24ms, 1 req/s\nrequests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout\nstatus codes: 1 2xx, 0 3xx, 0 4xx, 0 5xx').seconds).toBeCloseTo(0.01924);
    expect(() => parseH2load('h2load: unrecognized option')).toThrow('h2load printed no summary:\nh2load: unrecognized option');
  });

  it('takes latencies of 2xx answers only from the log file', () => {
    const h = latenciesOf('1795986544155667\t0\t2463\n1795986544155688\t200\t1500\n1795986544155698\t200\t2500\n1795986544155699\t503\t90000\n');
    expect(h.total).toBe(2);
    expect(h.percentile(50)).toBe(1.5);
    expect(h.percentile(99)).toBeCloseTo(2.5, 2);
    expect(latenciesOf('').total).toBe(0);
  });

  it.each([
    [undefined, 10, 1000],
    [0, 10, 1000],
    [50_000.4, 10, 500_004],
    [250, 3, 1000],
  ])('requestsFor(%j req/s, %j s) = %j', (rate, seconds, want) => {
    expect(requestsFor(rate, seconds)).toBe(want);
  });
});

describe('HTTP/2 peers', () => {
  const base = { port: 8080, adminPort: 9901, upstream: { host: '127.0.0.1', port: 9001 }, workers: 1, accessLogOff: true };

  it('configures Pillion with an h2c listener, and an h2c cluster for an HTTP/2 upstream', () => {
    const plain = pillionConfig(base);
    const toHttp1 = h2PillionConfig(plain, 'http1');
    expect((toHttp1.listeners as Record<string, unknown>[])[0].codec).toBe('h2c');
    expect(toHttp1.clusters).toEqual(plain.clusters);
    const toH2 = h2PillionConfig(plain, 'h2c');
    expect(toH2.clusters).toEqual([{ name: 'up', endpoints: [{ address: '127.0.0.1', port: 9001 }], protocol: 'h2c' }]);
    expect((plain.listeners as Record<string, unknown>[])[0]).not.toHaveProperty('codec');
  });

  it('configures nginx: listen http2, proxy_pass over HTTP/1.1 or grpc_pass to HTTP/2', () => {
    const o = { dir: '/d', port: 8080, upstream: base.upstream, workers: 1 };
    const toHttp1 = nginxConfig({ ...o, http2: { upstream: 'http1' } });
    expect(toHttp1).toContain('listen 127.0.0.1:8080 http2 reuseport;');
    expect(toHttp1).toContain('proxy_pass http://up;');
    expect(toHttp1).not.toContain('grpc_pass');
    const toH2 = nginxConfig({ ...o, http2: { upstream: 'h2c' } });
    expect(toH2).toContain('listen 127.0.0.1:8080 http2 reuseport;');
    expect(toH2).toMatch(/location \/ \{\n\s+grpc_pass grpc:\/\/up;\n\s+\}/);
    expect(toH2).toContain('keepalive 128;');
    expect(toH2).not.toContain('proxy_pass');
    expect(nginxConfig(o)).toContain('listen 127.0.0.1:8080 reuseport;');
  });

  it('configures HAProxy: bind proto h2, and server proto h2 for an HTTP/2 upstream', () => {
    const o = { port: 8080, upstream: base.upstream, workers: 1 };
    expect(haproxyConfig({ ...o, http2: { upstream: 'http1' } })).toContain('bind 127.0.0.1:8080 proto h2\n');
    expect(haproxyConfig({ ...o, http2: { upstream: 'http1' } })).toContain('server up1 127.0.0.1:9001\n');
    expect(haproxyConfig({ ...o, http2: { upstream: 'h2c' } })).toContain('server up1 127.0.0.1:9001 proto h2\n');
    expect(haproxyConfig(o)).not.toContain('proto h2');
  });

  it('configures the HTTP/2 upstream: nginx, cleartext HTTP/2, 13 bytes, long-lived sessions', () => {
    const c = h2UpstreamConfig({ dir: '/u', port: 7000 });
    expect(c).toContain('listen 127.0.0.1:7000 http2;');
    expect(c).toContain('return 200 "Hello, World!";');
    expect(c).toContain('keepalive_requests 1000000;');
    expect(c).toContain('worker_processes 1;');
  });

  it('rows: one-worker Pillion, nginx and HAProxy, a baseline twin, and direct only where asked', () => {
    const ready = peerVariants(PEER_KINDS, 2).map((v) => ({ ...v, version: '', facts: {} }));
    expect(h2Variants(ready, 'http1', { direct: false }).map((v) => v.id)).toEqual(['pillion-1', 'nginx-1', 'haproxy-1']);
    expect(h2Variants(ready, 'h2c', { direct: true }).map((v) => v.id)).toEqual(['direct', 'pillion-1', 'nginx-1', 'haproxy-1']);
    const twinKind = pillionFromTree('pillion', { root: '/tmp/x', commit: { ref: 'HEAD~1', sha: 'a'.repeat(40), short: 'aaaaaaa' } });
    const twin = { id: 'pillion-1@aaaaaaa', kind: twinKind, workers: 1, version: '', facts: {}, twinOf: 'pillion-1' };
    const rows = h2Variants([...ready, twin], 'http1', { direct: false });
    expect(rows.map((v) => v.id)).toContain('pillion-1@aaaaaaa');
    // The row keeps its kind's name (the tables group by it); only start is wrapped.
    expect(rows.map((v) => v.kind.name)).toEqual(['pillion', 'nginx', 'haproxy', 'pillion@aaaaaaa']);
  });

  it('are listed with their upstream protocol, the HTTP/2 load, and their own measure and warm-up', async () => {
    const all = await loadScenarios();
    const h2 = all.filter((s) => s.http2);
    expect(h2.map((s) => [s.name, s.http2?.upstream, s.load.streams, typeof s.measure, typeof s.warm])).toEqual([
      ['h2-to-http1', 'http1', 10, 'function', 'function'],
      ['h2-to-h2', 'h2c', 10, 'function', 'function'],
    ]);
  });

  it('checks readiness over h2c, and takes an HTTP/1.1-only port as not ready', async () => {
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': headers[':path'] === '/' ? 200 : 404 });
      stream.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await h2Status(`http://127.0.0.1:${port}/`)).toBe(200);
      expect(await h2Status(`http://127.0.0.1:${port}/nope`)).toBe(404);
    } finally {
      server.close();
    }
    expect(await h2Status(`http://127.0.0.1:${port}/`)).toBeNull();
  });
});

describe('HTTP/2 notes', () => {
  it('sums every error over the runs, so one bad run of three shows', () => {
    const bad = sample({ errors: 120, extra: { failed: 120, errored: 100, timeout: 100, status3xx: 0, status4xx: 0, status5xx: 20 } });
    const line = errorsLine([
      { id: 'pillion-1', samples: [sample(), bad, sample()] as never },
      { id: 'nginx-1', samples: [sample(), sample()] as never },
    ]);
    expect(line).toBe(
      '**Errors** (summed over the runs; the table\'s errors column is the median run): pillion-1 in 1 of 3 runs: 120 requests not answered 2xx ' +
        '(h2load: 120 failed (100 errored, 100 timed out); 0 4xx, 20 5xx).',
    );
    const killed = errorsLine([{ id: 'haproxy-1', samples: [sample({ errors: 5000, extra: { asked: 5000, killed: 1 } })] as never }]);
    expect(killed).toContain('haproxy-1 in 1 of 1 runs: 5,000 requests not answered 2xx (h2load: 0 failed (0 errored, 0 timed out); h2load killed after running too long in 1 run)');
    expect(errorsLine([{ id: 'nginx-1', samples: [sample(), sample()] as never }])).toBe(
      'Errors: none (h2load counted 0 failed and 0 errored requests, every answer 2xx, in all 2 runs).',
    );
  });

  it('says when h2load set the pace', () => {
    expect(clientBoundLine([{ id: 'haproxy-1', samples: [sample({ loadCpu: 0.9 })] as never }])).toBe(
      'h2load (one thread) used 90% of a core on haproxy-1: there it, not the proxy, set the pace, so compare by CPU per request.',
    );
    expect(clientBoundLine([{ id: 'haproxy-1', samples: [sample({ loadCpu: 0.5 })] as never }])).toBeNull();
  });

  it('counts established connections to a port from /proc/net/tcp', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:D431 0100007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:D432 0100007F:1B58 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1',
      '   3: 0100007F:D433 0100007F:1B58 06 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1',
      '   4: 0100007F:1B58 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    expect(connectionsTo(7000, table)).toBe(2);
    expect(connectionsTo(7001, table)).toBe(0);
  });

  it('describes the HTTP/2 load and its method in the doc', () => {
    expect(describeLoad({ connections: 10, path: '/', streams: 10 })).toBe('GET / over cleartext HTTP/2 (h2load), 10 connections × 10 concurrent streams');
    const row = (id: string, kind: string) => ({
      id, kind, workers: 1, samples: [], summary: { rps: 1, p50: 1, p99: 1, errors: 0, cpuPer10k: 0.1, idleRssKiB: null, loadRssKiB: null, rssKiB: null },
    });
    const scenario = (name: string, load: Record<string, unknown>) => ({
      name, title: name, load, date: '2030-01-01T00:00:00.000Z', settings: { duration: 10, warmup: 2, repeats: 3 }, skipped: [],
      rows: compareRows([row('nginx-1', 'nginx')] as never),
    });
    const res = {
      date: '2030-01-01T00:00:00.000Z', quick: false,
      machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux', os: 'Debian 12', node: 'v20', loadAverage: [0, 0, 0] },
      versions: {}, peers: {}, absent: [],
      scenarios: [scenario('h2-to-http1', { connections: 10, path: '/', streams: 10 })],
    };
    const md = renderMarkdown(res as never);
    expect(md).toContain(H2_METHOD);
    expect(md).not.toContain(TLS_METHOD);
    expect(md).toContain('GET / over cleartext HTTP/2 (h2load), 10 connections × 10 concurrent streams; 3 rounds of 10 s');
    expect(renderMarkdown({ ...res, scenarios: [scenario('hello-world', { connections: 50, path: '/' })] } as never)).not.toContain(H2_METHOD);
  });
});
