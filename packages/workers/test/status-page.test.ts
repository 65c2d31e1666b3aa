/**
 * The status page's rendering (the same function runs in the server and in the browser): rates from
 * two samples, escaping of every value, and a page whose Content-Security-Policy admits exactly its
 * own script and style.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PAGE_HEADERS, renderStatus, statusPage } from '../src/supervisor/status-page.js';
import type { StatsJson } from '../src/supervisor/stats-json.js';
import type { EndpointView } from '../src/supervisor/clusters-view.js';

function endpoint(port: number, over: Partial<EndpointView> = {}): EndpointView {
  return {
    address: '127.0.0.1',
    port,
    zone: '',
    source: 'config',
    hostname: null,
    state: 'active',
    weight: 2,
    effective_weight: 1.5,
    health: {
      active: 'healthy',
      passive: 'ok',
      ejected: false,
      ejected_until: null,
      ejection_remaining_ms: 0,
      times_ejected: 0,
      consecutive_5xx: 0,
      consecutive_gateway_failure: 0,
    },
    active_requests: 0,
    active_connections: 0,
    warm_connections: 0,
    warm: null,
    failure_breaker: null,
    requests_total: 0,
    connect_failures_total: 0,
    ...over,
  };
}

/** A sample at `uptime` seconds with `n` requests through listener "web" to cluster "api" (of which `errors` 5xx). */
function sample(uptime: number, n: number, errors = 0, endpoints: EndpointView[] = [endpoint(8001, { requests_total: n })]): StatsJson {
  return {
    time: '2026-01-01T00:00:00.000Z',
    process: { pid: 42, workers: 2, workers_running: 2, uptime_seconds: uptime, rss_bytes: 3 * 1024 * 1024, config_generation: 1, draining: false },
    listeners: [
      { name: 'web', protocol: 'http', tls: false, address: '127.0.0.1', port: 8080, unit: 'requests', requests_total: n, requests_active: 1, local_replies: 0, bytes_received: 0, bytes_sent: 2048 },
    ],
    clusters: [
      {
        name: 'api',
        protocol: 'http1',
        lb_policy: 'round-robin',
        requests_total: n,
        requests_by_class: { none: 0, '1xx': 0, '2xx': n - errors, '3xx': 0, '4xx': 0, '5xx': errors },
        requests_active: 3,
        requests_pending: 1,
        connections_active: 4,
        retries_total: 0,
        retries_active: 0,
        limits: { max_connections: 100, max_pending_requests: 10, max_requests: 50, max_retries: 3 },
        breaker_rejections: { max_connections: 0, max_pending_requests: 2, max_requests: 0, max_retries: 0, failure_rate: 1 },
        ejected_endpoints: 0,
        outlier_ejections_total: 0,
        endpoints,
      },
    ],
  };
}

/** The text of the first element carrying `data-field="FIELD"` after `anchor` in `html`. */
function field(html: string, anchor: string, name: string): string {
  const from = html.indexOf(anchor);
  expect(from).toBeGreaterThanOrEqual(0);
  const m = new RegExp(`data-field="${name}"[^>]*>(.*?)</(td|dd)>`).exec(html.slice(from));
  return (m?.[1] ?? '').replace(/<[^>]*>/g, '');
}

