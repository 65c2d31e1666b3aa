// The benchmark harness: its pure parts as tables, then one short real run (upstream,
// direct and the Node peer) to show the measuring path works end to end.
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../bench/lib/args.js';
import { baselineFamilies, linkNodeModules, nodeModulesDirs, pnpmCommand, resolveCommit, twinId, twinVariant } from '../bench/lib/baseline.js';
import { startChild } from '../bench/lib/child.js';
import { fmtMs } from '../bench/lib/format.js';
import { LatencyHistogram } from '../bench/lib/latency-histogram.js';
import { per10k } from '../bench/lib/load.js';
import { cpuSecondsBetween, idleRssKiB, parsePeakRssKiB, parseRssKiB, parseStat, rssOfKiB, rssSettled, sampleRss } from '../bench/lib/proc.js';
import { renderMarkdown, renderTable } from '../bench/lib/report-markdown.js';
import { renderReadmeSummary } from '../bench/lib/readme-summary.js';
import { mergeResults } from '../bench/lib/results.js';
import { compareRows, runScenario } from '../bench/lib/run-scenario.js';
import { interleave } from '../bench/lib/schedule.js';
import { baselineFor, median, ratio, summarize } from '../bench/lib/stats.js';
import { haproxyConfig } from '../bench/peers/haproxy.js';
import direct from '../bench/peers/direct.js';
import httpProxy from '../bench/peers/http-proxy.js';
import { PEER_KINDS, peerSelected, peerVariants } from '../bench/peers/index.js';
import { nginxConfig } from '../bench/peers/nginx.js';
import pillion, { pillionConfig, pillionFromTree } from '../bench/peers/pillion.js';
import { checkScenario, loadScenarios } from '../bench/scenarios/index.js';
import { TLS_METHOD, describeLoad } from '../bench/lib/report-markdown.js';
import { renderTlsSummary } from '../bench/lib/readme-summary.js';
import { completeResponse } from '../bench/lib/tls-load.js';
import { clientBoundLine, goalLine, negotiatedLine, tlsVariants } from '../bench/scenarios/_tls.js';
import { clusterMetric, firstRequestConfig, swapDone } from '../bench/scenarios/tls-upstream-first-request.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const sample = (o: Partial<Record<string, number | null>> = {}) => ({
  rps: 100, p50: 1, p99: 2, errors: 0, requests: 1000, seconds: 10, cpuPer10k: 0.5, rssKiB: 2048,
  upstreamCpuPer10k: 0.1, loadCpu: 0.5, ...o,
});

describe('stats', () => {
  it.each([
    [[], null],
    [[3], 3],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[null, 5, null], 5],
  ])('median(%j) = %j', (xs, want) => {
    expect(median(xs as (number | null)[])).toBe(want);
  });

  it.each([
    [10, 5, 2],
    [null, 5, null],
    [10, null, null],
    [10, 0, null],
  ])('ratio(%j, %j) = %j', (v, b, want) => {
    expect(ratio(v, b)).toBe(want);
  });

  it('summarises medians, the idle RSS given, and the largest peak RSS', () => {
    const s = summarize(
      [sample({ rps: 10, rssKiB: 100, loadRssKiB: 90 }), sample({ rps: 30, rssKiB: 300, loadRssKiB: 70 }), sample({ rps: 20, rssKiB: 200, loadRssKiB: 80 })] as never,
      60,
    );
    expect(s).toEqual({ rps: 20, p50: 1, p99: 2, errors: 0, cpuPer10k: 0.5, idleRssKiB: 60, loadRssKiB: 80, rssKiB: 300 });
    expect(summarize([sample()] as never)).toMatchObject({ idleRssKiB: null, loadRssKiB: null });
  });

  const rows = [
    { id: 'direct', kind: 'direct', workers: 1 },
    { id: 'pillion-1', kind: 'pillion', workers: 1 },
    { id: 'http-proxy', kind: 'http-proxy', workers: 1 },
    { id: 'nginx-1', kind: 'nginx', workers: 1 },
    { id: 'pillion-2', kind: 'pillion', workers: 2 },
    { id: 'nginx-2', kind: 'nginx', workers: 2 },
  ];
  it.each([
    ['direct', 'nginx-1'],
    ['pillion-1', 'nginx-1'],
    ['http-proxy', 'nginx-1'],
    ['pillion-2', 'nginx-2'],
    ['nginx-2', 'nginx-2'],
  ])('%s compares with %s', (id, want) => {
    expect(baselineFor(rows.find((r) => r.id === id)!, rows)).toBe(want);
  });

  it('compares with the Node peer when nginx is absent', () => {
    const noNginx = rows.filter((r) => r.kind !== 'nginx');
    expect(noNginx.map((r) => baselineFor(r, noNginx))).toEqual(Array(4).fill('http-proxy'));
  });

  it('puts ratios on every row', () => {
    const out = compareRows([
      { id: 'nginx-1', kind: 'nginx', workers: 1, samples: [], summary: { rps: 100, p50: 1, p99: 4, errors: 0, cpuPer10k: 0.2, idleRssKiB: 500, loadRssKiB: 800, rssKiB: 1000 } },
      { id: 'pillion-1', kind: 'pillion', workers: 1, samples: [], summary: { rps: 150, p50: 0.5, p99: 2, errors: 3, cpuPer10k: 0.1, idleRssKiB: 1000, loadRssKiB: 2000, rssKiB: 4000 } },
    ]);
    expect(out[1].baseline).toBe('nginx-1');
    expect(out[1].ratio).toEqual({ rps: 1.5, p50: 0.5, p99: 0.5, errors: null, cpuPer10k: 0.5, idleRssKiB: 2, loadRssKiB: 2.5, rssKiB: 4 });
  });
});

