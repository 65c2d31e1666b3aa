/**
 * TCP listeners end to end: the real CLI with two workers, real upstream servers, real clients.
 * Byte-exact echo and a framed request/response protocol under many concurrent connections,
 * half-close, an endpoint going down, metrics, the access log and a drain with a connection open.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { FrameReader, accessLines, echo, frame, framed, hello, reverseAfterEnd, roundTrip, whoami, type TcpServer } from './l4-servers.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
const servers: TcpServer[] = [];
let ports: Record<'echo' | 'rpc' | 'half' | 'who', number>;
let whoB: TcpServer;

beforeAll(async () => {
  const [e1, e2, f1, f2, h1, w1, w2, lEcho, lRpc, lHalf, lWho, admin] = await freePorts(12);
  servers.push(await echo(e1!), await echo(e2!), await framed('f1', f1!), await framed('f2', f2!), await reverseAfterEnd(h1!), await whoami('a', w1!));
  whoB = await whoami('b', w2!);
  ports = { echo: lEcho!, rpc: lRpc!, half: lHalf!, who: lWho! };
  const ep = (...ps: number[]) => ps.map((port) => ({ address: '127.0.0.1', port }));
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    drain_timeout: '10s',
    listeners: [
      { name: 'echo', protocol: 'tcp', port: lEcho, cluster: 'echo' },
      { name: 'rpc', protocol: 'tcp', port: lRpc, cluster: 'rpc' },
      { name: 'half', protocol: 'tcp', port: lHalf, cluster: 'half' },
      { name: 'who', protocol: 'tcp', port: lWho, cluster: 'who' },
    ],
    clusters: [
      { name: 'echo', endpoints: ep(e1!, e2!) },
      { name: 'rpc', endpoints: ep(f1!, f2!) },
      { name: 'half', endpoints: ep(h1!) },
      { name: 'who', endpoints: ep(w1!, w2!), connect_timeout: '500ms' },
    ],
  });
});

afterAll(async () => {
  await pillion?.stop('SIGKILL');
  await Promise.all([...servers, whoB].map((s) => s?.close()));
});

describe('tcp proxying', () => {
  it('echoes 200 concurrent connections byte for byte', async () => {
    const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(16 * 1024 + i * 97));
    const replies = await Promise.all(payloads.map((p) => roundTrip(ports.echo, p)));
    const wrong = replies.filter((r, i) => !r.equals(payloads[i]!)).length;
    expect(wrong).toBe(0);
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_tcp_connections_total', { listener: 'echo' })).toBe(200);
    const total = payloads.reduce((n, p) => n + p.length, 0);
    expect(metric(m, 'pillion_downstream_bytes_received_total', { listener: 'echo' })).toBe(total);
    expect(metric(m, 'pillion_downstream_bytes_sent_total', { listener: 'echo' })).toBe(total);
    // the kernel spread the connections over both workers
    const perWorker = [0, 1].map((w) => metric(m, 'pillion_worker_requests_total', { worker: String(w) }) ?? 0);
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
  });

  it('answers a framed request/response protocol on 50 connections x 40 pipelined requests, in order', async () => {
    const run = (c: number) =>
      new Promise<{ upstream: string; bad: number }>((resolve, reject) => {
        const requests = Array.from({ length: 40 }, (_, i) => randomBytes(1 + ((c * 40 + i) % 3000)));
        const s = connect(ports.rpc, '127.0.0.1');
        let n = 0;
        let bad = 0;
        let upstream = '';
        const reader = new FrameReader((p) => {
          const colon = p.indexOf(0x3a);
          upstream ||= p.subarray(0, colon).toString();
          if (!Buffer.from(p.subarray(colon + 1)).reverse().equals(requests[n]!)) bad++;
          if (++n === requests.length) {
            s.end();
            resolve({ upstream, bad });
          }
        });
        s.on('data', (d) => reader.push(d));
        s.on('error', reject);
        s.write(Buffer.concat(requests.map(frame)));
      });
    const results = await Promise.all(Array.from({ length: 50 }, (_, c) => run(c)));
    expect(results.reduce((n, r) => n + r.bad, 0)).toBe(0);
    expect(new Set(results.map((r) => r.upstream))).toEqual(new Set(['f1', 'f2']));
  });

  it('passes a half-close through: the upstream answers after the client stopped sending', async () => {
    const reply = await roundTrip(ports.half, 'stressed');
    expect(reply.toString()).toBe('desserts');
  });

  it('sends new connections to the endpoints still up when one goes down', async () => {
    const before = await Promise.all(Array.from({ length: 6 }, () => hello(ports.who)));
    expect(new Set(before.map((h) => h.name))).toEqual(new Set(['a', 'b']));
    for (const h of before) h.socket.destroy();
    await whoB.close();
    const after = [];
    for (let i = 0; i < 10; i++) {
      const h = await hello(ports.who);
      after.push(h.name);
      h.socket.destroy();
    }
    expect(after).toEqual(Array(10).fill('a'));
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_upstream_connect_failures_total', { cluster: 'who' })).toBeGreaterThan(0);
    await waitFor(() => accessLines(pillion.output(), 'who').some((l) => (l.attempts as number) > 1 && l.upstream !== undefined), { timeoutMs: 3000, message: 'a retried connection in the access log' });
  });

  it('writes one access-log line per connection', async () => {
    await roundTrip(ports.half, 'log me');
    await waitFor(() => accessLines(pillion.output(), 'half').length >= 2, { timeoutMs: 3000, message: 'access-log lines' });
    const line = accessLines(pillion.output(), 'half').find((l) => l.bytes_in === 6)!;
    expect(line).toMatchObject({ protocol: 'tcp', cluster: 'half', attempts: 1, bytes_in: 6, bytes_out: 6, end: 'closed' });
    expect(typeof line.duration_ms).toBe('number');
    expect(line.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('shows open connections in metrics and the shared counters', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => hello(ports.who)));
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_tcp_connections_active', { listener: 'who' })).toBe(4);
    expect(metric(m, 'pillion_upstream_connections_active', { cluster: 'who' })).toBe(4);
    for (const h of held) h.socket.destroy();
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_tcp_connections_active', { listener: 'who' }) === 0, { timeoutMs: 3000, message: 'connections closed' });
    expect(metricSum(m, 'pillion_tcp_connections_rejected_total', { listener: 'who' })).toBe(0);
  });

  it('drains: an open connection keeps working, new ones are refused, then the process exits 0', async () => {
    const { socket } = await hello(ports.who);
    pillion.child.kill('SIGTERM');
    await waitFor(() => pillion.output().includes('"msg":"draining"'), { timeoutMs: 3000, message: 'drain start' });
    // The listener closes once the workers have the drain message; until then a new connection is
    // accepted and closed at once.
    const attempt = () =>
      new Promise<string | undefined>((r) => {
        const s = connect(ports.who, '127.0.0.1');
        s.on('error', (e: NodeJS.ErrnoException) => r(e.code)).on('connect', () => {
          s.destroy();
          r('accepted');
        });
      });
    await waitFor(async () => (await attempt()) === 'ECONNREFUSED', { timeoutMs: 3000, message: 'new connections to be refused' });
    socket.write('still here');
    const echoed = await new Promise<string>((r) => socket.once('data', (d) => r(String(d))));
    expect(echoed).toBe('still here');
    socket.end();
    expect(await pillion.exited).toBe(0);
  });
});
