/**
 * Distributed tracing end to end (issue 16), with a real OTLP/HTTP receiver in the test decoding the
 * JSON payloads: an incoming W3C context is continued and the upstream sees the proxy's CLIENT span
 * as its parent; a retried request gives one SERVER span and a CLIENT span per attempt; two Pillions
 * in a row give one trace of four spans; with ratio 0 and `errors: true` only a failed request's
 * spans are exported while the flags upstream say not sampled; B3 in and out; an exporter pointing at
 * a closed port, or one that never answers, costs requests nothing and its failures are counted; the
 * ratio changes with a reload.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Attr {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
}
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attr[];
  status: { code: number; message?: string };
}

const attr = (s: ReceivedSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue)));
};
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

async function listen(port: number, handler: (req: import('node:http').IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return s;
}

/** An OTLP/HTTP receiver: POST /v1/traces with an ExportTraceServiceRequest in JSON. */
async function receiver(port: number) {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  await listen(port, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      contentTypes.push(String(req.headers['content-type']));
      const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: Attr[] }; scopeSpans: { spans: Omit<ReceivedSpan, 'service'>[] }[] }[] };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue!;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ service, ...s });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return { spans, contentTypes, trace: (traceId: string) => spans.filter((s) => s.traceId === traceId) };
}

/** An upstream that records each request's fields and answers `status(path)`. */
async function upstream(port: number, status: (path: string) => number = () => 200) {
  const seen: IncomingHttpHeaders[] = [];
  await listen(port, (req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.statusCode = status(req.url ?? '/');
      res.end('ok');
    });
  });
  return seen;
}

async function pillion(config: Record<string, unknown>): Promise<PillionProcess> {
  const p = await startPillion({ workers: 1, access_log: { enabled: false }, ...config } as never, { args: ['--no-watch'] });
  cleanup.push(() => p.stop());
  return p;
}

const tracing = (otlpPort: number, extra: Record<string, unknown> = {}) => ({
  otlp: { endpoint: `http://127.0.0.1:${otlpPort}/v1/traces`, batch: { interval: '20ms' } },
  ...extra,
});

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const P = '00f067aa0ba902b7';