describe('format', () => {
  it.each([
    [0.123, '0.12'], [9.99, '9.99'], [9.996, '10.0'], [99.9, '99.9'], [99.98, '100'], [1234.5, '1235'], [null, '—'],
  ])('fmtMs(%j) = %j', (n, want) => {
    expect(fmtMs(n)).toBe(want);
  });
});

describe('schedule', () => {
  it.each([
    [['A', 'B'], 2, ['A', 'B', 'B', 'A']],
    [['A', 'B', 'C'], 3, ['A', 'B', 'C', 'B', 'C', 'A', 'C', 'A', 'B']],
    [['A'], 3, ['A', 'A', 'A']],
  ])('interleave(%j, %i)', (peers, rounds, want) => {
    expect(interleave(peers, rounds)).toEqual(want);
  });
});

describe('/proc parsing', () => {
  const stat = (comm: string) =>
    `4242 (${comm}) S 17 4242 4242 0 -1 4194560 900 0 0 0 150 25 0 0 20 0 3 0 123 1000 200 18446744073709551615`;
  it.each(['nginx', 'node (worker) x', 'a)b) c'])('reads ppid and ticks when the name is %j', (comm) => {
    expect(parseStat(stat(comm))).toEqual({ ppid: 17, ticks: 175 });
  });

  it('reads VmHWM and VmRSS', () => {
    expect(parsePeakRssKiB('Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n')).toBe(12345);
    expect(parsePeakRssKiB('Name:\tkthreadd\n')).toBeNull();
    expect(parseRssKiB('Name:\tnginx\nVmHWM:\t   12345 kB\nVmRSS:\t    678 kB\n')).toBe(678);
    expect(parseRssKiB('Name:\tkthreadd\n')).toBeNull();
  });

  const rule = { window: 3, floorKiB: 100, share: 0.01 };
  it.each([
    [[5_000, 5_050], false], // fewer readings than the window
    [[4_000, 5_000, 5_050, 5_100], true], // the last three within 100 KiB
    [[5_000, 5_300, 5_000], false], // 300 KiB apart: more than 100 KiB and than 1% (53 KiB)
    [[50_000, 50_300, 50_000], true], // 300 KiB apart, within 1% (503 KiB)
  ])('rssSettled(%j) = %j', (readings, want) => {
    expect(rssSettled(readings, rule)).toBe(want);
  });

  it('sums VmRSS over processes and samples it while it runs', async () => {
    expect(rssOfKiB([process.pid])).toBeGreaterThan(10_000);
    expect(rssOfKiB([2 ** 22 + 1])).toBeNull();
    const sampler = sampleRss(process.pid, 10);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const got = sampler.stop();
    expect(got.readings).toBeGreaterThan(1);
    expect(got.meanKiB).toBeGreaterThan(10_000);
    expect(got.peakKiB).toBeGreaterThanOrEqual(got.meanKiB!);
    const idle = await idleRssKiB(process.pid, { everyMs: 10, window: 3, floorKiB: 1 << 20, share: 0, minMs: 0, timeoutMs: 1000 });
    expect(idle).toMatchObject({ settled: true });
    expect(idle.rssKiB).toBeGreaterThan(10_000);
  });

  it('counts CPU of processes born between snapshots from zero', () => {
    const before = new Map([[1, 100], [2, 50]]);
    const after = new Map([[1, 150], [2, 70], [3, 30]]);
    expect(cpuSecondsBetween(before, after, 100)).toBe(1);
  });

  it.each([
    [2, 10_000, 2],
    [0.5, 20_000, 0.25],
    [null, 100, null],
    [1, 0, null],
  ])('per10k(%j, %j) = %j', (s, n, want) => {
    expect(per10k(s, n)).toBe(want);
  });
});

describe('latency histogram', () => {
  it.each([
    [0, 0], [1, 1], [1023, 1023], [1024, 1024], [1025, 1024], [1026, 1026], [2047, 2046], [2048, 2048], [1_000_000, 999_424],
  ])('%i us lands in a bucket starting at %i us', (us, lower) => {
    expect(LatencyHistogram.lowerBound(LatencyHistogram.indexOf(us))).toBe(lower);
  });

  it('gives percentiles by rank', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.record(i / 100); // 10 us .. 1000 us
    expect(h.percentile(50)).toBe(0.5);
    expect(h.percentile(99)).toBe(0.99);
    expect(h.percentile(100)).toBe(1);
    expect(new LatencyHistogram().percentile(50)).toBeNull();
  });
});

