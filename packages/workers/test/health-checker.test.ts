import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HEALTH_ACTIVE_FAILED, HEALTH_UNKNOWN, parseExpectedStatuses } from '@pillion/core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecker } from '../src/supervisor/health-checker.js';
import { runProbe } from '../src/supervisor/health-probe.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { Process, configWith } from './lb-fixtures.js';

const silent = pino({ level: 'silent' });
type Verdict = 'unknown' | 'healthy' | 'unhealthy';

function verdict(p: Process, slot: number): Verdict {
  const h = p.state.endpoint(slot, 'health');
  return h & HEALTH_UNKNOWN ? 'unknown' : h & HEALTH_ACTIVE_FAILED ? 'unhealthy' : 'healthy';
}

describe('the threshold rule on check results', () => {
  it.each<[string, boolean[], Verdict[], number]>([
    // [case, results, state after each, generation bumps]
    ['the first result settles an unknown endpoint: pass', [true], ['healthy'], 1],
    ['the first result settles an unknown endpoint: fail', [false], ['unhealthy'], 1],
    ['three failures in a row take a healthy one out', [true, false, false, false], ['healthy', 'healthy', 'healthy', 'unhealthy'], 2],
    ['a pass in between starts the count over', [true, false, false, true, false, false], ['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy'], 1],
    ['two passes bring it back', [false, true, false, true, true], ['unhealthy', 'unhealthy', 'unhealthy', 'unhealthy', 'healthy'], 2],
  ])('%s', (_name, results, states, bumps) => {
    const p = new Process(configWith({ endpoints: [{ port: 1001 }], health_check: { tcp: {}, healthy_threshold: 2, unhealthy_threshold: 3 } }));
    const c = p.snapshot.clusters[0]!;
    const slot = p.slotOf(1001);
    expect(verdict(p, slot)).toBe('unknown');
    const hc = new HealthChecker(p.state, silent, { now: p.clock.now });
    const target = { cluster: c.name, clusterSlot: c.slot, slot, key: '127.0.0.1:1001', config: c.config.health_check! };
    const seen = results.map((ok) => {
      hc.observe(target, { ok, detail: ok ? 'ok' : 'down' });
      return verdict(p, slot);
    });
    expect(seen).toEqual(states);
    expect(p.state.cluster(c.slot, 'membership_generation')).toBe(bumps);
  });
});

describe('probes against real sockets', () => {
  let server: Server;
  let port = 0;
  let status = 200;
  const hosts: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hosts.push(`${req.url} ${req.headers.host}`);
      res.statusCode = status;
      res.end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('http: passes on an expected status, with the configured path and host', async () => {
    const spec = { kind: 'http' as const, path: '/healthz', host: 'svc.local', statuses: parseExpectedStatuses(['200-299', 418]) };
    status = 204;
    expect(await runProbe(spec, '127.0.0.1', port, 1000)).toEqual({ ok: true, detail: 'status 204' });
    status = 418;
    expect((await runProbe(spec, '127.0.0.1', port, 1000)).ok).toBe(true);
    status = 503;
    expect(await runProbe(spec, '127.0.0.1', port, 1000)).toEqual({ ok: false, detail: 'status 503' });
    expect(hosts.at(-1)).toBe('/healthz svc.local');
    expect(await runProbe({ ...spec, host: undefined }, '127.0.0.1', port, 1000)).toMatchObject({ ok: false });
    expect(hosts.at(-1)).toBe(`/healthz 127.0.0.1:${port}`);
  });

  it('tcp: passes on connect, fails on a refused one', async () => {
    expect(await runProbe({ kind: 'tcp' }, '127.0.0.1', port, 1000)).toEqual({ ok: true, detail: 'connected' });
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    expect(await runProbe({ kind: 'tcp' }, '127.0.0.1', closed, 1000)).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
  });

  it('times out a check that gets no answer', async () => {
    const silentServer = createServer(() => {});
    await new Promise<void>((r) => silentServer.listen(0, '127.0.0.1', r));
    const p = (silentServer.address() as AddressInfo).port;
    const spec = { kind: 'http' as const, path: '/', host: undefined, statuses: parseExpectedStatuses(['200']) };
    expect(await runProbe(spec, '127.0.0.1', p, 50)).toEqual({ ok: false, detail: 'timeout after 50ms' });
    silentServer.closeAllConnections();
    await new Promise<void>((r) => silentServer.close(() => r()));
  });

  it('checks every endpoint on its interval and follows the snapshot', async () => {
    status = 200;
    const p = new Process(
      configWith({ endpoints: [{ port }, { port: 1 }], health_check: { http: { path: '/health' }, interval: '20ms', timeout: '200ms', healthy_threshold: 1, unhealthy_threshold: 2 } }),
    );
    const hc = new HealthChecker(p.state, silent);
    await hc.sync(p.snapshot); // resolves after every endpoint's first check
    expect(verdict(p, p.slotOf(port))).toBe('healthy');
    expect(verdict(p, p.slotOf(1))).toBe('unhealthy');
    expect(hc.checking.sort()).toEqual([p.slotOf(port), p.slotOf(1)].sort());
    status = 500;
    await waitFor(() => verdict(p, p.slotOf(port)) !== 'healthy', { timeoutMs: 2000, message: 'the endpoint to fail its checks' });
    expect(verdict(p, p.slotOf(port))).toBe('unhealthy');
    // A snapshot without checks stops them and clears what they had set.
    const next = p.slots.snapshot(configWith({ endpoints: [{ port }, { port: 1 }] }));
    await hc.sync(next);
    expect(hc.checking).toEqual([]);
    expect(verdict(p, p.slotOf(port))).toBe('healthy');
    hc.close();
  });
});
