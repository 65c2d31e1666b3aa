/**
 * What an exchange leaves behind when it ends: the listener's and cluster's counters and the request
 * duration histogram (always), an access log line (when enabled, sampled).
 */
import { codeClass, grpcStatusName } from '@pillion/core';
import type { ClusterRuntime } from './cluster-runtime.js';
import type { HttpListener } from './http-listener.js';

/** One access log line, in the fields the README documents. */
export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  aborted: boolean;
  cluster: ClusterRuntime | null;
  upstream: string | undefined;
  attempts: number;
  seconds: number;
  bytesIn: number;
  bytesOut: number;
  requestId: string;
  client: string;
  /** The name of the client's verified certificate ('' without one). */
  clientIdentity: string;
  /** gRPC requests: the grpc-status the client got (-1: none, the stream failed); undefined otherwise. */
  grpcStatus?: number | undefined;
  /** The request's trace id when tracing is on, so log lines and traces join. */
  traceId?: string | undefined;
}

/** Counts a finished exchange (`route`: the matched route's statistics slot, -1 for none). `status` 0 with `aborted`: the client left before any answer. */
export function countExchange(l: HttpListener, cluster: ClusterRuntime | null, route: number, status: number, aborted: boolean, seconds: number, bytesIn: number, bytesOut: number): void {
  const stats = l.stats;
  const k = aborted && status === 0 ? 0 : codeClass(status);
  stats.request(l.slot, cluster ? cluster.slot : -1, k, seconds);
  if (route >= 0) stats.routeRequest(route, k, seconds);
  stats.listener(l.slot, 'downstream_cx_active', -1);
  stats.listener(l.slot, 'downstream_bytes_in', bytesIn);
  stats.listener(l.slot, 'downstream_bytes_out', bytesOut);
  if (cluster !== null) stats.cluster(cluster.slot, 'upstream_bytes_in', bytesOut);
}

/** Whether this exchange gets an access log line (the log is on and the sample picked it). */
export function accessLogged(l: HttpListener): boolean {
  return l.accessLog !== null && (l.accessSample >= 1 || Math.random() < l.accessSample);
}

export function writeAccessLog(l: HttpListener, e: AccessLogEntry): void {
  l.accessLog!.info({
    listener: l.config.name,
    method: e.method,
    path: e.path,
    status: e.status,
    aborted: e.aborted || undefined,
    cluster: e.cluster?.name,
    upstream: e.upstream,
    attempts: e.attempts,
    duration_ms: Math.round(e.seconds * 1e6) / 1000,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    request_id: e.requestId || undefined,
    client: e.client || undefined,
    client_identity: e.clientIdentity || undefined,
    grpc_status: e.grpcStatus === undefined ? undefined : e.grpcStatus < 0 ? 'MISSING' : grpcStatusName(e.grpcStatus),
    trace_id: e.traceId,
  });
}