describe('command line', () => {
  it.each([
    [[], { scenarios: [], quick: false, duration: 10, warmup: 2, repeats: 3, peers: null, workers: null, baseline: null }],
    [['hello-world', '--baseline', 'HEAD~3', '--quick'], { scenarios: ['hello-world'], quick: true, baseline: 'HEAD~3' }],
    [['--baseline=v0.1.0', '--peers', 'pillion-1'], { baseline: 'v0.1.0', peers: ['pillion-1'] }],
    [['--quick'], { quick: true, duration: 1, warmup: 0, repeats: 1 }],
    [['--quick', '--repeats', '2', 'hello-world'], { quick: true, repeats: 2, scenarios: ['hello-world'] }],
    [['--', 'post-1mib', '--peers', 'nginx, pillion-1', '--workers', '4'], { scenarios: ['post-1mib'], peers: ['nginx', 'pillion-1'], workers: 4 }],
  ])('%j', (argv, want) => {
    expect(parseBenchArgs(argv)).toMatchObject(want);
  });

  it.each([
    [['--repeats', '0'], '--repeats must be an integer >= 1'],
    [['--duration', 'x'], '--duration must be a number >= 0.5'],
    [['--nope'], "Unknown option '--nope'"],
    [['--baseline=-x'], '--baseline needs a git ref'],
    [['--baseline', ' '], '--baseline needs a git ref'],
    [['--baseline'], "Option '--baseline <value>' argument missing"],
  ])('rejects %j', (argv, msg) => {
    expect(() => parseBenchArgs(argv)).toThrow(msg);
  });
});

describe('peers', () => {
  it('runs multi-worker peers at 1 and at the default count, grouped by count', () => {
    expect(peerVariants(PEER_KINDS, 2).map((v) => v.id)).toEqual([
      'direct', 'pillion-1', 'pillion-strict-1', 'http-proxy', 'nginx-1', 'haproxy-1', 'pillion-2', 'pillion-strict-2', 'nginx-2', 'haproxy-2',
    ]);
    expect(peerVariants(PEER_KINDS, 1).map((v) => v.id)).toEqual(['direct', 'pillion-1', 'pillion-strict-1', 'http-proxy', 'nginx-1', 'haproxy-1']);
  });

  it('selects by kind or by id', () => {
    const ids = peerVariants(PEER_KINDS, 4).filter((v) => peerSelected(v, ['nginx', 'pillion-4'])).map((v) => v.id);
    expect(ids).toEqual(['nginx-1', 'pillion-4', 'nginx-4']);
  });

  it('configures nginx and HAProxy with the worker count, port and upstream keep-alive', () => {
    const n = nginxConfig({ dir: '/tmp/x', port: 8081, upstream: { host: '127.0.0.1', port: 9001 }, workers: 3 });
    expect(n).toContain('worker_processes 3;');
    expect(n).toContain('listen 127.0.0.1:8081 reuseport;');
    expect(n).toContain('server 127.0.0.1:9001;');
    expect(n).toContain('keepalive 128;');
    const h = haproxyConfig({ port: 8082, upstream: { host: '127.0.0.1', port: 9001 }, workers: 3 });
    expect(h).toContain('nbthread 3');
    expect(h).toContain('bind 127.0.0.1:8082');
    expect(h).toContain('http-reuse always');
  });

  it('writes the Pillion config from the contract, with the access log off only when asked', () => {
    const base = { port: 8080, adminPort: 9901, upstream: { host: '127.0.0.1', port: 9001 }, workers: 2 };
    const plain = pillionConfig({ ...base, accessLogOff: false });
    expect(plain).toEqual({
      workers: 2,
      admin: { address: '127.0.0.1', port: 9901 },
      listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'up' }] }],
      clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: 9001 }] }],
    });
    expect(pillionConfig({ ...base, accessLogOff: true }).access_log).toEqual({ enabled: false });
    const scenario = { name: 's', title: 't', order: 1, load: { connections: 1, path: '/' }, pillionConfig: (c: Record<string, unknown>) => ({ ...c, workers: 9 }) };
    expect(pillionConfig({ ...base, accessLogOff: false, scenario }).workers).toBe(9);
  });
});