describe('tracing', () => {
  it('continues an incoming sampled traceparent; the upstream sees the CLIENT span as parent', async () => {
    const [otlp, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    const rx = await receiver(otlp);
    const seen = await upstream(up);
    const p = await pillion({
      admin: { port: admin },
      access_log: { enabled: true },
      tracing: tracing(otlp, { sampling: { ratio: 0 } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ name: 'api', match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    const r = await fetch(`http://127.0.0.1:${web}/items/7?q=1`, { headers: { traceparent: `00-${T}-${P}-01`, tracestate: 'vendor=abc', 'x-request-id': 'req-1' } });
    expect(r.status).toBe(200);
    await r.text();
    const spans = await waitFor(() => rx.trace(T).length === 2 && rx.trace(T), { message: 'two spans of the trace' });
    expect(rx.contentTypes[0]).toBe('application/json');
    const server = spans.find((s) => s.kind === SERVER)!;
    const client = spans.find((s) => s.kind === CLIENT)!;
    expect(server.parentSpanId).toBe(P);
    expect(server.name).toBe('GET api');
    expect(client.parentSpanId).toBe(server.spanId);
    expect(server.status.code).toBe(0);
    expect(server.service).toBe('pillion');
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(client.endTimeUnixNano));
    expect(BigInt(client.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
    expect({
      method: attr(server, 'http.request.method'),
      path: attr(server, 'url.path'),
      route: attr(server, 'http.route'),
      status: attr(server, 'http.response.status_code'),
      port: attr(server, 'server.port'),
      client: attr(server, 'client.address'),
      peer: attr(server, 'network.peer.address'),
      cluster: attr(server, 'pillion.cluster'),
      bytesOut: attr(server, 'http.response.body.size'),
    }).toEqual({ method: 'GET', path: '/items/7', route: 'api', status: 200, port: web, client: '127.0.0.1', peer: '127.0.0.1', cluster: 'c', bytesOut: 2 });
    expect({
      endpoint: attr(client, 'pillion.endpoint'),
      attempt: attr(client, 'pillion.attempt'),
      address: attr(client, 'server.address'),
      port: attr(client, 'server.port'),
      status: attr(client, 'http.response.status_code'),
    }).toEqual({ endpoint: `127.0.0.1:${up}`, attempt: 0, address: '127.0.0.1', port: up, status: 200 });
    expect(seen[0]!.traceparent).toBe(`00-${T}-${client.spanId}-01`);
    expect(seen[0]!.tracestate).toBe('vendor=abc');
    expect(seen[0]!['x-request-id']).toBe('req-1');
    const line = await waitFor(() => p.output().split('\n').find((l) => l.includes('"request_id":"req-1"')), { message: 'the access log line' });
    expect(JSON.parse(line).trace_id).toBe(T);
    expect(metric(await p.metrics(), 'pillion_tracing_spans_exported_total', { listener: 'web' })).toBe(2);
  });

  it('a retried request: one SERVER span, one CLIENT span per attempt', async () => {
    const [otlp, bad, good, web, admin] = (await freePorts(5)) as [number, number, number, number, number];
    const rx = await receiver(otlp);
    const badSeen = await upstream(bad, () => 503);
    const goodSeen = await upstream(good);
    await pillion({
      admin: { port: admin },
      tracing: tracing(otlp, { sampling: { ratio: 1 } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ name: 'r', match: { prefix: '/' }, cluster: 'c', retry: { attempts: 1, on: ['503'], backoff: { base: '1ms', max: '2ms' } } }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: bad }, { address: '127.0.0.1', port: good }] }],
    });
    // Round robin: within two requests one meets the 503 endpoint first and is retried on the other.
    for (let i = 0; i < 2 && badSeen.length === 0; i++) {
      const r = await fetch(`http://127.0.0.1:${web}/x`);
      expect(r.status).toBe(200);
      await r.text();
    }
    expect(badSeen.length).toBe(1);
    const retried = await waitFor(() => rx.spans.find((s) => s.kind === CLIENT && attr(s, 'pillion.attempt') === 1), { message: 'the second attempt' });
    const spans = await waitFor(() => rx.trace(retried.traceId).length === 3 && rx.trace(retried.traceId), { message: 'the retried trace' });
    const server = spans.filter((s) => s.kind === SERVER);
    const clients = spans.filter((s) => s.kind === CLIENT).sort((a, b) => Number(attr(a, 'pillion.attempt')) - Number(attr(b, 'pillion.attempt')));
    expect(server.length).toBe(1);
    expect(server[0]!.parentSpanId).toBeUndefined();
    expect(attr(server[0]!, 'http.response.status_code')).toBe(200);
    expect(server[0]!.status.code).toBe(0);
    expect(clients.map((c) => [c.parentSpanId, attr(c, 'pillion.attempt'), attr(c, 'pillion.endpoint'), attr(c, 'http.response.status_code'), c.status.code])).toEqual([
      [server[0]!.spanId, 0, `127.0.0.1:${bad}`, 503, ERROR],
      [server[0]!.spanId, 1, `127.0.0.1:${good}`, 200, 0],
    ]);
    expect(BigInt(clients[1]!.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(clients[0]!.endTimeUnixNano));
    expect(badSeen[0]!.traceparent).toBe(`00-${retried.traceId}-${clients[0]!.spanId}-01`);
    expect(goodSeen.map((h) => h.traceparent)).toContain(`00-${retried.traceId}-${clients[1]!.spanId}-01`);
  });

  it('the SERVER span says what the filters decided', async () => {
    const [otlp, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    const rx = await receiver(otlp);
    await upstream(up);
    await pillion({
      admin: { port: admin },
      tracing: tracing(otlp, { sampling: { ratio: 1 } }),
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: web,
          filters: [{ plugin: 'api-key', config: { keys: ['k-1'] } }],
          routes: [{ name: 'r', match: { prefix: '/' }, cluster: 'c' }],
        },
      ],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    const refused = await fetch(`http://127.0.0.1:${web}/no-key`);
    expect(refused.status).toBe(401);
    await refused.text();
    const ok = await fetch(`http://127.0.0.1:${web}/key`, { headers: { 'x-api-key': 'k-1' } });
    expect(ok.status).toBe(200);
    await ok.text();
    const servers = await waitFor(() => {
      const s = rx.spans.filter((x) => x.kind === SERVER);
      return s.length === 2 && s;
    }, { message: 'both SERVER spans' });
    const verdict = (path: string) => attr(servers.find((s) => attr(s, 'url.path') === path)!, 'pillion.filter.verdict');
    expect(verdict('/no-key')).toBe('local_reply');
    expect(verdict('/key')).toBe('continue');
  });

  it('two Pillions in a row give one trace with four spans', async () => {
    const [otlp, up, front, back, adminA, adminB] = (await freePorts(6)) as [number, number, number, number, number, number];
    const rx = await receiver(otlp);
    await upstream(up);
    await pillion({
      admin: { port: adminB },
      tracing: tracing(otlp, { sampling: { ratio: 1 }, service_name: 'back' }),
      listeners: [{ name: 'in', protocol: 'http', port: back, routes: [{ match: { prefix: '/' }, cluster: 'app' }] }],
      clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    await pillion({
      admin: { port: adminA },
      tracing: tracing(otlp, { sampling: { ratio: 1 }, service_name: 'front' }),
      listeners: [{ name: 'out', protocol: 'http', port: front, routes: [{ match: { prefix: '/' }, cluster: 'next' }] }],
      clusters: [{ name: 'next', endpoints: [{ address: '127.0.0.1', port: back }] }],
    });
    const r = await fetch(`http://127.0.0.1:${front}/hop`);
    expect(r.status).toBe(200);
    await r.text();
    await waitFor(() => rx.spans.length >= 4, { message: 'four spans' });
    const traceIds = new Set(rx.spans.map((s) => s.traceId));
    expect(traceIds.size).toBe(1);
    expect(rx.spans.length).toBe(4);
    const find = (service: string, kind: number) => rx.spans.find((s) => s.service === service && s.kind === kind)!;
    const frontServer = find('front', SERVER);
    const frontClient = find('front', CLIENT);
    const backServer = find('back', SERVER);
    const backClient = find('back', CLIENT);
    expect(frontServer.parentSpanId).toBeUndefined();
    expect(frontClient.parentSpanId).toBe(frontServer.spanId);
    expect(backServer.parentSpanId).toBe(frontClient.spanId);
    expect(backClient.parentSpanId).toBe(backServer.spanId);
  });

  it('ratio 0 with errors: true exports only the failed request, and says not sampled upstream', async () => {
    const [otlp, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    const rx = await receiver(otlp);
    const seen = await upstream(up, (path) => (path === '/fail' ? 500 : 200));
    const p = await pillion({
      admin: { port: admin },
      tracing: tracing(otlp, { sampling: { ratio: 0, errors: true } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    for (const path of ['/ok', '/fail']) {
      const r = await fetch(`http://127.0.0.1:${web}${path}`);
      await r.text();
    }
    await waitFor(() => rx.spans.length >= 2, { message: 'the failed request spans' });
    expect(rx.spans.length).toBe(2);
    const server = rx.spans.find((s) => s.kind === SERVER)!;
    expect(attr(server, 'url.path')).toBe('/fail');
    expect(attr(server, 'http.response.status_code')).toBe(500);
    expect(server.status.code).toBe(ERROR);
    expect(seen.map((h) => String(h.traceparent).slice(-3))).toEqual(['-00', '-00']);
    expect(seen[1]!.traceparent).toMatch(new RegExp(`^00-${server.traceId}-[0-9a-f]{16}-00$`));
    expect(metric(await p.metrics(), 'pillion_tracing_spans_exported_total', { listener: 'web' })).toBe(2);
  });

  it('B3 in and out, single and multi header', async () => {
    const [otlp, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    const rx = await receiver(otlp);
    const seen = await upstream(up);
    await pillion({
      admin: { port: admin },
      tracing: tracing(otlp, { propagation: ['w3c'], sampling: { ratio: 0, errors: false } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, tracing: { propagation: ['b3'] }, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    const T2 = 'a3ce929d0e0e47364bf92f3577b34da6';
    await (await fetch(`http://127.0.0.1:${web}/single`, { headers: { b3: `${T}-${P}-1`, traceparent: `00-${T2}-${P}-01` } })).text();
    await (await fetch(`http://127.0.0.1:${web}/multi`, { headers: { 'x-b3-traceid': T2, 'x-b3-spanid': P, 'x-b3-sampled': '1' } })).text();
    await waitFor(() => rx.trace(T).length === 2 && rx.trace(T2).length === 2, { message: 'both traces' });
    for (const [traceId, h] of [[T, seen[0]!], [T2, seen[1]!]] as const) {
      const server = rx.trace(traceId).find((s) => s.kind === SERVER)!;
      const client = rx.trace(traceId).find((s) => s.kind === CLIENT)!;
      expect(server.parentSpanId).toBe(P);
      expect(client.parentSpanId).toBe(server.spanId);
      expect(h.b3).toBe(`${traceId}-${client.spanId}-1-${server.spanId}`);
      expect([h['x-b3-traceid'], h['x-b3-spanid'], h['x-b3-parentspanid'], h['x-b3-sampled']]).toEqual([traceId, client.spanId, server.spanId, '1']);
      expect(h.traceparent).toBeUndefined();
    }
  });

  it('an exporter on a closed port: requests succeed, failures are counted', async () => {
    const [closed, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    await upstream(up);
    const p = await pillion({
      admin: { port: admin },
      tracing: tracing(closed, { sampling: { ratio: 1 } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`http://127.0.0.1:${web}/x`);
      expect(r.status).toBe(200);
      await r.text();
    }
    await waitFor(async () => metric(await p.metrics(), 'pillion_tracing_spans_dropped_total', { listener: 'web' }) === 40, { message: 'all 40 spans counted as dropped' });
    const m = await p.metrics();
    expect(metric(m, 'pillion_tracing_export_failures_total', { listener: 'web' })).toBeGreaterThan(0);
    expect(metric(m, 'pillion_tracing_spans_exported_total', { listener: 'web' })).toBe(0);
  });

  it('an exporter that never answers: requests succeed, timed-out exports are counted', async () => {
    const [silent, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    let posts = 0;
    await listen(silent, (req) => {
      posts++;
      req.resume();
    });
    await upstream(up);
    const p = await pillion({
      admin: { port: admin },
      tracing: { sampling: { ratio: 1 }, otlp: { endpoint: `http://127.0.0.1:${silent}/v1/traces`, timeout: '100ms', batch: { interval: '20ms' } } },
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`http://127.0.0.1:${web}/x`);
      expect(r.status).toBe(200);
      await r.text();
    }
    await waitFor(async () => metric(await p.metrics(), 'pillion_tracing_spans_dropped_total', { listener: 'web' }) === 20, { message: 'all 20 spans counted as dropped' });
    expect(posts).toBeGreaterThan(0);
    expect(metric(await p.metrics(), 'pillion_tracing_export_failures_total', { listener: 'web' })).toBeGreaterThan(0);
  });

  it('the ratio changes with a reload', async () => {
    const [otlp, up, web, admin] = (await freePorts(4)) as [number, number, number, number];
    const rx = await receiver(otlp);
    const seen = await upstream(up);
    const config = (ratio: number) => ({
      workers: 1,
      access_log: { enabled: false },
      admin: { port: admin },
      tracing: tracing(otlp, { sampling: { ratio, errors: false } }),
      listeners: [{ name: 'web', protocol: 'http', port: web, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }] }],
    });
    const p = await pillion(config(0));
    await (await fetch(`http://127.0.0.1:${web}/before`)).text();
    expect(String(seen[0]!.traceparent).endsWith('-00')).toBe(true);
    const args = p.child.spawnargs;
    writeFileSync(args[args.indexOf('--config') + 1]!, JSON.stringify(config(1)));
    p.child.kill('SIGHUP');
    await waitFor(async () => metric(await p.metrics(), 'pillion_config_reloads_total', { result: 'success' }) === 1, { message: 'the reload' });
    await (await fetch(`http://127.0.0.1:${web}/after`)).text();
    expect(String(seen[1]!.traceparent).endsWith('-01')).toBe(true);
    await waitFor(() => rx.spans.length === 2, { message: 'the spans after the reload' });
    expect(attr(rx.spans.find((s) => s.kind === SERVER)!, 'url.path')).toBe('/after');
  });
});
