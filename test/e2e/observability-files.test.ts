/**
 * The Grafana dashboard and the Prometheus alerting rules in examples/observability query only what
 * Pillion exports: every metric name in every expression (panels, variables, annotations, rules) is a
 * series a running Pillion's /metrics declares, histogram suffixes only on histograms, and every label
 * an expression filters or groups on is one the series carry.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '@pillion/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

const DIR = new URL('../../examples/observability/', import.meta.url);
/** Labels Prometheus adds when it scrapes, and the bucket bound of histograms. */
const SCRAPE_LABELS = new Set(['instance', 'job', 'le']);

interface Expression {
  where: string;
  expr: string;
}

function dashboardExpressions(): Expression[] {
  const dash = JSON.parse(readFileSync(fileURLToPath(new URL('grafana-dashboard.json', DIR)), 'utf8')) as {
    panels: { id: number; title: string; type: string; gridPos?: unknown; targets?: { refId: string; expr: string }[] }[];
    templating: { list: { name: string; type: string; query: unknown }[] };
    annotations: { list: { name: string; expr?: string }[] };
  };
  const out: Expression[] = [];
  const ids = new Set<number>();
  for (const p of dash.panels) {
    expect(ids.has(p.id), `panel id ${p.id} used twice`).toBe(false);
    ids.add(p.id);
    expect(p.gridPos, `panel "${p.title}" has a position`).toBeDefined();
    if (p.type === 'row') continue;
    expect(p.targets?.length, `panel "${p.title}" has queries`).toBeGreaterThan(0);
    for (const t of p.targets!) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    const q = v.query as { query: string };
    // label_values(selector, label): the selector is an expression; the label must be on it.
    const m = /^label_values\((.*), *(\w+)\)$/.exec(q.query);
    expect(m, `variable ${v.name} is a label_values query`).not.toBeNull();
    out.push({ where: `variable ${v.name}`, expr: `sum by (${m![2]}) (${m![1]})` });
  }
  for (const a of dash.annotations.list) if (a.expr) out.push({ where: `annotation ${a.name}`, expr: a.expr });
  return out;
}

function ruleExpressions(): Expression[] {
  const parsed = parseConfigText(readFileSync(fileURLToPath(new URL('prometheus-alerts.yaml', DIR)), 'utf8'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const doc = parsed.doc as { groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string } }[] }[] };
  const out: Expression[] = [];
  const names = new Set<string>();
  for (const g of doc.groups) {
    for (const r of g.rules) {
      expect(names.has(r.alert), `alert ${r.alert} defined twice`).toBe(false);
      names.add(r.alert);
      expect(['page', 'ticket'], `${r.alert} severity`).toContain(r.labels.severity);
      expect(r.annotations.summary, `${r.alert} summary`).toBeTruthy();
      if (r.for !== undefined) expect(r.for, `${r.alert} for`).toMatch(/^\d+[smh]$/);
      out.push({ where: `alert ${r.alert}`, expr: r.expr });
    }
  }
  // The pages the issue names are all there.
  for (const a of ['PillionHighErrorRatio', 'PillionEndpointEjected', 'PillionCircuitBreakerRejecting', 'PillionFailureBreakerOpen', 'PillionConfigReloadFailed', 'PillionCertificateExpiringSoon', 'PillionNoHealthyEndpoint']) {
    expect(names).toContain(a);
  }
  return out;
}

/** What /metrics declares: each name's TYPE, and the label names its samples carry. */
interface Exported {
  types: Map<string, string>;
  /** Sample name → label names seen on its samples. */
  labels: Map<string, Set<string>>;
}

function exported(text: string): Exported {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    const s = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!s) continue;
    const set = labels.get(s[1]!) ?? new Set<string>();
    for (const m of (s[2] ?? '').matchAll(/(\w+)="/g)) set.add(m[1]!);
    labels.set(s[1]!, set);
  }
  return { types, labels };
}

