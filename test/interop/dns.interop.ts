/**
 * DNS service discovery against a real dnsmasq on loopback (Debian's `dnsmasq-base`), changed while
 * Pillion runs: strict-dns traffic follows the answer under load without a failed request, a failed
 * query keeps the last good endpoints, an empty answer empties a cluster only when it comes twice,
 * logical-dns uses one address, SRV gives weights and priorities, a name from /etc/hosts works, and a
 * host name in `endpoints[].address` is resolved by the supervisor. Every resolver the config names
 * is the test's dnsmasq; /etc/hosts is read for `localhost` only.
 * Run with `pnpm test:interop` (or `npx vitest run --config vitest.interop.config.ts test/interop/dns.interop.ts`).
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, startLoad, type ControlledUpstream, type LoadResult } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';
import { startDnsmasq, type Dnsmasq } from './dnsmasq.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();

/** Upstreams by name, each on its own loopback address and all on one port (DNS answers carry addresses). */
const HOSTS = { a: '127.0.0.2', b: '127.0.0.3', c: '127.0.0.4', d: '127.0.0.5', e: '127.0.0.6', f: '127.0.0.7', h: '127.0.0.1' } as const;
type Name = keyof typeof HOSTS;

let dns: Dnsmasq;
let pillion: PillionProcess;
let ups: Record<Name, ControlledUpstream>;
let base: string;
let port: number;
let config: any;

const HOSTS_FILE = {
  'api.test': [HOSTS.a, HOSTS.b],
  'gone.test': [HOSTS.a],
  'one.test': [HOSTS.b, HOSTS.a],
};

