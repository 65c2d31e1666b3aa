/**
 * The Prometheus metrics of tcp and udp listeners, read from SharedState at scrape time. Bytes are in
 * the per-listener `pillion_downstream_bytes_{received,sent}_total` and the per-cluster
 * `pillion_upstream_bytes_{received,sent}_total` shared with HTTP.
 */
import type { ListenerStat, SharedState } from '@pillion/core';
import type { RuntimeSnapshot } from '../messages.js';

interface Sample {
  value: number;
  labels: Record<string, string>;
}

export type AddMetric = (name: string, help: string, type: 'counter' | 'gauge', read: () => Sample[]) => void;

const TCP_REJECTIONS: [string, ListenerStat][] = [
  ['max_connections', 'tcp_rejected_max_connections'],
  ['cluster_overflow', 'tcp_rejected_cluster_overflow'],
  ['no_endpoint', 'tcp_no_endpoint'],
];
const TCP_TIMEOUTS: [string, ListenerStat][] = [
  ['idle', 'tcp_idle_timeouts'],
  ['max_connection_duration', 'tcp_max_duration_reached'],
];
const UDP_DROPS: [string, ListenerStat][] = [
  ['oversized', 'udp_dropped_oversized'],
  ['max_sessions', 'udp_dropped_max_sessions'],
  ['no_endpoint', 'udp_dropped_no_endpoint'],
  ['draining', 'udp_dropped_draining'],
  ['upstream_error', 'udp_dropped_upstream_error'],
];

export function addL4Metrics(add: AddMetric, state: SharedState, snapshot: () => RuntimeSnapshot): void {
  /** [name, slot] of the listeners speaking `protocol`. */
  const listeners = (protocol: 'tcp' | 'udp'): [string, number][] => {
    const snap = snapshot();
    return snap.config.listeners.filter((l) => l.protocol === protocol).map((l) => [l.name, snap.listenerSlots[l.name]!]);
  };
  const simple = (protocol: 'tcp' | 'udp', name: string, help: string, type: 'counter' | 'gauge', stat: ListenerStat) =>
    add(name, help, type, () => listeners(protocol).map(([listener, slot]) => ({ value: state.listenerStat(slot, stat), labels: { listener } })));
  const labelled = (protocol: 'tcp' | 'udp', name: string, help: string, label: string, stats: [string, ListenerStat][]) =>
    add(name, help, 'counter', () =>
      listeners(protocol).flatMap(([listener, slot]) => stats.map(([value, stat]) => ({ value: state.listenerStat(slot, stat), labels: { listener, [label]: value } }))),
    );

  simple('tcp', 'tcp_connections_total', 'TCP connections accepted per listener.', 'counter', 'tcp_connections_total');
  simple('tcp', 'tcp_connections_active', 'TCP connections open per listener, all workers.', 'gauge', 'tcp_connections_active');
  labelled('tcp', 'tcp_connections_rejected_total', 'TCP connections closed without being proxied, by reason.', 'reason', TCP_REJECTIONS);
  labelled('tcp', 'tcp_timeouts_total', 'TCP connections closed by a timeout.', 'timeout', TCP_TIMEOUTS);
  simple('udp', 'udp_sessions_active', 'UDP sessions open per listener.', 'gauge', 'udp_sessions_active');
  simple('udp', 'udp_sessions_total', 'UDP sessions started per listener.', 'counter', 'udp_sessions_total');
  simple('udp', 'udp_datagrams_received_total', 'Datagrams received from clients.', 'counter', 'udp_datagrams_in');
  simple('udp', 'udp_datagrams_sent_total', 'Datagrams sent back to clients.', 'counter', 'udp_datagrams_out');
  labelled('udp', 'udp_datagrams_dropped_total', 'Datagrams dropped, by reason.', 'reason', UDP_DROPS);
}
