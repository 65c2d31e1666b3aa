/**
 * Filters written for Envoy's proxy-wasm ABI, through a real Pillion with 1 and 2 workers, beside the
 * pipeline's routing, local replies, metrics and fail_open: header rewrites both ways, a local 403,
 * bodies buffered and rewritten, properties read back, a trapping filter (500, or skipped with
 * fail_open, and a fresh VM for the next request), shared data counted with compare-and-swap across
 * workers, shared queue items delivered to the queue's owner, a tick timer and filter-defined metrics
 * on /metrics, and config errors by field path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyWasmFixtureBytes } from '../../packages/workers/test/proxy-wasm-fixtures.js';
import { freePorts } from '../helpers/ports.js';
import { metric, runCli, startPillion, writeConfig, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

let wasmFile: string;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-proxy-wasm-'));
  wasmFile = join(dir, 'filters.wasm');
  writeFileSync(wasmFile, await proxyWasmFixtureBytes());
}, 60_000);

/** Echoes what it got: headers, path and body, as JSON; x-powered-by for the response rewrite. */
async function echoUpstream(port: number): Promise<Server> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('x-powered-by', 'node');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ headers: req.headers, url: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return s;
}

/** One request on a fresh connection (so requests spread over the workers). */
async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body, dispatcher: agent });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  } finally {
    await agent.close();
  }
}

const echoed = (text: string) => JSON.parse(text) as { headers: Record<string, string>; url: string; body: string };

