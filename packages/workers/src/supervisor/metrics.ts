/**
 * The Prometheus registry. Collectors read SharedState when scraped: workers never send a message per
 * request, they add to their own statistics row and the scrape sums the rows.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { BREAKER_LIMITS, CODE_CLASSES, DURATION_BUCKETS, GRPC_STATUS_STATS, grpcStatusName, HEALTH_ACTIVE_FAILED, HEALTH_EJECTED, HEALTH_UNKNOWN, type ClusterStat, type SharedState } from '@pillion/core';
import type { RuntimeSnapshot } from '../messages.js';
import type { FilterCounters } from '../messages.js';
import { addL4Metrics } from '../l4/l4-metrics.js';
import { addLatencyMetrics } from './latency-metrics.js';
import type { DnsClusterStats } from './dns-discovery.js';

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels?: Labels;
  metricName?: string;
}
interface MetricDoc {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

/** A metric whose samples are computed at scrape time. */
class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricDoc['type'],
    private readonly read: () => Sample[],
  ) {}
  get(): MetricDoc {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: 'sum' };
  }
}

export interface MetricsSource {
  state: SharedState;
  snapshot(): RuntimeSnapshot;
  workersRunning(): number;
  /** Config reloads so far, by result (success, failure). */
  reloads?(): Record<string, number>;
  /** The latest filter counters each worker reported. */
  filterCounters?(): Iterable<FilterCounters>;
  /** Certificate files' expiry (ms since the epoch) and certificate reloads by result. */
  tls?(): { expiries: readonly { file: string; notAfter: number }[]; reloads: Record<string, number> };
  /** DNS discovery, by cluster. */
  dns?(): ReadonlyMap<string, DnsClusterStats>;
}

