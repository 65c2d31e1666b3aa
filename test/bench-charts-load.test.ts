// The bench's `--load` choice and the charts docs/benchmarks.md shows per scenario: pure parts, as
// tables. (The run with wrk itself is in test/interop/bench-wrk.interop.ts: wrk is a Debian program.)
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../bench/lib/args.js';
import { chartPath, scenarioChart } from '../bench/lib/chart-svg.js';
import { renderMarkdown } from '../bench/lib/report-markdown.js';
import { compareRows } from '../bench/lib/run-scenario.js';
import { wrkCanDrive } from '../bench/lib/wrk-load.js';

const summary = (rps: number | null, cpuPer10k: number | null) => ({ rps, p50: 1, p99: 2, errors: 0, cpuPer10k, idleRssKiB: 16_384, loadRssKiB: 17_408, rssKiB: 18_432 });
const sample = { rps: 1, p50: 1, p99: 2, errors: 0, requests: 10, seconds: 1, cpuPer10k: 0.1, rssKiB: 1, upstreamCpuPer10k: 0.1, loadCpu: 0.2 };

function scenario(rows: { id: string; kind: string; rps: number | null; cpu: number | null }[], loadGenerator?: 'autocannon' | 'wrk') {
  return {
    name: 'hello-world',
    title: 'hello',
    load: { connections: 50, path: '/' },
    ...(loadGenerator ? { loadGenerator } : {}),
    date: '2030-01-01T00:00:00.000Z',
    settings: { duration: 10, warmup: 2, repeats: 3 },
    skipped: [],
    rows: compareRows(rows.map((r) => ({ id: r.id, kind: r.kind, workers: 1, samples: [sample] as never, summary: summary(r.rps, r.cpu) }))),
  };
}

describe('--load', () => {
  it.each([
    [[], 'autocannon'],
    [['--load', 'autocannon'], 'autocannon'],
    [['--load', 'wrk'], 'wrk'],
  ])('%j -> %s', (argv, load) => expect(parseBenchArgs(argv).load).toBe(load));

  it('refuses another generator by name', () => {
    expect(() => parseBenchArgs(['--load', 'ab'])).toThrow('--load must be autocannon or wrk, got "ab"');
  });

  it.each([
    [{ connections: 50, path: '/' }, true],
    [{ connections: 10, path: '/upload', method: 'POST' as const, bodyBytes: 1 << 20 }, true],
    [{ connections: 50, path: '/', pipelining: 16 }, false],
    [{ connections: 10, path: '/', streams: 10 }, false],
  ])('wrk drives %j: %s', (load, can) => expect(wrkCanDrive(load)).toBe(can));
});

describe('charts', () => {
  it('draws one bar per peer in each panel, proportional to the largest, with its figure', () => {
    const svg = scenarioChart(
      scenario([
        { id: 'pillion-1', kind: 'pillion', rps: 40_000, cpu: 0.25 },
        { id: 'nginx-1', kind: 'nginx', rps: 20_000, cpu: 0.125 },
      ]) as never,
    )!;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    // The panels are 300 px wide less a 10 px margin: the largest bar is 290 px, half of it 145.
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="(\d+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([290, 290, 145, 145]);
    // CPU s per 10k requests shown as µs per request.
    expect(svg).toContain('>40k</text>');
    expect(svg).toContain('>25.0</text>');
    expect(svg).toContain('>12.5</text>');
    expect(svg).toContain('>pillion-1</text>');
  });

  it('says n/a for a figure a row does not have, and draws nothing for a scenario without figures', () => {
    const svg = scenarioChart(scenario([{ id: 'pillion-1', kind: 'pillion', rps: 100, cpu: null }]) as never)!;
    expect(svg).toContain('>n/a</text>');
    expect(scenarioChart(scenario([{ id: 'pillion-1', kind: 'pillion', rps: null, cpu: null }]) as never)).toBeNull();
  });

  it('names the rate a scenario measures instead of req/s', () => {
    const s = { ...scenario([{ id: 'pillion-1', kind: 'pillion', rps: 1200, cpu: 1 }]), title: 'TCP bulk (req/s column = MiB/s)' };
    expect(scenarioChart(s as never)).toContain('>MiB/s (higher is better)</text>');
    expect(scenarioChart(scenario([{ id: 'p', kind: 'pillion', rps: 1, cpu: 1 }]) as never)).toContain('>req/s (higher is better)</text>');
  });

  it('escapes names and keeps file names to safe characters', () => {
    expect(scenarioChart(scenario([{ id: 'a<b>&"', kind: 'x', rps: 1, cpu: 1 }]) as never)).toContain('>a&lt;b&gt;&amp;&quot;</text>');
    expect(chartPath('tls-hello-world')).toBe('benchmarks/tls-hello-world.svg');
    expect(chartPath('we/ird name')).toBe('benchmarks/we_ird_name.svg');
  });

  it('are linked from the doc under each table, and the load generator is named', () => {
    const res = {
      date: '2030-01-01T00:00:00.000Z',
      quick: false,
      machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux', os: 'Debian 12', node: 'v20', loadAverage: [0, 0, 0] },
      versions: {},
      peers: {},
      absent: [],
      scenarios: [scenario([{ id: 'pillion-1', kind: 'pillion', rps: 40_000, cpu: 0.25 }], 'wrk')],
    };
    const md = renderMarkdown(res as never);
    expect(md).toContain('GET /, 50 connections, pipelining 1 (load: wrk); 3 rounds');
    expect(md).toContain('![hello-world: req/s and proxy CPU per request, by peer](benchmarks/hello-world.svg)');
    expect(md).toContain('The load generator (wrk, one thread)');
  });
});
