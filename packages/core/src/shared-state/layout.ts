/**
 * The layout of the one SharedArrayBuffer every thread of a Pillion process shares.
 *
 * Two kinds of memory live in it:
 *  - coordination slots (Int32, updated with Atomics by any thread): per endpoint active requests and
 *    connections, health and ejection, effective weight; per cluster breaker counters and the shared
 *    round-robin sequence;
 *  - statistics rows (Float64), one row per thread, written without atomics by the owning thread only and
 *    summed by the reader: the per-CPU counter pattern, so counting a request costs one add.
 *
 * The field lists below are the single source of the offsets: adding a name to a list gives it a slot.
 * Nothing outside this module indexes the raw arrays.
 */

/** Process-wide header fields (Int32). */
export const HEADER_FIELDS = [
  'magic',
  'layout_version',
  'max_clusters',
  'max_endpoints',
  'max_listeners',
  'max_threads',
  'config_generation',
  'draining',
  'max_routes',
] as const;

/** Per-cluster coordination fields (Int32, Atomics). */
export const CLUSTER_FIELDS = [
  'rr_sequence', // the round-robin cursor shared by every worker
  'membership_generation', // bumped whenever endpoints, weights or eligibility change
  'cx_active', // upstream connections open, all workers
  'rq_pending', // requests waiting for a connection
  'rq_active', // requests in flight
  'rq_retry_active', // retries in flight
  'ejected_count', // endpoints currently ejected by outlier detection
] as const;

/** Per-endpoint coordination fields (Int32, Atomics). */
export const ENDPOINT_FIELDS = [
  'state', // EndpointState
  'cluster', // owning cluster slot
  'weight', // configured weight
  'effective_weight_milli', // weight x slow-start/warm-up factor x 1000
  'rq_active',
  'cx_active',
  'health', // bit flags, see HEALTH_*
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'times_ejected',
  'warm_connections',
  'hc_consecutive', // active health check: results in a row since the last flip
  'rq_pending', // requests waiting for a connection to this endpoint, all workers
  'warm_pools', // workers whose pool to this endpoint has finished warming up
  'frb_phase', // failure-rate breaker: closed, open or half-open
  'frb_probes', // failure-rate breaker: half-open probes in flight
  'frb_probe_ok', // failure-rate breaker: half-open probes that succeeded
  'frb_lock', // 1 while a thread updates the breaker's fields (they change together)
  'outlier_lock', // 1 while a thread updates the endpoint's outlier fields (they change together)
] as const;

/**
 * The coordination fields that count what a thread holds (requests in flight, connections open). Each
 * thread also keeps its own share of them in a row of its own, so that when a thread dies the
 * supervisor can take back what it held: without that, a dead thread's requests and connections stay
 * counted forever and the breakers and the least-request picker see a busy cluster that is idle.
 */
export const HELD_CLUSTER_FIELDS = ['cx_active', 'rq_pending', 'rq_active', 'rq_retry_active'] as const satisfies readonly ClusterField[];
export const HELD_ENDPOINT_FIELDS = ['rq_active', 'cx_active', 'rq_pending', 'warm_connections'] as const satisfies readonly EndpointField[];

/** Per-endpoint times (Float64, milliseconds since the epoch; each has a single writer). */
export const ENDPOINT_TIME_FIELDS = [
  'added_at',
  'ejected_until',
  'healthy_since',
  'frb_opened_at', // failure-rate breaker: when it last opened
  'frb_slot', // failure-rate breaker: the newest bucket's number (time / bucket width)
] as const;

/** Buckets of each endpoint's failure-rate breaker window (successes and failures, Int32 each). */
export const BREAKER_BUCKETS = 10;

export const enum EndpointState {
  Free = 0,
  Active = 1,
  Draining = 2,
}

export const HEALTH_ACTIVE_FAILED = 1; // failed active health checks
export const HEALTH_EJECTED = 2; // ejected by outlier detection
export const HEALTH_UNKNOWN = 4; // no active check result yet

