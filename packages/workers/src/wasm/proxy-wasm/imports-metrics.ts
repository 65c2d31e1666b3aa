/**
 * Metrics: proxy_define_metric, proxy_increment_metric, proxy_record_metric, proxy_get_metric.
 * Counters and gauges become the filter's own metrics (pillion_wasm_filter_metric{filter,metric});
 * a histogram is published as two counters, NAME_count and NAME_sum, like a Prometheus summary
 * without quantiles. Names are lower-cased, with anything outside [a-z0-9_] made `_`.
 */
import { HostCallError } from '../filter-error.js';
import { MetricType, Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

export function metricName(raw: string): string {
  const name = raw.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return (/^[0-9]/.test(name) ? `_${name}` : name).slice(0, 58);
}

export function metricImports(host: HostState): HostFunctions {
  const memory = host.memory;
  const metrics = host.env.metrics;
  /** Per id the module holds: its type and the filter metric(s) behind it. */
  const types: number[] = [];
  const first: number[] = [];
  const second: number[] = [];
  const known = (id: number) => Number.isInteger(id) && id >= 0 && id < types.length;
  return {
    proxy_define_metric: guarded((type, namePtr, nameLen, retId) => {
      if (type !== MetricType.Counter && type !== MetricType.Gauge && type !== MetricType.Histogram) return Status.BadArgument;
      const name = metricName(memory.string(namePtr!, nameLen!));
      if (name.length === 0) return Status.BadArgument;
      let a: number;
      let b = -1;
      try {
        if (type === MetricType.Histogram) {
          a = metrics.define('counter', `${name}_count`);
          b = metrics.define('counter', `${name}_sum`);
        } else {
          a = metrics.define(type === MetricType.Counter ? 'counter' : 'gauge', name);
        }
      } catch (error) {
        if (error instanceof HostCallError) return Status.BadArgument;
        throw error;
      }
      types.push(type);
      first.push(a);
      second.push(b);
      memory.setU32(retId!, types.length - 1);
      return Status.Ok;
    }),
    proxy_increment_metric: guarded((id, delta) => {
      if (!known(id!)) return Status.NotFound;
      const d = Number(delta as unknown as bigint);
      const type = types[id!];
      if (type === MetricType.Histogram || (type === MetricType.Counter && d < 0)) return Status.BadArgument;
      metrics.add(first[id!]!, d);
      return Status.Ok;
    }),
    proxy_record_metric: guarded((id, value) => {
      if (!known(id!)) return Status.NotFound;
      const v = Number(BigInt.asUintN(64, value as unknown as bigint));
      const type = types[id!];
      if (type === MetricType.Gauge) metrics.set(first[id!]!, v);
      else if (type === MetricType.Histogram) {
        metrics.add(first[id!]!, 1);
        metrics.add(second[id!]!, v);
      } else {
        const current = metrics.valueOf(first[id!]!);
        if (v < current) return Status.BadArgument;
        metrics.add(first[id!]!, v - current);
      }
      return Status.Ok;
    }),
    proxy_get_metric: guarded((id, retPtr) => {
      if (!known(id!)) return Status.NotFound;
      if (types[id!] === MetricType.Histogram) return Status.BadArgument;
      memory.setU64(retPtr!, BigInt.asUintN(64, BigInt(Math.trunc(metrics.valueOf(first[id!]!)))));
      return Status.Ok;
    }),
  };
}
