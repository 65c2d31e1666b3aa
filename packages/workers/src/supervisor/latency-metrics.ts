/**
 * The metrics that say where time and errors go: upstream latency, pool wait, per-route requests and
 * durations, per-endpoint response classes, retries by reason, and which endpoints are ejected or
 * behind an open failure-rate breaker. All read from SharedState at scrape
 * time (workers add to their statistics rows, no message per request). Labels are names from the
 * config only (listener, route, cluster, endpoint) and fixed reason lists: never paths or ids.
 */
import {
  BREAKER_CLOSED,
  CODE_CLASSES,
  DURATION_BUCKETS,
  HEALTH_EJECTED,
  RETRY_REASONS,
  RETRY_REASON_STATS,
  type ClusterHistogram,
  type Histogram,
  type SharedState,
} from '@pillion/core';
import type { RuntimeSnapshot } from '../messages.js';

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export type AddScraped = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[]) => void;

/** Appends a histogram's Prometheus samples (cumulative buckets, +Inf, sum, count) to `out`. */
export function histogramSamples(out: Sample[], name: string, labels: Record<string, string>, h: Histogram): void {
  let cumulative = 0;
  for (let b = 0; b < DURATION_BUCKETS.length; b++) {
    cumulative += h.buckets[b]!;
    out.push({ metricName: `${name}_bucket`, value: cumulative, labels: { ...labels, le: DURATION_BUCKETS[b]! } });
  }
  out.push({ metricName: `${name}_bucket`, value: h.count, labels: { ...labels, le: '+Inf' } });
  out.push({ metricName: `${name}_sum`, value: h.sum, labels });
  out.push({ metricName: `${name}_count`, value: h.count, labels });
}

/** [listener, route name, slot] of every counted route; routes sharing a name on a listener share a slot, listed once. */
export function routeSlots(snap: RuntimeSnapshot): [string, string, number][] {
  const out: [string, string, number][] = [];
  for (const l of snap.config.listeners) {
    const slots = snap.routeSlots?.[l.name];
    if (l.protocol !== 'http' || slots === undefined) continue;
    const seen = new Set<number>();
    l.routes.forEach((r, i) => {
      const slot = slots[i];
      if (slot === undefined || seen.has(slot)) return;
      seen.add(slot);
      out.push([l.name, r.name ?? `route-${i}`, slot]);
    });
  }
  return out;
}

export function addLatencyMetrics(add: AddScraped, state: SharedState, snapshot: () => RuntimeSnapshot): void {
  const perCluster = (name: string, help: string, which: ClusterHistogram) =>
    add(name, help, 'histogram', () => {
      const out: Sample[] = [];
      for (const c of snapshot().clusters) histogramSamples(out, `pillion_${name}`, { cluster: c.name }, state.clusterHistogram(c.slot, which));
      return out;
    });
  perCluster(
    'upstream_first_byte_seconds',
    'Time from an attempt\'s request handed to an upstream connection to its response head, per cluster (every attempt that got a head, retried ones included).',
    'upstream_first_byte',
  );
  perCluster(
    'upstream_request_duration_seconds',
    'Time from an attempt\'s request handed to an upstream connection to the last byte of its response, per cluster (attempts whose response completed).',
    'upstream_duration',
  );
  perCluster(
    'upstream_pool_wait_seconds',
    'Time an attempt waited for its endpoint\'s pool to hand over a connection or stream (includes connecting and TLS when none was warm), per cluster.',
    'pool_wait',
  );

  add('route_requests_total', 'Requests that matched a route, by listener, route name and response class.', 'counter', () => {
    const out: Sample[] = [];
    for (const [listener, route, slot] of routeSlots(snapshot())) {
      for (let k = 0; k < CODE_CLASSES.length; k++) {
        const value = state.routeRequests(slot, k);
        if (value > 0) out.push({ value, labels: { listener, route, code_class: CODE_CLASSES[k]! } });
      }
    }
    return out;
  });
  add('route_request_duration_seconds', 'Time from request start to the end of the response, by listener and route name.', 'histogram', () => {
    const out: Sample[] = [];
    for (const [listener, route, slot] of routeSlots(snapshot())) histogramSamples(out, 'pillion_route_request_duration_seconds', { listener, route }, state.routeDuration(slot));
    return out;
  });

  add('endpoint_responses_total', 'Attempts on each endpoint by response class (none: connect failure, reset or timeout).', 'counter', () =>
    snapshot().clusters.flatMap((c) =>
      c.endpoints.flatMap((e) => {
        const out: Sample[] = [];
        for (const code_class of CODE_CLASSES) {
          const value = state.endpointStat(e.slot, `responses_${code_class}`);
          if (value > 0) out.push({ value, labels: { cluster: c.name, endpoint: e.key, code_class } });
        }
        return out;
      }),
    ),
  );

  add('endpoint_ejected', '1 while outlier detection keeps the endpoint ejected.', 'gauge', () =>
    snapshot().clusters.flatMap((c) => c.endpoints.map((e) => ({ value: state.endpoint(e.slot, 'health') & HEALTH_EJECTED ? 1 : 0, labels: { cluster: c.name, endpoint: e.key } }))),
  );
  add('endpoint_failure_breaker_open', '1 while the endpoint\'s failure-rate breaker is not closed (open, or half-open until its probes succeed); clusters with failure_breaker only.', 'gauge', () =>
    snapshot().clusters.flatMap((c) =>
      c.config.failure_breaker === undefined
        ? []
        : c.endpoints.map((e) => ({ value: state.endpoint(e.slot, 'frb_phase') === BREAKER_CLOSED ? 0 : 1, labels: { cluster: c.name, endpoint: e.key } })),
    ),
  );

  add('retries_by_reason_total', 'Retries started, by what failed (they add up to pillion_retries_total).', 'counter', () =>
    snapshot().clusters.flatMap((c) => RETRY_REASONS.map((reason, i) => ({ value: state.clusterStat(c.slot, RETRY_REASON_STATS[i]!), labels: { cluster: c.name, reason } }))),
  );
}