/** The metric a sample name belongs to: `x_bucket` of histogram `x` is `x`. */
function declared(name: string, ex: Exported): { ok: boolean; why: string } {
  const type = ex.types.get(name);
  if (type !== undefined) return type === 'histogram' ? { ok: false, why: `${name} is a histogram: query ${name}_bucket, _sum or _count` } : { ok: true, why: '' };
  const h = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (h && ex.types.get(h[1]!) === 'histogram') return { ok: true, why: '' };
  return { ok: false, why: `${name} is not exported` };
}

/** Metric names, label matchers and grouping labels of a PromQL expression (string literals removed first). */
function parsePromql(expr: string): { metrics: string[]; labels: string[] } {
  let depth = 0;
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('({['.includes(ch)) depth++;
    if (')}]'.includes(ch)) depth--;
    expect(depth, `unbalanced brackets in ${expr}`).toBeGreaterThanOrEqual(0);
  }
  expect(depth, `unbalanced brackets in ${expr}`).toBe(0);
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const metrics = [...new Set([...bare.matchAll(/\bpillion_[a-zA-Z0-9_:]*/g)].map((m) => m[0]))];
  const labels: string[] = [];
  for (const m of bare.matchAll(/\{([^}]*)\}/g)) for (const l of m[1]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) labels.push(l[1]!);
  for (const m of bare.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) for (const l of m[1]!.split(',')) if (l.trim()) labels.push(l.trim());
  return { metrics, labels };
}

let pillion: PillionProcess;
let listen: number;
const servers: Server[] = [];

beforeAll(async () => {
  const [up, web, admin] = await freePorts(3);
  listen = web!;
  const s = createServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end('ok');
  });
  await new Promise<void>((r) => s.listen(up!, '127.0.0.1', () => r()));
  servers.push(s);
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'svc', retry: { attempts: 1, on: ['5xx'], backoff: { base: '1ms', max: '2ms' } } }] }],
    clusters: [{ name: 'svc', failure_breaker: {}, endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  await pillion?.stop();
  for (const s of servers) await new Promise((r) => (s.closeAllConnections(), s.close(r)));
});

describe('examples/observability', () => {
  it('queries only metrics and labels a running Pillion exports', async () => {
    for (const path of ['/ok', '/fail']) await (await fetch(`http://127.0.0.1:${listen}${path}`)).text();
    const text = await waitFor(
      async () => {
        const t = await pillion.metrics();
        return metricSum(t, 'pillion_route_requests_total') === 2 && t;
      },
      { message: 'the two requests to be counted' },
    );
    const ex = exported(text);
    const expressions = [...dashboardExpressions(), ...ruleExpressions()];
    expect(expressions.length).toBeGreaterThan(60);
    const problems: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of expressions) {
      const { metrics, labels } = parsePromql(expr);
      if (metrics.length === 0) problems.push(`${where}: no pillion metric in ${expr}`);
      const known = new Set(SCRAPE_LABELS);
      let allHaveSamples = true;
      for (const m of metrics) {
        used.add(m);
        const d = declared(m, ex);
        if (!d.ok) problems.push(`${where}: ${d.why}`);
        const seen = ex.labels.get(m);
        if (seen === undefined) allHaveSamples = false;
        else for (const l of seen) known.add(l);
      }
      // Labels can be checked where the series exist (some only with TLS listeners, filters or gRPC).
      if (allHaveSamples) for (const l of labels) if (!known.has(l)) problems.push(`${where}: no series of ${metrics.join(', ')} has label "${l}"`);
    }
    expect(problems).toEqual([]);
    // The new series are on the dashboard.
    for (const m of [
      'pillion_upstream_first_byte_seconds_bucket',
      'pillion_upstream_request_duration_seconds_bucket',
      'pillion_upstream_pool_wait_seconds_bucket',
      'pillion_route_requests_total',
      'pillion_route_request_duration_seconds_bucket',
      'pillion_endpoint_responses_total',
      'pillion_retries_by_reason_total',
      'pillion_circuit_breaker_rejections_total',
      'pillion_endpoint_ejected',
      'pillion_endpoint_failure_breaker_open',
      'pillion_wasm_filter_errors_total',
      'pillion_grpc_responses_total',
      'pillion_pool_warm_connections',
    ]) {
      expect(used).toContain(m);
    }
  });
});