/** Response classes counted by pillion_requests_total{code_class}. Index 0 is a request that got no response. */
export const CODE_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Upper bounds (seconds) of pillion_request_duration_seconds buckets. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Per-listener statistics (Float64, per thread). */
export const LISTENER_STATS = [
  'downstream_cx_total',
  'downstream_cx_active',
  'downstream_bytes_in',
  'downstream_bytes_out',
  'local_replies',
  'refused_requests', // malformed or ambiguous requests answered 4xx/501 with the connection closed
  'refusals_unsent', // refusals the client never got: it closed, or sent more (uWS then closes)
  'downstream_aborted', // requests whose client went away before the response ended
  'downstream_aborted_forwarded', // ... of which the request had already reached an upstream
  'pipelined_requests', // http1-strict: requests read while an earlier one on the connection was in flight
  'header_read_timeouts', // http1-strict: request heads not complete within timeouts.header_read
  'accept_errors', // accept(2) failures Node reported on the listener (http1-strict, TLS and tcp listeners)
  'tcp_connections_total',
  'udp_sessions_active',
  // layer 4 (tcp and udp listeners); their bytes go to downstream_bytes_in / downstream_bytes_out
  'tcp_connections_active',
  'tcp_rejected_max_connections', // the listener's own max_connections breaker
  'tcp_rejected_cluster_overflow', // the cluster's circuit_breaker.max_connections
  'tcp_no_endpoint', // no endpoint to pick, or every connect attempt failed
  'tcp_idle_timeouts',
  'tcp_max_duration_reached',
  'udp_sessions_total',
  'udp_datagrams_in', // from clients
  'udp_datagrams_out', // to clients
  'udp_dropped_oversized',
  'udp_dropped_max_sessions',
  'udp_dropped_no_endpoint',
  'udp_dropped_draining',
  'udp_dropped_upstream_error',
  // TLS listeners (http and tcp)
  'tls_handshakes', // completed handshakes
  'tls_resumed', // of which resumed a session (ticket)
  'tls_failed_handshake', // handshake errors: protocol, version, cipher, certificate rejected by OpenSSL
  'tls_failed_timeout', // not finished within tls.handshake_timeout
  'tls_failed_no_client_certificate', // client_certificate mode require, none presented
  'tls_failed_client_certificate_invalid', // presented, but not from the CA (or expired)
  'tls_failed_client_san_not_allowed', // valid, but no SAN in allowed_sans
  'tls_passthrough_no_route', // tls_passthrough: no route for the SNI and no default_cluster
  'tls_passthrough_not_tls', // tls_passthrough: the first bytes were not a TLS ClientHello
  // HTTP/2 (codec h2c, and TLS listeners that negotiated h2)
  'h2_connections', // HTTP/2 connections (sessions) accepted
  'h2_streams', // streams opened by clients
  'h2_resets_by_client', // streams the client reset before they were answered
  'h2_reset_flood_closed', // connections closed for resetting streams faster than http2.max_resets_per_10s
  'h2_goaways_sent', // GOAWAY sent on drain or idle timeout
  'h2_protocol_errors', // connections closed for breaking the protocol (invalid frames, flow control, CONTINUATION floods)
  'h2_ping_timeouts', // connections closed because a keep-alive PING went unanswered
  // gRPC responses by grpc-status (from the response's trailers, or its head when trailers-only)
  'grpc_status_0', 'grpc_status_1', 'grpc_status_2', 'grpc_status_3', 'grpc_status_4', 'grpc_status_5', 'grpc_status_6',
  'grpc_status_7', 'grpc_status_8', 'grpc_status_9', 'grpc_status_10', 'grpc_status_11', 'grpc_status_12', 'grpc_status_13',
  'grpc_status_14', 'grpc_status_15', 'grpc_status_16',
  'grpc_status_missing', // a gRPC request whose response carried no grpc-status (or the stream failed)
  // tracing (the top-level tracing block)
  'trace_spans_exported', // spans the OTLP receiver accepted
  'trace_spans_dropped', // spans lost: the export queue was full, or their export failed
  'trace_export_failures', // export requests that failed (connection, timeout, non-2xx) with spans of this listener
] as const;


/** Per-cluster statistics (Float64, per thread). */
export const CLUSTER_STATS = [
  'upstream_cx_total',
  'upstream_connect_failures',
  'upstream_resets',
  'upstream_timeouts',
  'retries',
  'outlier_ejections',
  'cb_reject_max_connections',
  'cb_reject_max_pending_requests',
  'cb_reject_max_requests',
  'cb_reject_max_retries',
  'cb_reject_failure_rate', // an endpoint's failure-rate breaker was open
  'retry_budget_exhausted', // a retry refused because retries in flight reached the retry budget
  'upstream_bytes_in',
  'upstream_bytes_out',
  'upstream_tls_handshakes', // completed TLS handshakes to endpoints
  'upstream_tls_resumed', // of which resumed a session
  'upstream_tls_failures', // handshakes that failed (certificate, SAN, protocol, timeout)
  'upstream_tls_handshake_ms', // sum of handshake times (TCP connect to secure), with upstream_tls_handshakes as count
  // HTTP/2 to endpoints (protocol h2, h2c, auto)
  'upstream_h2_sessions', // sessions opened
  'upstream_h2_streams', // streams (requests) started
  'upstream_h2_goaways', // GOAWAY received from an endpoint
  'upstream_h2_refused_streams', // streams the endpoint refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream)
  'upstream_h2_ping_timeouts', // sessions closed because a keep-alive PING went unanswered
  'upstream_h2_session_errors', // sessions lost to a protocol or socket error
  // retries started, by what failed (they add up to 'retries'); see RETRY_REASONS
  'retry_connect_failure',
  'retry_reset',
  'retry_refused',
  'retry_timeout',
  'retry_status',
  'retry_grpc_status',
] as const;