describe.each([1, 2])('proxy-wasm filters with %i worker(s)', (workers) => {
  let p: PillionProcess;
  let base: string;

  beforeAll(async () => {
    const [up, web, body, trap, open, admin] = await freePorts(6);
    await echoUpstream(up!);
    const route = [{ match: { prefix: '/' }, cluster: 'echo' }];
    const filter = (name: string, extra: Record<string, unknown> = {}) => ({ wasm: wasmFile, name, root_id: name, ...extra });
    p = await startPillion({
      workers,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: web,
          filters: [
            filter('deny'),
            filter('rewrite', { config: { mode: 'json' } }),
            filter('props'),
            filter('shared'),
            filter('metrics'),
            filter('tick', { config: '20' }),
            filter('queue', { shared_queues: { queues: 2, items: 64, item_bytes: 64 } }),
          ],
          routes: route,
        },
        { name: 'body', protocol: 'http', port: body, filters: [filter('body', { buffer_body: ['request', 'response'] })], routes: route },
        { name: 'trap', protocol: 'http', port: trap, filters: [filter('trap')], routes: route },
        { name: 'open', protocol: 'http', port: open, filters: [filter('trap', { fail_open: true })], routes: route },
      ],
      clusters: [{ name: 'echo', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    cleanup.push(() => p.stop());
    base = `http://127.0.0.1:${web}`;
    ports = { body: body!, trap: trap!, open: open! };
  }, 60_000);
  let ports: { body: number; trap: number; open: number };

  it('rewrites request headers (and :path) and response headers; config objects arrive as JSON', async () => {
    const r = await send(`${base}/rewrite-me/a?b=1`, { headers: { 'x-replace-me': 'old', 'x-remove-me': '1' } });
    expect(r.status).toBe(200);
    const up = echoed(r.text);
    expect(up.url).toBe('/rewritten/a?b=1');
    expect(up.headers['x-proxy-wasm']).toBe('added');
    expect(up.headers['x-replace-me']).toBe('replaced');
    expect(up.headers['x-remove-me']).toBeUndefined();
    expect(up.headers['x-config']).toBe('{"mode":"json"}');
    expect(r.headers['x-proxy-wasm-response']).toBe('yes');
    expect(r.headers['x-seen-status']).toBe('200');
    expect(r.headers['x-powered-by']).toBeUndefined();
  });

  it('answers with a local response: status, body and headers, decorated by the response phase', async () => {
    const r = await send(`${base}/x`, { headers: { 'x-deny': '1' } });
    expect(r.status).toBe(403);
    expect(r.text).toBe('forbidden by proxy-wasm\n');
    expect(r.headers['x-denied-by']).toBe('proxy-wasm');
    expect(r.headers['content-type']).toBe('text/plain');
    // Filters before the one that answered see the reply as the response; those after never saw the request.
    expect(r.headers['x-deny-filter-saw-response']).toBe('yes');
    expect(r.headers['x-proxy-wasm-response']).toBeUndefined();
  });

  it('reads properties', async () => {
    const r = await send(`${base}/props/x?q=1`, { headers: { 'user-agent': 'e2e/1' } });
    const h = echoed(r.text).headers;
    expect(h['x-prop-path']).toBe('/props/x?q=1');
    expect(h['x-prop-url-path']).toBe('/props/x');
    expect(h['x-prop-method']).toBe('GET');
    expect(h['x-prop-source']).toBe('127.0.0.1');
    expect(h['x-prop-root-id']).toBe('props');
    expect(h['x-prop-name']).toBe('props');
    expect(h['x-prop-ua']).toBe('e2e/1');
    expect(h['x-prop-mtls']).toBe('00');
    expect(Math.abs(Number(h['x-now-ms']) - Date.now())).toBeLessThan(60_000);
  });

  it('buffers bodies for a filter with buffer_body and forwards what it wrote', async () => {
    const r = await send(`http://127.0.0.1:${ports.body}/b`, { method: 'POST', body: 'hello body', headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(200);
    // The upstream got the rewritten request body; the response body was rewritten on the way back.
    expect(r.text).toContain('"BODY":"HELLO BODY"');
    expect(r.text).toContain('"X-APPEND-STATUS":"2"');
    expect(r.headers['x-powered-by']).toBe('node');
  });

  it('a trapping filter answers 500 and the next request gets a fresh VM; with fail_open it is skipped', async () => {
    const trap = `http://127.0.0.1:${ports.trap}`;
    const before = metric(await p.metrics(), 'pillion_wasm_filter_errors_total', { filter: 'trap/trap' }) ?? 0;
    const bad = await send(`${trap}/t`, { headers: { 'x-trap': '1' } });
    expect(bad.status).toBe(500);
    const next = await send(`${trap}/t`);
    expect(next.status).toBe(200);
    // A fresh VM in whichever worker took it: the failed one was replaced, the other never served this listener.
    expect(echoed(next.text).headers['x-vm-requests']).toBe('1');
    const exited = await send(`${trap}/t`, { headers: { 'x-exit': '1' } });
    expect(exited.status).toBe(500);
    const open = await send(`http://127.0.0.1:${ports.open}/t`, { headers: { 'x-trap': '1' } });
    expect(open.status).toBe(200);
    expect(echoed(open.text).headers['x-vm-requests']).toBeUndefined();
    await waitFor(async () => (metric(await p.metrics(), 'pillion_wasm_filter_errors_total', { filter: 'trap/trap' }) ?? 0) >= before + 2, {
      message: 'the two failures counted',
    });
    await waitFor(async () => (metric(await p.metrics(), 'pillion_wasm_filter_errors_total', { filter: 'open/trap' }) ?? 0) >= 1, {
      message: 'the fail_open failure counted',
    });
  });

  it('shares data across workers with compare-and-swap: every request sees its own count', async () => {
    const served = async () => {
      const text = await p.metrics();
      return Array.from({ length: workers }, (_, w) => metric(text, 'pillion_worker_requests_total', { worker: String(w) }) ?? 0);
    };
    const before = await served();
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) counts.push(Number(echoed((await send(`${base}/s`)).text).headers['x-shared-count']));
    // Stores per worker would hand out the same count twice; one store hands out 20 in a row.
    const start = Math.min(...counts);
    expect(counts.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => start + i));
    // ... and every worker served some of those 20 requests.
    const after = await served();
    for (let w = 0; w < workers; w++) expect(after[w]! - before[w]!).toBeGreaterThan(0);
  });

  it('hands shared queue items to the VM that registered the queue last, whatever worker enqueued them', async () => {
    const before = metric(await p.metrics(), 'pillion_wasm_filter_metric', { filter: 'web/queue', metric: 'queue_items' }) ?? 0;
    for (let i = 0; i < 10; i++) {
      const h = echoed((await send(`${base}/q`, { headers: { 'x-job': `job-${i}` } })).text).headers;
      expect(h['x-enqueue-status']).toBe('0');
      expect(h['x-queue-resolved']).toBe('yes');
    }
    // Every request above went through the queue filter too (before this test's, earlier ones did).
    await waitFor(async () => (metric(await p.metrics(), 'pillion_wasm_filter_metric', { filter: 'web/queue', metric: 'queue_items' }) ?? 0) >= before + 10, {
      message: 'the ten items dequeued',
    });
  });

  it('publishes metrics the filter defines, and ticks from proxy_on_tick', async () => {
    await send(`${base}/m`, { headers: { 'x-size': '42' } });
    await waitFor(async () => (metric(await p.metrics(), 'pillion_wasm_filter_metric', { filter: 'web/metrics', metric: 'request_bytes_sum' }) ?? 0) >= 42, {
      message: 'the histogram sum on /metrics',
    });
    const text = await p.metrics();
    expect(metric(text, 'pillion_wasm_filter_metric', { filter: 'web/metrics', metric: 'proxy_requests_seen' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'pillion_wasm_filter_metric', { filter: 'web/metrics', metric: 'contexts_deleted' })).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (metric(await p.metrics(), 'pillion_wasm_filter_metric', { filter: 'web/tick', metric: 'ticks' }) ?? 0) >= workers * 3, {
      message: 'ticks counted on /metrics',
    });
  });
});

describe('proxy-wasm config errors', () => {
  it('stop start-up with the field path: a refused config, and proxy-wasm settings on a Pillion SDK module', async () => {
    const [listen, admin] = await freePorts(2);
    const pillionModule = fileURLToPath(new URL('../../packages/plugins/dist/header-rewrite.wasm', import.meta.url));
    const file = writeConfig({
      admin: { port: admin },
      listeners: [
        {
          name: 'l',
          protocol: 'http',
          port: listen,
          filters: [
            { wasm: wasmFile, root_id: 'rewrite', config: 'reject' },
            { wasm: pillionModule, root_id: 'x' },
          ],
          routes: [{ match: { prefix: '/' }, cluster: 'c' }],
        },
      ],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 2 }] }],
    });
    const r = await runCli(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('listeners[0].filters[0].config: the proxy-wasm filter (ABI 0.2.1) refused its config or could not start: config: proxy_on_configure returned false');
    expect(r.stderr).toContain('listeners[0].filters[1].root_id: applies only to proxy-wasm modules');
  }, 60_000);
});
