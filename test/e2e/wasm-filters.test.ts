/**
 * WASM filters in the proxy, end to end: every built-in plugin through a real listener; a filter that
 * traps, throws or grows past max_memory answers 500 (or is skipped with fail_open) while the worker
 * lives on and the failure is counted; a filter rebuilt on disk is swapped in under load with no
 * failed request; a bad filter config stops start-up with the field's path.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCached } from '../../packages/sdk/test/helpers/compile-cached.js';
import { freePorts } from '../helpers/ports.js';
import { metric, runCli, startPillion, writeConfig, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const BEHAVIOURS = fileURLToPath(new URL('../../packages/workers/test/fixtures/behaviours.ts', import.meta.url));
const VERSION_TWO = fileURLToPath(new URL('../../packages/workers/test/fixtures/version-two.ts', import.meta.url));

async function upstream(port: number, name: string): Promise<Server> {
  const s = createServer((req, res) => {
    res.setHeader('x-upstream', name);
    res.setHeader('x-powered-by', 'node');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ upstream: name, headers: req.headers, url: req.url }));
  });
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return s;
}

describe('built-in plugins through the proxy', () => {
  let p: PillionProcess;
  let base: string;

  beforeAll(async () => {
    const [main, canary, listen, admin] = await freePorts(4);
    await upstream(main!, 'main');
    await upstream(canary!, 'canary');
    const route = (prefix: string) => ({ match: { prefix }, cluster: 'main' });
    p = await startPillion({
      workers: 2,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: listen,
          filters: [
            { plugin: 'cors', config: { allow_origins: ['https://app.example.com'], allow_methods: ['GET', 'POST'], max_age: 600 } },
            { plugin: 'header-rewrite', config: { request: { set: { 'x-env': 'prod' }, remove: ['x-internal-token'] }, response: { set: { 'cache-control': 'no-store' }, remove: ['x-powered-by'] } } },
            { plugin: 'canary', config: { cluster: 'canary', percent: 0, header: { name: 'x-canary', value: '1' } } },
            { plugin: 'api-key', config: { keys: ['k-1', 'k-2'] } },
            { plugin: 'local-rate-limit', config: { requests_per_second: 1, burst: 5 } },
          ],
          routes: [route('/')],
        },
      ],
      clusters: [
        { name: 'main', endpoints: [{ address: '127.0.0.1', port: main }] },
        { name: 'canary', endpoints: [{ address: '127.0.0.1', port: canary }] },
      ],
    });
    cleanup.push(() => p.stop());
    base = `http://127.0.0.1:${listen}`;
  });

  it('api-key refuses a request without a key and strips the key from one with it', async () => {
    const denied = await fetch(`${base}/x`);
    expect(denied.status).toBe(401);
    const ok = await fetch(`${base}/x`, { headers: { 'x-api-key': 'k-2', 'x-internal-token': 'secret' } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { headers: Record<string, string | undefined> };
    expect(body.headers['x-api-key']).toBeUndefined();
    // header-rewrite on both sides
    expect(body.headers['x-env']).toBe('prod');
    expect(body.headers['x-internal-token']).toBeUndefined();
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('x-powered-by')).toBeNull();
  });

  it('canary sends a request with the header to the canary cluster', async () => {
    const r = await fetch(`${base}/x`, { headers: { 'x-api-key': 'k-1', 'x-canary': '1' } });
    expect(((await r.json()) as { upstream: string }).upstream).toBe('canary');
    const plain = await fetch(`${base}/x`, { headers: { 'x-api-key': 'k-1' } });
    expect(((await plain.json()) as { upstream: string }).upstream).toBe('main');
  });

  it('cors answers a preflight itself', async () => {
    const r = await fetch(`${base}/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(r.status).toBeLessThan(300);
    expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(r.headers.get('x-upstream')).toBeNull();
  });

  it('local-rate-limit shares one bucket across both workers and answers 429 with retry-after', async () => {
    // burst 5 at 1/s; fresh connections spread over both workers. Earlier tests used some tokens.
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 20; i++) {
      const agent = new Agent({ pipelining: 0 });
      const r = await request(`${base}/x`, { headers: { 'x-api-key': 'k-1' }, dispatcher: agent });
      await r.body.text();
      statuses.push(r.statusCode);
      if (r.statusCode === 429) retryAfter = r.headers['retry-after'] as string;
      await agent.close();
    }
    const passed = statuses.filter((s) => s === 200).length;
    expect(passed).toBeLessThanOrEqual(6);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(14);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const text = await p.metrics();
    expect(metric(text, 'pillion_worker_requests_total', { worker: '0' })).toBeGreaterThan(0);
    expect(metric(text, 'pillion_worker_requests_total', { worker: '1' })).toBeGreaterThan(0);
  });
});

describe('failing filters', () => {
  let p: PillionProcess;
  let base: string;
  let wasmFile: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pillion-filter-'));
    wasmFile = join(dir, 'behaviours.wasm');
    writeFileSync(wasmFile, await compileCached(BEHAVIOURS));
    const [up, listen, admin] = await freePorts(3);
    await upstream(up!, 'u');
    p = await startPillion({
      workers: 1,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [
        { name: 'strict', protocol: 'http', port: listen, filters: [{ wasm: wasmFile, name: 'b', config: { tag: 'one' }, max_memory: '2MiB' }], routes: [{ match: { prefix: '/' }, cluster: 'c' }] },
      ],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    cleanup.push(() => p.stop());
    base = `http://127.0.0.1:${listen}`;
  }, 120_000);

  it('runs the filter on both directions', async () => {
    const r = await fetch(`${base}/a`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-filter-response')).toBe('one 200');
    expect(((await r.json()) as { headers: Record<string, string> }).headers['x-filter']).toBe('one');
  });

  it.each([
    ['a trap', { 'x-trap': '1' }],
    ['an exception', { 'x-throw': '1' }],
    ['memory past max_memory', { 'x-grow': String(4 * 1024 * 1024) }],
  ])('answers 500 on %s, counts it, and the next request works', async (_name, headers) => {
    const before = metric(await p.metrics(), 'pillion_wasm_filter_errors_total', { filter: 'strict/b' }) ?? 0;
    const r = await fetch(`${base}/boom`, { headers });
    expect(r.status).toBe(500);
    const ok = await fetch(`${base}/fine`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-filter-response')).toBe('one 200');
    // Counters reach the supervisor within a second.
    let after = before;
    await waitFor(async () => (after = metric(await p.metrics(), 'pillion_wasm_filter_errors_total', { filter: 'strict/b' }) ?? 0) !== before, {
      timeoutMs: 3000,
      intervalMs: 100,
      message: 'the error counter to move',
    });
    expect(after).toBe(before + 1);
    expect(p.output()).toMatch(/"filter":"b".*"msg":"filter failed"/);
  });

  it('reports the filter\'s own counters in /metrics', async () => {
    const seen = await waitFor(async () => metric(await p.metrics(), 'pillion_wasm_filter_metric', { filter: 'strict/b', metric: 'requests_seen' }), {
      timeoutMs: 3000,
      intervalMs: 100,
      message: 'requests_seen in /metrics',
    });
    expect(seen).toBeGreaterThan(0);
  });

  it('swaps a rebuilt .wasm under load without failing a request', async () => {
    const next = join(dir, 'version-two.wasm');
    writeFileSync(next, await compileCached(VERSION_TWO));
    let failures = 0;
    let answered = 0;
    let sawOld = false;
    let sawNew = false;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        try {
          const r = await fetch(`${base}/load`);
          if (r.status !== 200) failures++;
          const tag = ((await r.json()) as { headers: Record<string, string> }).headers['x-filter'];
          answered++;
          if (tag === 'one') sawOld = true;
          if (tag === 'two') sawNew = true;
        } catch {
          failures++;
        }
      }
    })();
    await waitFor(() => answered >= 20, { message: 'the load to be under way' });
    // A build tool writing the new module in place of the old one.
    copyFileSync(next, wasmFile);
    await waitFor(() => sawNew, { message: 'an answer from the new module' });
    const swappedAt = answered;
    await waitFor(() => answered >= swappedAt + 50, { message: '50 answers after the swap' });
    stop = true;
    await load;
    expect(sawOld).toBe(true);
    expect(sawNew).toBe(true);
    expect(failures).toBe(0);
    expect(p.output()).toContain('filter file changed; reloading its filters');
  });
});

describe('bad filter config', () => {
  it('stops start-up with the path of the filter', async () => {
    const [listen, admin] = await freePorts(2);
    const dir = mkdtempSync(join(tmpdir(), 'pillion-filter-'));
    const wasm = join(dir, 'b.wasm');
    writeFileSync(wasm, await compileCached(BEHAVIOURS));
    const file = writeConfig({
      admin: { port: admin },
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: listen,
          filters: [{ wasm, config: { reject: true } }, { plugin: 'no-such-plugin' }, { wasm: join(dir, 'missing.wasm') }],
          routes: [{ match: { prefix: '/' }, cluster: 'c' }],
        },
      ],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 1 }] }],
    });
    const r = await runCli(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('listeners[0].filters[0].config: the filter refused its config');
    expect(r.stderr).toContain('listeners[0].filters[1].plugin: unknown plugin "no-such-plugin"');
    expect(r.stderr).toContain('listeners[0].filters[2].wasm: cannot read');
  }, 60_000);
});
