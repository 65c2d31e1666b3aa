// The benchmark harness: its pure parts as tables, then one short real run (upstream,
// direct and the Node peer) to show the measuring path works end to end.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../bench/lib/args.js';
import { startChild } from '../bench/lib/child.js';
import { fmtMs } from '../bench/lib/format.js';
import { LatencyHistogram } from '../bench/lib/latency-histogram.js';
import { per10k } from '../bench/lib/load.js';
import { cpuSecondsBetween, parsePeakRssKiB, parseStat } from '../bench/lib/proc.js';
import { renderMarkdown } from '../bench/lib/report-markdown.js';
import { mergeResults } from '../bench/lib/results.js';
import { compareRows, runScenario } from '../bench/lib/run-scenario.js';
import { interleave } from '../bench/lib/schedule.js';
import { baselineFor, median, ratio, summarize } from '../bench/lib/stats.js';
import { haproxyConfig } from '../bench/peers/haproxy.js';
import direct from '../bench/peers/direct.js';
import httpProxy from '../bench/peers/http-proxy.js';
import { PEER_KINDS, peerSelected, peerVariants } from '../bench/peers/index.js';
import { nginxConfig } from '../bench/peers/nginx.js';
import { pillionConfig } from '../bench/peers/pillion.js';
import { checkScenario, loadScenarios } from '../bench/scenarios/index.js';

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

  it('summarises medians, and the largest peak RSS', () => {
    const s = summarize([sample({ rps: 10, rssKiB: 100 }), sample({ rps: 30, rssKiB: 300 }), sample({ rps: 20, rssKiB: 200 })] as never);
    expect(s).toEqual({ rps: 20, p50: 1, p99: 2, errors: 0, cpuPer10k: 0.5, rssKiB: 300 });
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
      { id: 'nginx-1', kind: 'nginx', workers: 1, samples: [], summary: { rps: 100, p50: 1, p99: 4, errors: 0, cpuPer10k: 0.2, rssKiB: 1000 } },
      { id: 'pillion-1', kind: 'pillion', workers: 1, samples: [], summary: { rps: 150, p50: 0.5, p99: 2, errors: 3, cpuPer10k: 0.1, rssKiB: 4000 } },
    ]);
    expect(out[1].baseline).toBe('nginx-1');
    expect(out[1].ratio).toEqual({ rps: 1.5, p50: 0.5, p99: 0.5, errors: null, cpuPer10k: 0.5, rssKiB: 4 });
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

  it('reads VmHWM', () => {
    expect(parsePeakRssKiB('Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n')).toBe(12345);
    expect(parsePeakRssKiB('Name:\tkthreadd\n')).toBeNull();
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
    [[], { scenarios: [], quick: false, duration: 10, warmup: 2, repeats: 3, peers: null, workers: null }],
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
  const scenario = (name: string, date: string) => ({
    name, title: name, load: { connections: 50, path: '/' }, date, settings: { duration: 10, warmup: 2, repeats: 3 }, skipped: [],
    rows: compareRows([
      { id: 'nginx-1', kind: 'nginx', workers: 1, samples: [sample({ loadCpu: 0.9 })] as never, summary: { rps: 50_000, p50: 0.95, p99: 2.5, errors: 0, cpuPer10k: 0.15, rssKiB: 18_432 } },
      { id: 'pillion-1', kind: 'pillion', workers: 1, samples: [sample({ loadCpu: 0.8 })] as never, summary: { rps: 55_000, p50: 0.9, p99: 2, errors: 0, cpuPer10k: 0.3, rssKiB: 61_440 } },
    ]),
  });
  const run = (date: string, names: string[]) => ({
    date, quick: false,
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux 6.1 x64', os: 'Debian 12', node: 'v20.20.2', loadAverage: [0.1, 0.2, 0.3] },
    versions: { pillion: '0.1.0 (abc1234)', nginx: '1.22.1', haproxy: null },
    peers: { nginx: 'nginx as configured', pillion: 'Pillion' },
    absent: [{ peer: 'haproxy', reason: 'haproxy is not installed' }],
    scenarios: names.map((n) => scenario(n, date)),
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
    expect(md).toContain('| **nginx-1** | 50,000 (1.00×) | 0.95 (1.00×) | 2.50 (1.00×) | 0 | 0.150 (1.00×) | 18 (1.00×) | 90% |');
    expect(md).toContain('| pillion-1 | 55,000 (1.10×) | 0.90 (0.95×) | 2.00 (0.80×) | 0 | 0.300 (2.00×) | 60 (3.33×) | 80% |');
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
    expect(hp.cpuPer10k).toBeGreaterThan(0);
    expect(hp.rssKiB).toBeGreaterThan(10_000);
    expect(lines).toHaveLength(2);
  });
});
