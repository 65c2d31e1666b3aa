/**
 * Config reload: SIGHUP re-reads the file and applies it under load without failing a request; an
 * invalid file, or one that changes what needs a restart, is refused with every problem logged and
 * the running config kept; a change to the file is picked up without a signal.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, startLoad, type ControlledUpstream } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

let a: ControlledUpstream;
let b: ControlledUpstream;
const running: PillionProcess[] = [];

beforeAll(async () => {
  const [pa, pb] = await freePorts(2);
  [a, b] = await Promise.all([startControlledUpstream('a', pa!), startControlledUpstream('b', pb!)]);
});

afterAll(async () => {
  for (const p of running) expect(await p.stop()).toBe(0);
  await Promise.all([a?.stop(), b?.stop()]);
});

function config(listen: number, admin: number, upstream: ControlledUpstream, extra: { routes?: unknown[]; listenerPort?: number } = {}) {
  return {
    workers: 2,
    admin: { port: admin },
    access_log: { enabled: false },
    listeners: [{ name: 'web', protocol: 'http', port: extra.listenerPort ?? listen, routes: [...(extra.routes ?? []), { match: { prefix: '/' }, cluster: 'api' }] }],
    clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: upstream.port }] }],
  };
}

function configFile(p: PillionProcess): string {
  const args = p.child.spawnargs;
  return args[args.indexOf('--config') + 1]!;
}

const reloads = async (p: PillionProcess, result: string) => metric(await p.metrics(), 'pillion_config_reloads_total', { result });

describe('SIGHUP', () => {
  let pillion: PillionProcess;
  let listen: number;
  let admin: number;
  let file: string;
  let base: string;

  beforeAll(async () => {
    [listen, admin] = (await freePorts(2)) as [number, number];
    pillion = await startPillion(config(listen, admin, a), { args: ['--no-watch'] });
    running.push(pillion);
    file = configFile(pillion);
    base = `http://127.0.0.1:${listen}`;
  });

  it('applies a new config under load without failing a request', async () => {
    const load = startLoad(`${base}/`, 4);
    await waitFor(() => load.result.ok >= 30, { message: 'the load to be under way' });
    writeFileSync(file, JSON.stringify(config(listen, admin, b, { routes: [{ match: { prefix: '/gone' }, cluster: 'api', prefix_rewrite: '/x' }] })));
    pillion.child.kill('SIGHUP');
    await waitFor(() => load.result.upstreams.at(-1) === 'b', { timeoutMs: 3000, message: 'an answer from b' });
    const switchedAt = load.result.upstreams.length;
    await waitFor(() => load.result.upstreams.length >= switchedAt + 100, { message: '100 answers after the first from b' });
    const r = await load.stop();
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(50);
    expect(r.upstreams.slice(-20)).toEqual(Array(20).fill('b'));
    expect(await reloads(pillion, 'success')).toBe(1);
    expect(await reloads(pillion, 'failure')).toBe(0);
    const running = (await (await fetch(`${pillion.adminUrl}/config`)).json()) as any;
    expect(running.listeners[0].routes).toHaveLength(2);
  });

  it('keeps the running config when the new one is invalid, and logs every problem', async () => {
    const bad = config(listen, admin, a) as any;
    bad.clusters[0].endpoints[0].port = 'x';
    bad.clusters[0].lb = { policy: 'fastest' };
    writeFileSync(file, JSON.stringify(bad));
    pillion.child.kill('SIGHUP');
    await waitFor(async () => (await reloads(pillion, 'failure')) === 1, { timeoutMs: 3000, message: 'a failed reload' });
    const out = pillion.output();
    expect(out).toContain('config reload failed; the running config was kept');
    expect(out).toContain('clusters[0].endpoints[0].port');
    expect(out).toContain('clusters[0].lb.policy');
    for (let i = 0; i < 6; i++) expect(await freshRequest(`${base}/`)).toEqual({ status: 200, upstream: 'b' });
  });

  it('refuses a listener port change, saying it needs a restart', async () => {
    const [other] = (await freePorts(1)) as [number];
    writeFileSync(file, JSON.stringify(config(listen, admin, a, { listenerPort: other })));
    pillion.child.kill('SIGHUP');
    await waitFor(async () => (await reloads(pillion, 'failure')) === 2, { timeoutMs: 3000, message: 'a second failed reload' });
    expect(pillion.output()).toMatch(/listeners\[0\]\.port: was \d+: needs a restart/);
    expect(await freshRequest(`${base}/`)).toEqual({ status: 200, upstream: 'b' });
    expect(await reloads(pillion, 'success')).toBe(1);
  });
});

describe('file change', () => {
  it('reloads when the config file changes, without a signal', async () => {
    const [listen, admin] = (await freePorts(2)) as [number, number];
    const pillion = await startPillion(config(listen, admin, a));
    running.push(pillion);
    const base = `http://127.0.0.1:${listen}`;
    expect((await freshRequest(`${base}/`)).upstream).toBe('a');
    writeFileSync(configFile(pillion), JSON.stringify(config(listen, admin, b)));
    await waitFor(async () => (await freshRequest(`${base}/`)).upstream === 'b', { timeoutMs: 4000, intervalMs: 50, message: 'the changed file to send requests to b' });
    expect(await reloads(pillion, 'success')).toBe(1);
  });
});