describe('--baseline', () => {
  const commit = { ref: 'HEAD~3', sha: '3a4547cbf1f0c1b707dbe4aecebf6a8251a11a6e', short: '3a4547c' };
  const tree = { root: '/tmp/elsewhere', commit };

  it('names the twins after the peer and the short sha', () => {
    expect(twinId('pillion-1', '3a4547c')).toBe('pillion-1@3a4547c');
    const kind = pillionFromTree('pillion-strict', tree);
    expect(kind.name).toBe('pillion-strict@3a4547c');
    expect(kind.family).toBe('pillion-strict');
    expect(kind.describe).toContain('`pillion-strict` as built from `HEAD~3` (3a4547cbf1f0c1b707dbe4aecebf6a8251a11a6e)');
    expect(pillion.family).toBeUndefined();
    expect(() => pillionFromTree('nginx', tree)).toThrow('no Pillion peer kind named nginx');
  });

  it.each([
    [null, ['pillion', 'pillion-strict']],
    [['pillion', 'nginx'], ['pillion']],
    [['pillion-strict-2'], ['pillion-strict']],
    [['nginx', 'haproxy'], []],
  ])('--peers %j gives twins to %j', (peers, want) => {
    const selected = peerVariants(PEER_KINDS, 2).filter((v) => peerSelected(v, peers));
    expect(baselineFamilies(selected)).toEqual(want);
  });

  it('makes a twin with the worker count of the peer it mirrors', () => {
    const v = peerVariants(PEER_KINDS, 2).find((x) => x.id === 'pillion-2')!;
    const kind = pillionFromTree('pillion', tree);
    const twin = twinVariant(v, { kind, version: '0.1.0 (3a4547c)', facts: { accessLogOff: true } }, commit);
    expect(twin).toEqual({
      id: 'pillion-2@3a4547c', kind, workers: 2, version: '0.1.0 (3a4547c)', facts: { accessLogOff: true }, twinOf: 'pillion-2', commit,
    });
  });

  it('resolves a ref to its commit, and refuses an unknown one', () => {
    const head = resolveCommit(ROOT, 'HEAD');
    expect(head.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(head.sha.startsWith(head.short)).toBe(true);
    expect(() => resolveCommit(ROOT, 'no-such-ref-for-the-bench')).toThrow('unknown git ref "no-such-ref-for-the-bench"');
  });

  it('runs the pnpm that runs the bench, else pnpm on PATH', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-pnpm-'));
    try {
      const cjs = path.join(dir, 'pnpm.cjs');
      writeFileSync(cjs, '');
      expect(pnpmCommand({ npm_execpath: cjs, PATH: '' })).toEqual({ file: process.execPath, args: [cjs] });
      expect(pnpmCommand({ npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js', PATH: dir })).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('links node_modules into the checkout: workspace packages inside it, the store shared', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-link-'));
    const from = path.join(tmp, 'from');
    const to = path.join(tmp, 'to');
    try {
      const file = (p: string, text = '{}') => {
        mkdirSync(path.dirname(p), { recursive: true });
        writeFileSync(p, text);
      };
      const link = (target: string, p: string) => {
        mkdirSync(path.dirname(p), { recursive: true });
        symlinkSync(target, p);
      };
      file(path.join(from, 'node_modules/.pnpm/pkg@1.0.0/node_modules/pkg/index.js'), '');
      file(path.join(from, 'node_modules/.modules.yaml'), '');
      file(path.join(from, 'node_modules/.vite/cache'), '');
      file(path.join(from, 'node_modules/.bin/tsc'), '#!/bin/sh');
      link('.pnpm/pkg@1.0.0/node_modules/pkg', path.join(from, 'node_modules/pkg'));
      link('../../packages/a', path.join(from, 'node_modules/@s/a'));
      link('../../../node_modules/.pnpm/pkg@1.0.0/node_modules/pkg', path.join(from, 'packages/a/node_modules/pkg'));
      link('../../../b', path.join(from, 'packages/a/node_modules/@s/b'));
      link('../../../node_modules/.pnpm/pkg@1.0.0/node_modules/pkg', path.join(from, 'packages/gone/node_modules/pkg'));
      for (const p of ['package.json', 'packages/a/package.json', 'packages/b/package.json']) file(path.join(to, p));

      expect(nodeModulesDirs(from).sort()).toEqual(['node_modules', 'packages/a/node_modules', 'packages/gone/node_modules']);
      expect(linkNodeModules(from, to).sort()).toEqual(['node_modules', 'packages/a/node_modules']);
      const real = (p: string) => realpathSync(path.join(to, p));
      expect(real('packages/a/node_modules/@s/b')).toBe(realpathSync(path.join(to, 'packages/b')));
      expect(real('node_modules/@s/a')).toBe(realpathSync(path.join(to, 'packages/a')));
      expect(real('packages/a/node_modules/pkg')).toBe(realpathSync(path.join(from, 'node_modules/.pnpm/pkg@1.0.0/node_modules/pkg')));
      expect(readlinkSync(path.join(to, 'node_modules/.pnpm'))).toBe(path.join(from, 'node_modules/.pnpm'));
      expect(existsSync(path.join(to, 'node_modules/.bin/tsc'))).toBe(true);
      expect(existsSync(path.join(to, 'node_modules/.vite'))).toBe(false);
      expect(existsSync(path.join(to, 'node_modules/.modules.yaml'))).toBe(false);
      expect(existsSync(path.join(to, 'packages/gone'))).toBe(false);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('scenarios', () => {
  it('finds the scenario files in order', async () => {
    const names = (await loadScenarios()).map((s) => s.name);
    expect(names.slice(0, 4)).toEqual(['hello-world', 'connections-1000', 'response-64k', 'post-1mib']);
  });

  it.each([
    [null, 'default export must be a scenario object'],
    [{ name: 'Bad Name', title: 't', order: 1, load: { connections: 1, path: '/' } }, 'name must be kebab-case'],
    [{ name: 'x', title: 't', order: 1, load: { connections: 0, path: '/' } }, 'load.connections must be a positive integer'],
    [{ name: 'x', title: 't', order: 1, load: { connections: 1, path: 'x' } }, 'load.path must start with /'],
  ])('rejects %j', (s, msg) => {
    expect(() => checkScenario(s, 'x.js')).toThrow(`bench/scenarios/x.js: ${msg}`);
  });
});

describe('results', () => {
  const commit = { ref: 'HEAD~3', sha: '3a4547cbf1f0c1b707dbe4aecebf6a8251a11a6e', short: '3a4547c' };
  const scenario = (name: string, date: string, twin = false) => ({
    name, title: name, load: { connections: 50, path: '/' }, date, settings: { duration: 10, warmup: 2, repeats: 3 }, skipped: [],
    rows: compareRows([
      { id: 'nginx-1', kind: 'nginx', workers: 1, samples: [sample({ loadCpu: 0.9 })] as never, summary: { rps: 50_000, p50: 0.95, p99: 2.5, errors: 0, cpuPer10k: 0.15, idleRssKiB: 16_384, loadRssKiB: 17_408, rssKiB: 18_432 } },
      { id: 'pillion-1', kind: 'pillion', workers: 1, samples: [sample({ loadCpu: 0.8 })] as never, summary: { rps: 55_000, p50: 0.9, p99: 2, errors: 0, cpuPer10k: 0.3, idleRssKiB: 49_152, loadRssKiB: 69_632, rssKiB: 61_440 } },
      ...(twin
        ? [{ id: 'pillion-1@3a4547c', kind: 'pillion@3a4547c', workers: 1, twinOf: 'pillion-1', commit, samples: [sample({ loadCpu: 0.8 })] as never, summary: { rps: 50_000, p50: 0.9, p99: 2, errors: 0, cpuPer10k: 0.25, idleRssKiB: 40_960, loadRssKiB: 52_224, rssKiB: 61_440 } }]
        : []),
    ]),
  });
  const run = (date: string, names: string[], twin = false) => ({
    date, quick: false,
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux 6.1 x64', os: 'Debian 12', node: 'v20.20.2', loadAverage: [0.1, 0.2, 0.3] },
    versions: { pillion: '0.1.0 (abc1234)', nginx: '1.22.1', haproxy: null },
    peers: { nginx: 'nginx as configured', pillion: 'Pillion' },
    absent: [{ peer: 'haproxy', reason: 'haproxy is not installed' }],
    scenarios: names.map((n) => scenario(n, date, twin)),
  });

  it('keeps scenarios the new run did not measure, in registry order', () => {
    const merged = mergeResults(run('d1', ['a', 'b', 'c']) as never, run('d2', ['b']) as never, ['a', 'b', 'c']);
    expect(merged.scenarios.map((s: { name: string; date: string }) => `${s.name}@${s.date}`)).toEqual(['a@d1', 'b@d2', 'c@d1']);
    expect(merged.date).toBe('d2');
    expect(mergeResults(null, run('d3', ['b']) as never, ['a', 'b']).scenarios).toHaveLength(1);
  });

  it('renders the doc: machine, versions, note and table', () => {
    const md = renderMarkdown(run('2030-01-01T00:00:00.000Z', ['hello-world']) as never);
    expect(md).toContain('- CPU: Test CPU, 2 cores');
    expect(md).toContain('- haproxy: not available (see Method)');
    expect(md).toContain("share this machine's 2 cores");
    expect(md).toContain('| peer | req/s | p50 ms | p99 ms | errors | CPU s / 10k req | idle RSS MiB | RSS under load MiB | peak RSS MiB | load gen CPU |');
    expect(md).toContain('| **nginx-1** | 50,000 (1.00×) | 0.95 (1.00×) | 2.50 (1.00×) | 0 | 0.150 (1.00×) | 16 (1.00×) | 17 (1.00×) | 18 (1.00×) | 90% |');
    expect(md).toContain('| pillion-1 | 55,000 (1.10×) | 0.90 (0.95×) | 2.00 (0.80×) | 0 | 0.300 (2.00×) | 48 (3.00×) | 68 (4.00×) | 60 (3.33×) | 80% |');
    expect(md).toContain('**RSS under load** is the mean of `VmRSS` read every 250 ms');
    expect(md).not.toContain('PEER@SHA');
  });

  it('shows a baseline build beside the row it mirrors, with the comparison under the table', () => {
    const res = run('2030-01-01T00:00:00.000Z', ['hello-world'], true);
    const table = renderTable(res.scenarios[0] as never);
    const lines = table.split('\n');
    expect(lines.findIndex((l) => l.startsWith('| pillion-1@3a4547c |'))).toBe(lines.findIndex((l) => l.startsWith('| pillion-1 |')) + 1);
    expect(table).toContain(
      '- `pillion-1@3a4547c` is `pillion-1` built from `HEAD~3` (3a4547cbf1f0c1b707dbe4aecebf6a8251a11a6e); ' +
        "this tree's `pillion-1` against it: req/s 1.10×, p99 1.00×, CPU per request 1.20×, idle RSS 1.20×, RSS under load 1.33×.",
    );
    expect(renderMarkdown(res as never)).toContain('- A row named `PEER@SHA` is that peer run from Pillion as built from an earlier commit');
  });

  it('keeps the README summary to this tree, with req/s, CPU and memory per peer', () => {
    const readme = renderReadmeSummary(run('2030-01-01T00:00:00.000Z', ['hello-world', 'response-64k'], true) as never);
    expect(readme).toContain(
      '| peer | hello-world req/s | response-64k req/s | hello-world CPU s/10k | response-64k CPU s/10k | idle RSS MiB | ' +
        'hello-world RSS MiB under load | response-64k RSS MiB under load |',
    );
    expect(readme).toContain('| nginx-1 | 50,000 | 50,000 | 0.150 | 0.150 | 16 | 17 | 17 |');
    expect(readme).toContain('| pillion-1 | 55,000 (1.10×) | 55,000 (1.10×) | 0.300 (2.00×) | 0.300 (2.00×) | 48 (3.00×) | 68 (4.00×) | 68 (4.00×) |');
    expect(readme).not.toContain('3a4547c |');
    expect(readme).toContain("Rows measured from an earlier commit's build (`--baseline`) are in docs/benchmarks.md only.");
    expect(renderReadmeSummary(run('2030-01-01T00:00:00.000Z', ['hello-world']) as never)).not.toContain('--baseline');
  });
});

describe('a short real run', () => {
  let upstream: ReturnType<typeof startChild>;
  let port = 0;
  let tmp = '';

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
    let onPort: (p: number) => void = () => {};
    const got = new Promise<number>((resolve) => (onPort = resolve));
    upstream = startChild(process.execPath, [path.join(ROOT, 'bench/upstream.js'), '--port', '0'], {
      onLine: (line) => {
        const m = /^listening (\d+)$/.exec(line);
        if (m) onPort(Number(m[1]));
      },
    });
    port = await got;
  });

  afterAll(async () => {
    await upstream?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('measures direct and the Node peer, with CPU and memory for the proxy only', async () => {
    const variants = [
      { id: 'direct', kind: direct, workers: 1, version: '', facts: {} },
      { id: 'http-proxy', kind: httpProxy, workers: 1, version: '', facts: {} },
    ];
    const scenario = { name: 'post-small', title: 'small POST', order: 1, load: { connections: 4, path: '/upload', method: 'POST' as const, bodyBytes: 4096 } };
    const lines: string[] = [];
    const res = await runScenario(scenario, variants, {
      root: ROOT, tmp, upstream: { host: '127.0.0.1', port, pid: upstream.pid },
      settings: { duration: 0.5, warmup: 0, repeats: 1 }, log: (l) => lines.push(l),
    });
    expect(res.skipped).toEqual([]);
    expect(res.rows.map((r) => [r.id, r.baseline])).toEqual([['direct', 'http-proxy'], ['http-proxy', 'http-proxy']]);
    for (const row of res.rows) {
      const s = row.samples[0];
      expect(s.requests).toBeGreaterThan(50);
      expect(s.errors).toBe(0);
      expect(s.p50).toBeGreaterThan(0);
      expect(s.p99).toBeGreaterThanOrEqual(s.p50!);
    }
    const [d, hp] = res.rows.map((r) => r.samples[0]);
    expect(d.cpuPer10k).toBeNull();
    expect(d.rssKiB).toBeNull();
    expect(d.loadRssKiB).toBeNull();
    expect(res.rows[0].idle).toBeNull();
    expect(hp.cpuPer10k).toBeGreaterThan(0);
    expect(hp.rssKiB).toBeGreaterThan(10_000);
    expect(hp.loadRssKiB).toBeGreaterThan(10_000);
    expect(hp.loadRssPeakKiB).toBeGreaterThanOrEqual(hp.loadRssKiB!);
    expect(res.rows[1].idle?.rssKiB).toBeGreaterThan(10_000);
    expect(res.rows[1].summary.idleRssKiB).toBe(res.rows[1].idle?.rssKiB);
    expect(lines[0]).toMatch(/^ {2}idle RSS, MiB: http-proxy \d+/);
    expect(lines).toHaveLength(3);
  });
});

describe('TLS scenarios', () => {
  const base = { port: 8443, adminPort: 9901, upstream: { host: '127.0.0.1', port: 9001 }, workers: 1, accessLogOff: true };
  const tls = { certFile: '/c/server.pem', keyFile: '/c/server.key', bundleFile: '/c/server-bundle.pem' };

  it('are listed, the two with TLS listeners flagged', async () => {
    const all = await loadScenarios();
    const tlsOnes = all.filter((s) => s.name.startsWith('tls-')).map((s) => [s.name, s.tls === true]);
    expect(tlsOnes).toEqual([['tls-hello-world', true], ['tls-handshakes', true], ['tls-upstream-first-request', false]]);
  });

  it('serves HTTPS from each peer config with the one certificate, plain configs unchanged', () => {
    const listener = (pillionConfig({ ...base, tls }).listeners as Record<string, unknown>[])[0];
    expect(listener.tls).toEqual({ certificates: [{ cert_file: '/c/server.pem', key_file: '/c/server.key' }] });
    expect(listener).not.toHaveProperty('codec');
    expect((pillionConfig(base).listeners as Record<string, unknown>[])[0]).not.toHaveProperty('tls');

    const n = nginxConfig({ dir: '/d', port: 8443, upstream: base.upstream, workers: 1, tls });
    expect(n).toContain('listen 127.0.0.1:8443 ssl reuseport;');
    expect(n).toContain('ssl_certificate /c/server.pem;');
    expect(n).toContain('ssl_certificate_key /c/server.key;');
    expect(n).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(nginxConfig({ dir: '/d', port: 8443, upstream: base.upstream, workers: 1 })).not.toContain('ssl');

    expect(haproxyConfig({ port: 8443, upstream: base.upstream, workers: 1, tls })).toContain('bind 127.0.0.1:8443 ssl crt /c/server-bundle.pem ssl-min-ver TLSv1.2\n');
    expect(haproxyConfig({ port: 8443, upstream: base.upstream, workers: 1 })).toContain('bind 127.0.0.1:8443\n');
  });

  it('rows: one-worker Pillion, nginx and HAProxy, and a baseline twin of Pillion', () => {
    const ready = peerVariants(PEER_KINDS, 2).map((v) => ({ ...v, version: '', facts: {} }));
    expect(tlsVariants(ready).map((v) => v.id)).toEqual(['pillion-1', 'nginx-1', 'haproxy-1']);
    const twinKind = pillionFromTree('pillion', { root: '/tmp/x', commit: { ref: 'HEAD~1', sha: 'a'.repeat(40), short: 'aaaaaaa' } });
    const twin = { id: 'pillion-1@aaaaaaa', kind: twinKind, workers: 1, version: '', facts: {}, twinOf: 'pillion-1' };
    expect(tlsVariants([...ready, twin]).map((v) => v.id)).toContain('pillion-1@aaaaaaa');
  });

  it.each([
    ['HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!', { status: 200 }],
    ['HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello', null],
    ['HTTP/1.1 200 OK\r\nContent-Len', null],
    ['HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n', { status: 503 }],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n0\r\n\r\n', { status: 200 }],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n', null],
    ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello', null],
  ])('completeResponse(%j) = %j', (text, want) => {
    expect(completeResponse(text)).toEqual(want);
  });

  const rows = (p: number, n: number, load = 0.5) => [
    { id: 'pillion-1', samples: [sample({ rps: p, cpuPer10k: 1.2, loadCpu: load })] as never },
    { id: 'nginx-1', samples: [sample({ rps: n, cpuPer10k: 0.3, loadCpu: 0.6 })] as never },
  ];
  it('compares Pillion with nginx, against the goal only where it applies', () => {
    expect(goalLine(rows(8500, 10_000), 'req/s', { goal: true })).toEqual({
      line: 'pillion-1 against nginx-1: 8,500 against 10,000 req/s, 0.85×; the goal is at least 0.80×: met; CPU 1.20 against 0.300 s per 10k, 4.00×.',
      rps: 0.85,
      cpu: 4,
    });
    expect(goalLine(rows(2500, 10_000), 'req/s', { goal: true }).line).toContain('0.25×; the goal is at least 0.80×: not met;');
    expect(goalLine(rows(900, 1000), 'handshakes/s', { goal: false }).line).toBe(
      'pillion-1 against nginx-1: 900 against 1,000 handshakes/s, 0.90×; CPU 1.20 against 0.300 s per 10k, 4.00×.',
    );
    expect(goalLine(rows(1, 1).slice(0, 1), 'req/s', { goal: true }).line).toBeNull();
    expect(clientBoundLine(rows(1, 1))).toBeNull();
    expect(clientBoundLine(rows(1, 1, 0.97))).toBe(
      'The client (the bench process, one thread doing its TLS) used 97% of a core on pillion-1: there it, not the proxy, set the pace, so compare by CPU per request.',
    );
  });

  it('says what was negotiated, and whether every peer served the bench certificate', () => {
    const cert = { fingerprint: 'AB:CD:EF:01:23:45:67:89:AB:CD:EF', keyType: 'ec prime256v1' };
    const f = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', group: 'X25519', fingerprint: cert.fingerprint, verified: true };
    expect(negotiatedLine([{ id: 'pillion-1', facts: f }, { id: 'nginx-1', facts: f }], cert)).toBe(
      "With the bench's client (Node's TLS, no ALPN, no session offered): every peer negotiated TLSv1.3, TLS_AES_256_GCM_SHA384, X25519 key exchange, " +
        'and served the same certificate (ECDSA P-256, made by openssl for this run, SHA-256 AB:CD:EF:01:23:45:67:89…).',
    );
    const other = negotiatedLine([{ id: 'pillion-1', facts: f }, { id: 'nginx-1', facts: { ...f, protocol: 'TLSv1.2', fingerprint: 'XX' } }, { id: 'haproxy-1', facts: null, error: 'ECONNRESET' }], cert);
    expect(other).toContain('pillion-1 TLSv1.3, TLS_AES_256_GCM_SHA384, X25519 key exchange; nginx-1 TLSv1.2');
    expect(other).toContain('NOT all the bench certificate');
    expect(other).toContain('No handshake: haproxy-1: ECONNRESET.');
  });

  it('configures the first-request rows: a route under /t/, a TLS cluster, pool.warmup for warm', () => {
    const plain = pillionConfig(base);
    const endpoint = { host: '127.0.0.1', port: 7443 };
    const cold = firstRequestConfig(plain, { endpoint, caFile: '/c/ca.pem', warmup: false });
    expect((cold.listeners as Record<string, unknown>[])[0].routes).toEqual([{ match: { prefix: '/t/' }, cluster: 'up' }]);
    expect(cold.clusters).toEqual([{ name: 'up', endpoints: [{ address: '127.0.0.1', port: 7443 }], tls: { ca_file: '/c/ca.pem' } }]);
    const warm = firstRequestConfig(plain, { endpoint, caFile: '/c/ca.pem', warmup: true });
    expect((warm.clusters as Record<string, unknown>[])[0].pool).toEqual({ warmup: { connections: 2 } });
    expect(cold.access_log).toEqual({ enabled: false });
  });

  it.each([
    [[{ port: 2, warm: null }], false, true],
    [[{ port: 1, warm: null }, { port: 2, warm: null }], false, false], // the old one is still listed (draining)
    [[{ port: 2, warm: false }], true, false],
    [[{ port: 2, warm: true }], true, true],
    [[{ port: 1, warm: true }], false, false],
  ])('swapDone(%j, warm %j) = %j', (endpoints, warm, want) => {
    expect(swapDone([{ name: 'other', endpoints: [] }, { name: 'up', endpoints }], { port: 1 }, { port: 2 }, warm)).toBe(want);
  });

  it('reads the upstream TLS counters of cluster up from the metrics', () => {
    const text = [
      'pillion_upstream_tls_handshakes_total{cluster="api"} 99',
      'pillion_upstream_tls_handshakes_total{cluster="up"} 12',
      'pillion_upstream_tls_handshake_seconds_sum{cluster="up"} 0.0331',
    ].join('\n');
    expect(clusterMetric(text, 'upstream_tls_handshakes_total')).toBe(12);
    expect(clusterMetric(text, 'upstream_tls_handshake_seconds_sum')).toBe(0.0331);
    expect(clusterMetric(text, 'upstream_tls_sessions_resumed_total')).toBe(0);
  });

  it('renders HTTPS in the doc and a separate TLS table in the README summary', () => {
    expect(describeLoad({ connections: 50, path: '/' }, true)).toBe('GET / over HTTPS, 50 connections, pipelining 1');
    expect(describeLoad({ connections: 50, path: '/' })).toBe('GET /, 50 connections, pipelining 1');
    const row = (id: string, kind: string, rps: number | null, cpu: number | null, p50: number) => ({
      id, kind, workers: 1, samples: [], summary: { rps, p50, p99: p50 * 2, errors: 0, cpuPer10k: cpu, idleRssKiB: null, loadRssKiB: null, rssKiB: null },
    });
    const scenario = (name: string, tlsFlag: boolean, rs: ReturnType<typeof row>[], pick?: () => string) => ({
      name, title: name, load: { connections: 50, path: '/' }, ...(tlsFlag ? { tls: true } : {}), date: '2030-01-01T00:00:00.000Z',
      settings: { duration: 10, warmup: 2, repeats: 3 }, skipped: [], rows: compareRows(rs as never, pick),
    });
    const res = {
      date: '2030-01-01T00:00:00.000Z', quick: false,
      machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux', os: 'Debian 12', node: 'v20', loadAverage: [0, 0, 0] },
      versions: {}, peers: {}, absent: [],
      scenarios: [
        scenario('hello-world', false, [row('nginx-1', 'nginx', 50_000, 0.15, 1), row('pillion-1', 'pillion', 55_000, 0.3, 1)]),
        scenario('tls-hello-world', true, [row('pillion-1', 'pillion', 8_000, 1.2, 4), row('nginx-1', 'nginx', 10_000, 0.3, 2)]),
        scenario('tls-handshakes', true, [row('pillion-1', 'pillion', 900, 9.9, 40), row('nginx-1', 'nginx', 1_000, 4.1, 35)]),
        scenario('tls-upstream-first-request', false, [row('cold', 'pillion', null, null, 5.85), row('warm', 'pillion', null, null, 2.27)], () => 'cold'),
      ],
    };
    const md = renderMarkdown(res as never);
    expect(md).toContain('GET / over HTTPS, 50 connections, pipelining 1; 3 rounds');
    expect(md).toContain(TLS_METHOD);
    expect(md).toContain('| **cold** | — | 5.85 (1.00×) |');
    expect(renderTlsSummary(res as never)).toEqual([
      '',
      'Over TLS (one worker each, the same ECDSA P-256 certificate; ratios to nginx-1):',
      '',
      '| peer | tls-hello-world req/s | tls-hello-world CPU s/10k | tls-handshakes handshakes/s | tls-handshakes CPU s/10k |',
      '| --- | ---: | ---: | ---: | ---: |',
      '| pillion-1 | 8,000 (0.80×) | 1.20 (4.00×) | 900 (0.90×) | 9.90 (2.41×) |',
      '| nginx-1 | 10,000 | 0.300 | 1,000 | 4.10 |',
      '',
      'First request through Pillion to an endpoint behind TLS just added through the admin API (`tls-upstream-first-request`), p50: 5.85 ms without `pool.warmup`, 2.27 ms with it.',
    ]);
    expect(renderReadmeSummary(res as never)).toContain('| pillion-1 | 8,000 (0.80×) |');
    expect(renderTlsSummary({ ...res, scenarios: res.scenarios.slice(0, 1) } as never)).toEqual([]);
    expect(renderMarkdown({ ...res, scenarios: res.scenarios.slice(0, 1) } as never)).not.toContain(TLS_METHOD);
  });

  it('warms a scenario with its own measure through its warm hook, before the first measured run', async () => {
    const calls: string[] = [];
    const kind = {
      name: 'fake', describe: '', multiWorker: false,
      probe: async () => ({ ok: true as const, version: '' }),
      start: async () => ({ url: 'https://127.0.0.1:1', pid: null, stop: async () => { calls.push('stop'); } }),
    };
    const scenario = {
      name: 'fake-tls', title: 't', order: 1, load: { connections: 1, path: '/' }, tls: true,
      warm: async (url: string, seconds: number) => { calls.push(`warm ${url} ${seconds}`); },
      measure: async () => { calls.push('measure'); return sample() as never; },
    };
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-warm-'));
    const res = await runScenario(scenario, [{ id: 'fake', kind, workers: 1, version: '', facts: {} }], {
      root: ROOT, tmp, upstream: { host: '127.0.0.1', port: 1, pid: process.pid },
      settings: { duration: 1, warmup: 2, repeats: 2 }, log: () => {},
    }).finally(() => rmSync(tmp, { recursive: true, force: true }));
    expect(calls).toEqual(['warm https://127.0.0.1:1 2', 'measure', 'measure', 'stop']);
    expect(res.tls).toBe(true);
  });
});