export function createMetricsRegistry(src: MetricsSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pillion_' });
  const add = (name: string, help: string, type: MetricDoc['type'], read: () => Sample[]) =>
    registry.registerMetric(new ScrapedMetric(`pillion_${name}`, help, type, read) as never);
  const { state } = src;

  add('workers', 'Worker threads currently serving.', 'gauge', () => [{ value: src.workersRunning() }]);

  add('worker_requests_total', 'Downstream requests taken by each worker thread (the supervisor is the last row).', 'counter', () => {
    const out: Sample[] = [];
    const slots = Object.values(src.snapshot().listenerSlots);
    for (let t = 0; t < state.layout.cap.maxThreads - 1; t++) {
      let value = 0;
      for (const ls of slots) value += state.threadListenerStat(t, ls, 'downstream_cx_total');
      out.push({ value, labels: { worker: t } });
    }
    return out;
  });

  add('requests_total', 'Requests handled, by listener, cluster and response class.', 'counter', () => {
    const snap = src.snapshot();
    const out: Sample[] = [];
    const clusters: [string, number][] = [...snap.clusters.map((c) => [c.name, c.slot] as [string, number]), ['', -1]];
    for (const [listener, ls] of Object.entries(snap.listenerSlots)) {
      for (const [cluster, cs] of clusters) {
        for (let k = 0; k < CODE_CLASSES.length; k++) {
          const value = state.requests(ls, cs, k);
          if (value > 0) out.push({ value, labels: { listener, cluster, code_class: CODE_CLASSES[k]! } });
        }
      }
    }
    return out;
  });

  add('request_duration_seconds', 'Time from request start to the end of the response, by listener.', 'histogram', () => {
    const out: Sample[] = [];
    for (const [listener, ls] of Object.entries(src.snapshot().listenerSlots)) {
      const h = state.durationHistogram(ls);
      let cumulative = 0;
      for (let b = 0; b < DURATION_BUCKETS.length; b++) {
        cumulative += h.buckets[b]!;
        out.push({ metricName: 'pillion_request_duration_seconds_bucket', value: cumulative, labels: { listener, le: DURATION_BUCKETS[b]! } });
      }
      out.push({ metricName: 'pillion_request_duration_seconds_bucket', value: h.count, labels: { listener, le: '+Inf' } });
      out.push({ metricName: 'pillion_request_duration_seconds_sum', value: h.sum, labels: { listener } });
      out.push({ metricName: 'pillion_request_duration_seconds_count', value: h.count, labels: { listener } });
    }
    return out;
  });

  const perListener = (name: string, help: string, type: MetricDoc['type'], stat: Parameters<SharedState['listenerStat']>[1]) =>
    add(name, help, type, () =>
      Object.entries(src.snapshot().listenerSlots).map(([listener, ls]) => ({ value: state.listenerStat(ls, stat), labels: { listener } })),
    );
  perListener('tls_handshakes_total', 'TLS handshakes completed on the listener.', 'counter', 'tls_handshakes');
  perListener('tls_sessions_resumed_total', 'Of those, handshakes that resumed a session (a ticket from any worker).', 'counter', 'tls_resumed');
  const TLS_FAILURES = ['handshake', 'timeout', 'no_client_certificate', 'client_certificate_invalid', 'client_san_not_allowed'] as const;
  add('tls_handshake_failures_total', 'TLS connections refused, by reason.', 'counter', () =>
    src.snapshot().config.listeners.flatMap((l) => {
      const slot = src.snapshot().listenerSlots[l.name];
      if (slot === undefined || l.protocol === 'udp') return [];
      return TLS_FAILURES.map((reason) => ({ value: state.listenerStat(slot, `tls_failed_${reason}`), labels: { listener: l.name, reason } }));
    }),
  );
  add('tls_passthrough_unrouted_total', 'Connections a tls_passthrough listener closed: no route for their SNI, or not TLS.', 'counter', () =>
    src.snapshot().config.listeners.flatMap((l) => {
      const slot = src.snapshot().listenerSlots[l.name];
      if (slot === undefined || l.protocol !== 'tcp' || l.tls_passthrough === undefined) return [];
      return [
        { value: state.listenerStat(slot, 'tls_passthrough_no_route'), labels: { listener: l.name, reason: 'no_route' } },
        { value: state.listenerStat(slot, 'tls_passthrough_not_tls'), labels: { listener: l.name, reason: 'not_tls' } },
      ];
    }),
  );
  perListener('downstream_requests_total', 'Requests accepted per listener (requests_total splits them by outcome).', 'counter', 'downstream_cx_total');
  perListener('downstream_requests_active', 'Downstream requests in flight per listener.', 'gauge', 'downstream_cx_active');
  perListener('downstream_bytes_received_total', 'Request body bytes received from clients.', 'counter', 'downstream_bytes_in');
  perListener('downstream_bytes_sent_total', 'Response body bytes sent to clients.', 'counter', 'downstream_bytes_out');
  perListener('local_replies_total', 'Responses the proxy made itself (404, 502, 503, 504 ...).', 'counter', 'local_replies');
  perListener('downstream_refused_total', 'Malformed or ambiguous requests refused (400, 413, 414, 431, 501) with the connection closed.', 'counter', 'refused_requests');
  perListener('downstream_refusals_unsent_total', 'Refusals the client never received: it closed first, or sent more bytes after the refused request (uws codec).', 'counter', 'refusals_unsent');
  perListener('downstream_aborted_total', 'Requests whose client went away before the response ended (uws: also a request pipelined behind one still in flight).', 'counter', 'downstream_aborted');
  perListener('downstream_aborted_forwarded_total', 'Aborted requests that had already been sent upstream.', 'counter', 'downstream_aborted_forwarded');
  perListener('downstream_pipelined_total', 'http1-strict: requests that arrived while an earlier request on the same connection was in flight.', 'counter', 'pipelined_requests');
  perListener('h2_connections_total', 'HTTP/2 connections accepted (codec h2c, or h2 by ALPN on a TLS listener).', 'counter', 'h2_connections');
  perListener('h2_streams_total', 'HTTP/2 streams opened by clients.', 'counter', 'h2_streams');
  perListener('h2_streams_reset_by_client_total', 'HTTP/2 streams the client reset before they were answered (their upstream requests are cancelled).', 'counter', 'h2_resets_by_client');
  perListener('h2_reset_flood_closed_total', 'HTTP/2 connections closed for resetting streams faster than http2.max_resets_per_10s (rapid reset, CVE-2023-44487).', 'counter', 'h2_reset_flood_closed');
  perListener('h2_goaways_sent_total', 'HTTP/2 GOAWAY frames sent on drain or idle timeout.', 'counter', 'h2_goaways_sent');
  perListener('h2_protocol_errors_total', 'HTTP/2 connections closed for a protocol error (invalid frames, flow control, CONTINUATION floods). A header block over max_header_list_size resets only its stream and is not counted here.', 'counter', 'h2_protocol_errors');
  perListener('h2_ping_timeouts_total', 'HTTP/2 connections closed because a keep-alive PING went unanswered.', 'counter', 'h2_ping_timeouts');
  add('grpc_responses_total', 'gRPC responses by grpc-status name (MISSING: no grpc-status, or the stream failed).', 'counter', () =>
    Object.entries(src.snapshot().listenerSlots).flatMap(([listener, ls]) => {
      const out: Sample[] = [];
      for (let code = 0; code < GRPC_STATUS_STATS.length; code++) {
        const value = state.listenerStat(ls, GRPC_STATUS_STATS[code]!);
        if (value > 0) out.push({ value, labels: { listener, grpc_status: grpcStatusName(code) } });
      }
      const missing = state.listenerStat(ls, 'grpc_status_missing');
      if (missing > 0) out.push({ value: missing, labels: { listener, grpc_status: 'MISSING' } });
      return out;
    }),
  );
  perListener('accept_errors_total', 'Connections the listener could not accept (out of file descriptors, ...): http1-strict, TLS and tcp listeners; a uws listener cannot report them.', 'counter', 'accept_errors');
  perListener('downstream_header_timeouts_total', 'http1-strict: request heads not complete within timeouts.header_read (answered 408).', 'counter', 'header_read_timeouts');
  perListener('tracing_spans_exported_total', 'Spans of requests on the listener that the OTLP receiver accepted (tracing on).', 'counter', 'trace_spans_exported');
  perListener('tracing_spans_dropped_total', 'Spans lost: the export queue was full (tracing.otlp.batch.max_queue), or their export failed.', 'counter', 'trace_spans_dropped');
  perListener('tracing_export_failures_total', 'OTLP export requests that failed (connection, timeout, non-2xx answer) carrying spans of the listener.', 'counter', 'trace_export_failures');

  const perCluster = (name: string, help: string, stat: ClusterStat) =>
    add(name, help, 'counter', () => src.snapshot().clusters.map((c) => ({ value: state.clusterStat(c.slot, stat), labels: { cluster: c.name } })));
  perCluster('upstream_connections_total', 'Upstream connections opened.', 'upstream_cx_total');
  perCluster('upstream_connect_failures_total', 'Upstream connection attempts that failed or timed out.', 'upstream_connect_failures');
  perCluster('upstream_resets_total', 'Upstream connections lost or invalid mid-request.', 'upstream_resets');
  perCluster('upstream_timeouts_total', 'Requests that timed out waiting for the upstream.', 'upstream_timeouts');
  perCluster('upstream_bytes_sent_total', 'Request body bytes sent upstream.', 'upstream_bytes_out');
  perCluster('upstream_bytes_received_total', 'Response body bytes received from upstreams.', 'upstream_bytes_in');
  perCluster('retries_total', 'Retries started (each retry is one more attempt on the cluster).', 'retries');
  perCluster('retry_budget_exhausted_total', 'Retries refused because retries in flight reached the route\'s retry budget.', 'retry_budget_exhausted');

  add('circuit_breaker_rejections_total', 'Requests (or retries) refused by a circuit breaker, by the limit that refused them.', 'counter', () =>
    src.snapshot().clusters.flatMap((c) =>
      BREAKER_LIMITS.map((limit) => ({ value: state.clusterStat(c.slot, `cb_reject_${limit}`), labels: { cluster: c.name, limit } })),
    ),
  );
  add('pool_warm_connections', 'Idle upstream connections open and ready, all workers.', 'gauge', () =>
    src.snapshot().clusters.map((c) => ({ value: c.endpoints.reduce((n, e) => n + state.endpoint(e.slot, 'warm_connections'), 0), labels: { cluster: c.name } })),
  );
  add('endpoint_effective_weight', 'Weight the balancer uses after slow start and warm-up.', 'gauge', () =>
    src.snapshot().clusters.flatMap((c) => c.endpoints.map((e) => ({ value: state.endpoint(e.slot, 'effective_weight_milli') / 1000, labels: { cluster: c.name, endpoint: e.key } }))),
  );
  const filterSums = (pick: (c: FilterCounters) => Record<string, number | Record<string, number>>) => {
    const sums = new Map<string, number>();
    for (const c of src.filterCounters?.() ?? []) {
      for (const [filter, v] of Object.entries(pick(c))) {
        if (typeof v === 'number') sums.set(filter, (sums.get(filter) ?? 0) + v);
        else for (const [metric, n] of Object.entries(v)) sums.set(`${filter}\u0000${metric}`, (sums.get(`${filter}\u0000${metric}`) ?? 0) + n);
      }
    }
    return sums;
  };
  add('wasm_filter_errors_total', 'Filter failures (trap, exception, memory over max_memory), by listener/filter; each answered 500 or skipped (fail_open).', 'counter', () =>
    [...filterSums((c) => c.errors)].map(([filter, value]) => ({ value, labels: { filter } })),
  );
  add('wasm_filter_metric', "Counters and gauges filters define themselves, summed over workers (reported every second).", 'gauge', () =>
    [...filterSums((c) => c.metrics)].map(([key, value]) => {
      const [filter, metric] = key.split('\u0000');
      return { value, labels: { filter: filter!, metric: metric! } };
    }),
  );
  add('upstream_requests_pending', 'Requests waiting for an upstream connection, all workers.', 'gauge', () =>
    src.snapshot().clusters.map((c) => ({ value: state.cluster(c.slot, 'rq_pending'), labels: { cluster: c.name } })),
  );
  add('upstream_retries_active', 'Retries in flight, all workers (what the retry budget and max_retries limit).', 'gauge', () =>
    src.snapshot().clusters.map((c) => ({ value: state.cluster(c.slot, 'rq_retry_active'), labels: { cluster: c.name } })),
  );
  perCluster('upstream_h2_sessions_total', 'HTTP/2 sessions opened to endpoints.', 'upstream_h2_sessions');
  perCluster('upstream_h2_streams_total', 'HTTP/2 streams (requests) started on sessions to endpoints.', 'upstream_h2_streams');
  perCluster('upstream_h2_goaways_total', 'GOAWAY frames received from endpoints (their sessions take no new streams).', 'upstream_h2_goaways');
  perCluster('upstream_h2_refused_streams_total', 'Streams an endpoint refused unprocessed (REFUSED_STREAM or past a GOAWAY); always safe to retry.', 'upstream_h2_refused_streams');
  perCluster('upstream_h2_ping_timeouts_total', 'HTTP/2 sessions to endpoints closed because a keep-alive PING went unanswered.', 'upstream_h2_ping_timeouts');
  perCluster('upstream_h2_session_errors_total', 'HTTP/2 sessions to endpoints lost to a protocol or socket error.', 'upstream_h2_session_errors');
  perCluster('outlier_ejections_total', 'Endpoints ejected by outlier detection.', 'outlier_ejections');
  perCluster('upstream_tls_handshakes_total', 'TLS handshakes completed with endpoints.', 'upstream_tls_handshakes');
  perCluster('upstream_tls_sessions_resumed_total', 'Of those, handshakes that resumed a session.', 'upstream_tls_resumed');
  perCluster('upstream_tls_handshake_failures_total', 'TLS handshakes with endpoints that failed (certificate, SAN, protocol, timeout).', 'upstream_tls_failures');
  add('upstream_tls_handshake_seconds_sum', 'Time spent in TLS handshakes with endpoints (TCP connect to secure); divide by upstream_tls_handshakes_total for the mean.', 'counter', () =>
    src.snapshot().clusters.map((c) => ({ value: state.clusterStat(c.slot, 'upstream_tls_handshake_ms') / 1000, labels: { cluster: c.name } })),
  );

  if (src.tls) {
    const tls = src.tls;
    add('tls_certificate_expiry_seconds', 'Seconds until each configured certificate expires (negative: expired).', 'gauge', () =>
      tls().expiries.map((e) => ({ value: Math.round((e.notAfter - Date.now()) / 1000), labels: { file: e.file } })),
    );
    add('tls_certificate_reloads_total', 'Reloads of changed certificate, key and CA files, by result; a failed one keeps the running certificates.', 'counter', () =>
      Object.entries(tls().reloads).map(([result, value]) => ({ value, labels: { result } })),
    );
  }
  if (src.dns) {
    const dns = src.dns;
    const perDnsCluster = (read: (s: DnsClusterStats) => number) => () => [...dns()].map(([cluster, s]) => ({ value: read(s), labels: { cluster } }));
    add('dns_resolutions_total', 'DNS queries of discovery clusters, by result: ok (endpoints), empty (no such name or no records), failure (no answer; the last good endpoints stay).', 'counter', () =>
      [...dns()].flatMap(([cluster, s]) => (['ok', 'empty', 'failure'] as const).map((result) => ({ value: s.results[result], labels: { cluster, result } }))),
    );
    add('dns_endpoints', 'Endpoints a discovery cluster has from DNS.', 'gauge', perDnsCluster((s) => s.endpoints));
    add('dns_last_success_timestamp_seconds', 'When a discovery cluster last had an answer with endpoints (Unix time; 0: never).', 'gauge', perDnsCluster((s) => s.lastSuccess / 1000));
    add('dns_stale_names', 'Names of a discovery cluster serving their last good endpoints because the last query failed or answered empty once.', 'gauge', perDnsCluster((s) => s.staleNames));
  }
  add('config_reloads_total', 'Config file reloads (SIGHUP or file change), by result; a failed one keeps the running config.', 'counter', () =>
    Object.entries(src.reloads?.() ?? {}).map(([result, value]) => ({ value, labels: { result } })),
  );

  add('upstream_connections_active', 'Upstream connections open, all workers.', 'gauge', () =>
    src.snapshot().clusters.map((c) => ({ value: state.cluster(c.slot, 'cx_active'), labels: { cluster: c.name } })),
  );
  add('upstream_requests_active', 'Requests in flight to the cluster, all workers.', 'gauge', () =>
    src.snapshot().clusters.map((c) => ({ value: state.cluster(c.slot, 'rq_active'), labels: { cluster: c.name } })),
  );
  add('endpoint_healthy', '1 when the endpoint may receive traffic (passing health checks, not ejected).', 'gauge', () =>
    src.snapshot().clusters.flatMap((c) =>
      c.endpoints.map((e) => ({
        value: state.endpoint(e.slot, 'health') & (HEALTH_ACTIVE_FAILED | HEALTH_EJECTED | HEALTH_UNKNOWN) ? 0 : 1,
        labels: { cluster: c.name, endpoint: e.key },
      })),
    ),
  );
  const perEndpointStat = (metric: string, help: string, stat: 'requests' | 'connect_failures') =>
    add(metric, help, 'counter', () =>
      src.snapshot().clusters.flatMap((c) => c.endpoints.map((e) => ({ value: state.endpointStat(e.slot, stat), labels: { cluster: c.name, endpoint: e.key } }))),
    );
  perEndpointStat('endpoint_requests_total', 'Requests sent to each endpoint.', 'requests');
  perEndpointStat('endpoint_connect_failures_total', 'Connections to each endpoint that failed to open (refused, timed out, reset while connecting).', 'connect_failures');
  addL4Metrics(add, state, () => src.snapshot());
  addLatencyMetrics(add, state, () => src.snapshot());
  return registry;
}