/** Why a retry was started: the label of pillion_retries_by_reason_total, in the order of the retry_* cluster stats. */
export const RETRY_REASONS = ['connect-failure', 'reset', 'refused', 'timeout', 'status', 'grpc-status'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** Per-endpoint statistics (Float64, per thread). */
export const ENDPOINT_STATS = [
  'requests',
  'connect_failures',
  // attempts by how the endpoint answered, in CODE_CLASSES order (none: connect failure, reset or timeout)
  'responses_none',
  'responses_1xx',
  'responses_2xx',
  'responses_3xx',
  'responses_4xx',
  'responses_5xx',
] as const;

/**
 * Latency histograms kept per cluster, each over DURATION_BUCKETS:
 *  - upstream_first_byte: an attempt's request handed to a connection → its response head;
 *  - upstream_duration: the same start → the response's last byte from the endpoint;
 *  - pool_wait: the attempt asked its endpoint's pool → a connection (or stream) handed over.
 */
export const CLUSTER_HISTOGRAMS = ['upstream_first_byte', 'upstream_duration', 'pool_wait'] as const;
export type ClusterHistogram = (typeof CLUSTER_HISTOGRAMS)[number];

/** Float64 elements of one histogram: a count per DURATION_BUCKETS bound, the +Inf bucket, then the sum. */
export const HISTOGRAM_LENGTH = DURATION_BUCKETS.length + 2;

export type HeaderField = (typeof HEADER_FIELDS)[number];
export type ClusterField = (typeof CLUSTER_FIELDS)[number];
export type EndpointField = (typeof ENDPOINT_FIELDS)[number];
export type EndpointTimeField = (typeof ENDPOINT_TIME_FIELDS)[number];
export type ListenerStat = (typeof LISTENER_STATS)[number];

/** The listener statistics that are gauges: a dead thread's share is zeroed when it is replaced. */
export const LISTENER_GAUGES = ['downstream_cx_active', 'tcp_connections_active', 'udp_sessions_active'] as const satisfies readonly ListenerStat[];
export type ClusterStat = (typeof CLUSTER_STATS)[number];

/** The listener stat of each gRPC status code, by code (0-16). */
export const GRPC_STATUS_STATS: readonly ListenerStat[] = Array.from({ length: 17 }, (_, i) => `grpc_status_${i}` as ListenerStat);
export type EndpointStat = (typeof ENDPOINT_STATS)[number];

/** The cluster stat of each retry reason, in RETRY_REASONS order. */
export const RETRY_REASON_STATS: readonly ClusterStat[] = RETRY_REASONS.map((r) => `retry_${r.replace('-', '_')}` as ClusterStat);

export interface Capacities {
  maxClusters: number;
  maxEndpoints: number;
  maxListeners: number;
  /** Statistics rows: one per worker thread plus one for the supervisor. */
  maxThreads: number;
  /** Routes with statistics of their own, over every listener (a slot per listener and route name). */
  maxRoutes: number;
}

export const MAGIC = 0x50494c4c; // "PILL"
export const LAYOUT_VERSION = 3;

function indexOf<T extends readonly string[]>(list: T): { [K in T[number]]: number } {
  const out = {} as Record<string, number>;
  list.forEach((name, i) => (out[name] = i));
  return out as { [K in T[number]]: number };
}

export const HEADER = indexOf(HEADER_FIELDS);
export const CLUSTER = indexOf(CLUSTER_FIELDS);
export const ENDPOINT = indexOf(ENDPOINT_FIELDS);
/** Position of each held field in a thread's held row (-1: not held). */
export const HELD_CLUSTER: readonly number[] = CLUSTER_FIELDS.map((f) => (HELD_CLUSTER_FIELDS as readonly string[]).indexOf(f));
export const HELD_ENDPOINT: readonly number[] = ENDPOINT_FIELDS.map((f) => (HELD_ENDPOINT_FIELDS as readonly string[]).indexOf(f));
export const ENDPOINT_TIME = indexOf(ENDPOINT_TIME_FIELDS);
export const LISTENER_STAT = indexOf(LISTENER_STATS);
export const CLUSTER_STAT = indexOf(CLUSTER_STATS);
export const ENDPOINT_STAT = indexOf(ENDPOINT_STATS);
export const CLUSTER_HISTOGRAM = indexOf(CLUSTER_HISTOGRAMS);

/** Where each region starts, in elements of its own array type, and how big the buffer is. */
export interface Layout {
  readonly cap: Capacities;
  /** Int32 regions (element offsets into one Int32Array over the whole buffer). */
  readonly headerAt: number;
  readonly clustersAt: number;
  readonly endpointsAt: number;
  /** Per endpoint: BREAKER_BUCKETS success counts, then BREAKER_BUCKETS failure counts. */
  readonly breakerBucketsAt: number;
  /** Per thread: its share of HELD_CLUSTER_FIELDS for every cluster, then of HELD_ENDPOINT_FIELDS for every endpoint. */
  readonly heldAt: number;
  readonly heldRowLength: number;
  readonly int32Length: number;
  /** Float64 regions (element offsets into one Float64Array over the whole buffer). */
  readonly endpointTimesAt: number;
  readonly statsAt: number;
  /** Float64 elements in one thread's statistics row. */
  readonly rowLength: number;
  /** Offsets inside a statistics row. */
  readonly row: {
    requestsAt: number; // [listener][cluster + 1 (the last is "no cluster")][code class]
    durationAt: number; // [listener][bucket..., +Inf, sum]
    listenerStatsAt: number; // [listener][LISTENER_STATS]
    clusterStatsAt: number; // [cluster][CLUSTER_STATS]
    endpointStatsAt: number; // [endpoint][ENDPOINT_STATS]
    routeRequestsAt: number; // [route][code class]
    routeDurationAt: number; // [route][HISTOGRAM_LENGTH]
    clusterHistogramsAt: number; // [cluster][CLUSTER_HISTOGRAMS][HISTOGRAM_LENGTH]
  };
  readonly byteLength: number;
}

export function computeLayout(cap: Capacities): Layout {
  const headerAt = 0;
  const clustersAt = headerAt + HEADER_FIELDS.length;
  const endpointsAt = clustersAt + cap.maxClusters * CLUSTER_FIELDS.length;
  const breakerBucketsAt = endpointsAt + cap.maxEndpoints * ENDPOINT_FIELDS.length;
  const heldAt = breakerBucketsAt + cap.maxEndpoints * 2 * BREAKER_BUCKETS;
  const heldRowLength = cap.maxClusters * HELD_CLUSTER_FIELDS.length + cap.maxEndpoints * HELD_ENDPOINT_FIELDS.length;
  let int32Length = heldAt + cap.maxThreads * heldRowLength;
  if (int32Length % 2) int32Length++; // Float64 regions start 8-byte aligned

  const endpointTimesAt = int32Length / 2;
  const statsAt = endpointTimesAt + cap.maxEndpoints * ENDPOINT_TIME_FIELDS.length;
  const classes = CODE_CLASSES.length;
  const requestsAt = 0;
  const durationAt = requestsAt + cap.maxListeners * (cap.maxClusters + 1) * classes;
  const listenerStatsAt = durationAt + cap.maxListeners * HISTOGRAM_LENGTH;
  const clusterStatsAt = listenerStatsAt + cap.maxListeners * LISTENER_STATS.length;
  const endpointStatsAt = clusterStatsAt + cap.maxClusters * CLUSTER_STATS.length;
  const routeRequestsAt = endpointStatsAt + cap.maxEndpoints * ENDPOINT_STATS.length;
  const routeDurationAt = routeRequestsAt + cap.maxRoutes * classes;
  const clusterHistogramsAt = routeDurationAt + cap.maxRoutes * HISTOGRAM_LENGTH;
  const rowLength = clusterHistogramsAt + cap.maxClusters * CLUSTER_HISTOGRAMS.length * HISTOGRAM_LENGTH;
  const byteLength = (statsAt + rowLength * cap.maxThreads) * 8;
  return {
    cap,
    headerAt,
    clustersAt,
    endpointsAt,
    breakerBucketsAt,
    heldAt,
    heldRowLength,
    int32Length,
    endpointTimesAt,
    statsAt,
    rowLength,
    row: { requestsAt, durationAt, listenerStatsAt, clusterStatsAt, endpointStatsAt, routeRequestsAt, routeDurationAt, clusterHistogramsAt },
    byteLength,
  };
}

/** Index of the duration bucket for a latency in seconds (the +Inf bucket is DURATION_BUCKETS.length). */
export function durationBucket(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
  return i;
}

/** 0 for none, 1 for 1xx ... 5 for 5xx. */
export function codeClass(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c : 0;
}