describe('renderStatus', () => {
  it('shows rates as the difference of two samples over their uptimes', () => {
    const html = renderStatus(sample(12, 30, 4), sample(10, 20, 1));
    expect(field(html, 'data-listener="web"', 'rate')).toBe('5.0 requests');
    expect(field(html, 'data-cluster="api"', 'rate')).toBe('5.0');
    expect(field(html, 'data-cluster="api"', 'error-rate')).toBe('1.5');
    expect(field(html, 'data-endpoint="127.0.0.1:8001"', 'rate')).toBe('5.0');
    expect(field(html, 'data-cluster="api"', 'rejections')).toBe('max_pending_requests 2, failure_rate 1');
    expect(html).toContain('<meter min="0" max="50" low="25" high="40" optimum="0" value="3"></meter><span class="n">3 / 50</span>');
    expect(field(html, 'data-endpoint="127.0.0.1:8001"', 'effective-weight')).toBe('1.50');
    expect(field(html, 'data-listener="web"', 'sent')).toBe('2.0 KiB');
    expect(field(html, 'class="process"', 'rss')).toBe('3.0 MiB');
  });

  it('shows no rate without an earlier sample of the same process, or for something new', () => {
    expect(field(renderStatus(sample(12, 30), null), 'data-listener="web"', 'rate')).toBe('– requests');
    const restarted = { ...sample(1, 3), process: { ...sample(1, 3).process, pid: 43 } };
    expect(field(renderStatus(restarted, sample(10, 20)), 'data-cluster="api"', 'rate')).toBe('–');
    const added = sample(12, 30, 0, [endpoint(8001, { requests_total: 30 }), endpoint(8002, { requests_total: 7 })]);
    const html = renderStatus(added, sample(10, 20));
    expect(field(html, 'data-endpoint="127.0.0.1:8002"', 'rate')).toBe('–');
    expect(field(html, 'data-endpoint="127.0.0.1:8001"', 'rate')).toBe('5.0');
  });

  it('shows health, ejection and the failure-rate breaker', () => {
    const ejected = endpoint(8001, {
      state: 'draining',
      failure_breaker: 'half-open',
      health: { ...endpoint(1).health, active: 'unhealthy', passive: 'ejected', ejected: true, ejected_until: '2026-01-01T00:00:30.000Z', ejection_remaining_ms: 12_345, times_ejected: 2 },
    });
    const html = renderStatus(sample(1, 0, 0, [ejected]), null);
    const row = html.slice(html.indexOf('data-endpoint="127.0.0.1:8001"'));
    expect(row).toContain('<td data-field="state"><span class="badge warn">draining</span></td>');
    expect(row).toContain('<td data-field="active-health"><span class="badge bad">unhealthy</span></td>');
    expect(row).toContain('<td data-field="passive-health"><span class="badge bad">ejected</span></td>');
    expect(row).toContain('<span title="2026-01-01T00:00:30.000Z">12.3 s left</span>');
    expect(row).toContain('<td data-field="breaker"><span class="badge warn">half-open</span></td>');
  });

  it('escapes every value it renders', () => {
    const hostile = `<img src=x onerror="alert(1)">&'`;
    const html = renderStatus(sample(1, 0, 0, [endpoint(8001, { zone: hostile, address: `a"b<c>` })]), null);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;');
    expect(html).toContain('data-endpoint="a&quot;b&lt;c&gt;:8001"');
  });

  it('runs from its own source text, as the browser gets it', () => {
    const shipped = new Function(`return ${renderStatus.toString()}`)() as typeof renderStatus;
    expect(shipped(sample(12, 30, 4), sample(10, 20, 1))).toBe(renderStatus(sample(12, 30, 4), sample(10, 20, 1)));
  });
});

describe('statusPage', () => {
  const stats = sample(1, 0, 0, [endpoint(8001, { zone: '</script><script>alert(1)</script>' })]);
  const page = statusPage(stats);
  const scripts = [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)![1]!;
  const sha = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

  it('embeds the first sample as JSON that cannot close its element', () => {
    expect(scripts.map((s) => s[1])).toEqual([' type="application/json" id="initial-stats"', '']);
    expect(scripts[0]![2]).not.toMatch(/[<>&]/);
    expect(JSON.parse(scripts[0]![2]!)).toEqual(stats);
  });

  it('allows its own script and style by hash and nothing else', () => {
    const csp = PAGE_HEADERS['content-security-policy']!;
    expect(csp).toContain(`script-src ${sha(scripts[1]![2]!)};`);
    expect(csp).toContain(`style-src ${sha(style)};`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(scripts[1]![2]).not.toMatch(/<\/script|<!--|<script/i);
  });

  it('renders the first view on the server', () => {
    expect(page).toContain('<main id="status"><section class="process">');
    expect(page).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.match(/<script/g)).toHaveLength(2);
  });
});