beforeAll(async () => {
  const [up, dnsPort, web, admin] = await freePorts(4);
  port = up!;
  ups = Object.fromEntries(await Promise.all(Object.entries(HOSTS).map(async ([n, host]) => [n, await startControlledUpstream(n, port, host)]))) as Record<Name, ControlledUpstream>;
  dns = await startDnsmasq({
    program: bins.dnsmasq,
    port: dnsPort!,
    hosts: HOSTS_FILE,
    srv: [`_http._tcp.svc.test,td.test,${port},0,3`, `_http._tcp.svc.test,te.test,${port},0,1`, `_http._tcp.svc.test,tf.test,${port},1,1`],
    records: [`td.test,${HOSTS.d}`, `te.test,${HOSTS.e}`, `tf.test,${HOSTS.f}`],
  });
  const resolvers = [dns.address];
  const route = (prefix: string, cluster: string) => ({ match: { prefix }, cluster, retry: { attempts: 0 } });
  config = {
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: web,
        routes: [route('/strict', 'strict'), route('/gone', 'gone'), route('/one', 'one'), route('/srv', 'srv'), route('/hosts', 'hosts'), route('/static', 'static')],
      },
    ],
    clusters: [
      { name: 'strict', discovery: { type: 'strict-dns', names: [`api.test:${port}`], resolvers, refresh: '200ms' } },
      // A refresh of 1 s without jitter: the test looks between the first and the second empty answer.
      { name: 'gone', discovery: { type: 'strict-dns', names: [`gone.test:${port}`], resolvers, refresh: '1s', jitter_percent: 0 } },
      { name: 'one', discovery: { type: 'logical-dns', names: [`one.test:${port}`], resolvers, refresh: '200ms' } },
      {
        name: 'srv',
        discovery: { type: 'srv', names: ['_http._tcp.svc.test'], resolvers, refresh: '200ms' },
        health_check: { http: { path: '/health' }, interval: '100ms', timeout: '500ms', healthy_threshold: 1, unhealthy_threshold: 1 },
      },
      { name: 'hosts', discovery: { type: 'strict-dns', names: [`localhost:${port}`], resolvers, refresh: '200ms' } },
      { name: 'static', endpoints: [{ address: 'localhost', port }] },
    ],
  };
  pillion = await startPillion(config);
  base = `http://127.0.0.1:${web}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await dns?.stop();
  await Promise.all(Object.values(ups ?? {}).map((u) => u.stop()));
});

async function cluster(name: string): Promise<any> {
  const all = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
  return all.find((c) => c.name === name);
}

const active = async (name: string) => (await cluster(name)).endpoints.filter((e: any) => e.state === 'active');

function settledOn(load: LoadResult, upstreams: string[], n = 20): boolean {
  const tail = load.upstreams.slice(-n);
  return tail.length === n && tail.every((u) => upstreams.includes(u));
}

/** Pillion's log lines (JSON) with this message for this cluster. */
function logLines(msg: string, clusterName: string): any[] {
  return pillion
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((l) => l.msg === msg && l.cluster === clusterName);
}

describe('strict-dns', () => {
  it('moves traffic when the answer changes, under load, without a failed request', async () => {
    const load = startLoad(`${base}/strict`, 4);
    await waitFor(() => settledOn(load.result, ['a', 'b']) && new Set(load.result.upstreams.slice(-20)).size === 2, { message: 'the load to reach a and b' });
    await dns.setHosts({ ...HOSTS_FILE, 'api.test': [HOSTS.a, HOSTS.c] });
    await waitFor(() => settledOn(load.result, ['a', 'c']), { message: 'the load to move to a and c' });
    const mark = load.result.upstreams.length;
    await waitFor(() => load.result.upstreams.length >= mark + 40, { message: '40 more answers' });
    const r = await load.stop();
    expect(r.failures).toEqual([]);
    expect(new Set(r.upstreams.slice(mark))).toEqual(new Set(['a', 'c']));
    // b drains, then leaves /clusters; what stays came from DNS, under its name.
    await waitFor(async () => (await cluster('strict')).endpoints.length === 2, { message: 'the removed endpoint to drain' });
    const view = (await cluster('strict')).endpoints.map((e: any) => [e.address, e.port, e.source, e.hostname]);
    expect(view).toEqual([
      [HOSTS.a, port, 'dns', 'api.test'],
      [HOSTS.c, port, 'dns', 'api.test'],
    ]);
    const text = await pillion.metrics();
    expect(metric(text, 'pillion_dns_endpoints', { cluster: 'strict' })).toBe(2);
    expect(metric(text, 'pillion_dns_resolutions_total', { cluster: 'strict', result: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(metric(text, 'pillion_dns_last_success_timestamp_seconds', { cluster: 'strict' })).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(logLines('DNS endpoints changed', 'strict').at(-1)).toMatchObject({ added: [`${HOSTS.c}:${port}`], removed: [`${HOSTS.b}:${port}`] });
  });

  it('keeps serving the last good endpoints while queries fail, and says so once', async () => {
    const failures = () => pillion.metrics().then((t) => metric(t, 'pillion_dns_resolutions_total', { cluster: 'strict', result: 'failure' }) ?? 0);
    await dns.stop();
    try {
      await waitFor(async () => (await failures()) >= 3, { timeoutMs: 10_000, message: 'three failed queries' });
      for (let i = 0; i < 10; i++) expect(['a', 'c']).toContain((await freshRequest(`${base}/strict`)).upstream);
      const text = await pillion.metrics();
      expect(metric(text, 'pillion_dns_stale_names', { cluster: 'strict' })).toBe(1);
      expect(metric(text, 'pillion_dns_endpoints', { cluster: 'strict' })).toBe(2);
      expect(logLines('DNS query failed; the last good endpoints keep serving', 'strict')).toHaveLength(1);
      // localhost is answered from /etc/hosts when the resolvers cannot answer at all.
      expect((await freshRequest(`${base}/hosts`)).upstream).toBe('h');
    } finally {
      await dns.start();
    }
    await waitFor(() => logLines('DNS query answered again', 'strict').length === 1, { timeoutMs: 10_000, message: 'queries to be answered again' });
    expect(metric(await pillion.metrics(), 'pillion_dns_stale_names', { cluster: 'strict' })).toBe(0);
  });
});

it('empties a cluster only when the answer is empty twice', async () => {
  const empties = () => pillion.metrics().then((t) => metric(t, 'pillion_dns_resolutions_total', { cluster: 'gone', result: 'empty' }) ?? 0);
  const before = await empties();
  expect((await freshRequest(`${base}/gone`)).upstream).toBe('a');
  const { 'gone.test': _, ...rest } = HOSTS_FILE;
  await dns.setHosts({ ...rest, 'api.test': [HOSTS.a, HOSTS.c] });
  await waitFor(async () => (await empties()) >= before + 1, { timeoutMs: 5000, message: 'one empty answer' });
  // Between the two empty answers (1 s apart): still served.
  expect((await active('gone')).length).toBe(1);
  expect((await freshRequest(`${base}/gone`)).upstream).toBe('a');
  await waitFor(async () => (await active('gone')).length === 0, { timeoutMs: 5000, message: 'the cluster to empty' });
  expect(await empties()).toBeGreaterThanOrEqual(before + 2);
  expect((await freshRequest(`${base}/gone`)).status).toBe(503);
  expect(logLines('DNS answer empty; the endpoints stay until the next answer is empty too', 'gone')).toHaveLength(1);
  expect(logLines('DNS answer empty twice; the name has no endpoints now', 'gone')).toHaveLength(1);
});

it('logical-dns sends new connections to one address of the name, and follows the name', async () => {
  for (let i = 0; i < 6; i++) expect((await freshRequest(`${base}/one`)).upstream).toBe('a'); // the lowest of .3 and .2
  expect((await active('one')).map((e: any) => e.address)).toEqual([HOSTS.a]);
  await dns.setHosts({ 'api.test': [HOSTS.a, HOSTS.c], 'one.test': [HOSTS.c, HOSTS.b] });
  await waitFor(async () => (await freshRequest(`${base}/one`)).upstream === 'b', { message: 'new connections to go to b' });
  for (let i = 0; i < 6; i++) expect((await freshRequest(`${base}/one`)).upstream).toBe('b');
  expect((await active('one')).map((e: any) => e.address)).toEqual([HOSTS.b]);
});

it('srv: weights from the records, and a lower priority only when no higher one is healthy', async () => {
  await waitFor(async () => (await active('srv')).every((e: any) => e.health.active === 'healthy') && (await active('srv')).length === 3, { message: 'the SRV endpoints to be healthy' });
  const view = (await active('srv')).map((e: any) => [e.address, e.weight, e.hostname]);
  expect(view).toEqual([
    [HOSTS.d, 3, 'td.test'],
    [HOSTS.e, 1, 'te.test'],
    [HOSTS.f, 1, 'tf.test'],
  ]);
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) seen.push((await freshRequest(`${base}/srv`)).upstream);
  const count = (u: string) => seen.filter((s) => s === u).length;
  expect(count('f')).toBe(0);
  expect(count('d')).toBeGreaterThanOrEqual(27); // 3:1 of 40 is 30 (round robin, exact when nothing else moves)
  expect(count('d') + count('e')).toBe(40);
  await Promise.all([ups.d.stop(), ups.e.stop()]);
  try {
    await waitFor(async () => (await freshRequest(`${base}/srv`)).upstream === 'f', { message: 'traffic to fail over to priority 1' });
    for (let i = 0; i < 10; i++) expect((await freshRequest(`${base}/srv`)).upstream).toBe('f');
  } finally {
    await Promise.all([ups.d.start(), ups.e.start()]);
  }
  await waitFor(async () => (await freshRequest(`${base}/srv`)).upstream !== 'f', { message: 'traffic back on priority 0' });
});

it('names from /etc/hosts work, and a host name in endpoints[].address is resolved by the supervisor', async () => {
  expect((await freshRequest(`${base}/hosts`)).upstream).toBe('h');
  expect((await active('hosts')).map((e: any) => [e.address, e.source, e.hostname])).toEqual([[HOSTS.h, 'dns', 'localhost']]);
  expect((await freshRequest(`${base}/static`)).upstream).toBe('h');
  expect((await active('static')).map((e: any) => [e.address, e.port, e.source, e.hostname])).toEqual([[HOSTS.h, port, 'config', 'localhost']]);
  // /config shows what was written.
  const config = (await (await fetch(`${pillion.adminUrl}/config`)).json()) as any;
  expect(config.clusters.find((c: any) => c.name === 'static').endpoints[0].address).toBe('localhost');
  expect(config.clusters.find((c: any) => c.name === 'strict').endpoints).toEqual([]);
  // Endpoints of a DNS cluster are not the admin API's to change.
  const put = await fetch(`${pillion.adminUrl}/clusters/strict/endpoints`, { method: 'PUT', body: JSON.stringify([{ address: '127.0.0.1', port }]) });
  expect(put.status).toBe(409);
  // Endpoints set through the admin API say so; a host name there is resolved by the supervisor too.
  const admin = await fetch(`${pillion.adminUrl}/clusters/static/endpoints`, { method: 'PUT', body: JSON.stringify([{ address: 'localhost', port, weight: 2 }]) });
  expect(admin.status).toBe(200);
  await waitFor(async () => (await active('static'))[0]?.weight === 2, { message: 'the admin change to apply' });
  expect((await active('static')).map((e: any) => [e.address, e.source, e.hostname])).toEqual([[HOSTS.h, 'admin', 'localhost']]);
});

it('a reload that changes discovery applies it; clusters whose discovery did not change keep their endpoints', async () => {
  const strictBefore = (await active('strict')).map((e: any) => e.address);
  const args = pillion.child.spawnargs;
  const file = args[args.indexOf('--config') + 1]!;
  const one = config.clusters.find((c: any) => c.name === 'one');
  one.discovery = { ...one.discovery, type: 'strict-dns', names: [`api.test:${port}`] };
  writeFileSync(file, JSON.stringify(config));
  pillion.child.kill('SIGHUP');
  await waitFor(async () => (await active('one')).length === 2, { message: 'the reloaded discovery to apply' });
  expect((await active('one')).map((e: any) => e.address)).toEqual([HOSTS.a, HOSTS.c]);
  expect((await active('strict')).map((e: any) => e.address)).toEqual(strictBefore);
  expect(logLines('endpoint removed; draining', 'strict')).toHaveLength(1); // only b, in the first test
});
