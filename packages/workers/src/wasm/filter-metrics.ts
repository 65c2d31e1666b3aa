import { HostCallError } from './filter-error.js';

export type MetricKind = 'counter' | 'gauge';

const METRIC_NAME = /^[a-z_][a-z0-9_]{0,63}$/;
/** Filters define metrics by name at start; a cap stops one that makes names per request. */
export const MAX_METRICS_PER_FILTER = 64;

/**
 * The counters and gauges one filter defined, by name. Owned by the WasmFilter, so values survive
 * instance re-creation and hot reloads; the worker publishes them (name → number).
 */
export class FilterMetrics {
  private readonly names: string[] = [];
  private readonly kinds: MetricKind[] = [];
  private readonly values: number[] = [];

  get size(): number {
    return this.names.length;
  }

  /** Returns the id of `name`, defining it on first use. */
  define(kind: MetricKind, name: string): number {
    const existing = this.names.indexOf(name);
    if (existing !== -1) {
      if (this.kinds[existing] !== kind) {
        throw new HostCallError(`metric ${name} is already a ${this.kinds[existing]}`);
      }
      return existing;
    }
    if (!METRIC_NAME.test(name)) throw new HostCallError(`metric name ${JSON.stringify(name)} must match ${METRIC_NAME.source}`);
    if (this.names.length >= MAX_METRICS_PER_FILTER) {
      throw new HostCallError(`a filter may define at most ${MAX_METRICS_PER_FILTER} metrics`);
    }
    this.names.push(name);
    this.kinds.push(kind);
    this.values.push(0);
    return this.names.length - 1;
  }

  add(id: number, delta: number): void {
    this.check(id);
    if (this.kinds[id] === 'counter' && !(delta >= 0)) {
      throw new HostCallError(`counter ${this.names[id]} can only grow (delta ${delta})`);
    }
    this.values[id]! += delta;
  }

  set(id: number, value: number): void {
    this.check(id);
    if (this.kinds[id] !== 'gauge') throw new HostCallError(`metric ${this.names[id]} is a counter: use add`);
    this.values[id] = value;
  }

  /** The value of metric `id` (an id define returned). */
  valueOf(id: number): number {
    this.check(id);
    return this.values[id]!;
  }

  get(name: string): number | undefined {
    const id = this.names.indexOf(name);
    return id === -1 ? undefined : this.values[id];
  }

  kindOf(name: string): MetricKind | undefined {
    const id = this.names.indexOf(name);
    return id === -1 ? undefined : this.kinds[id];
  }

  forEach(visit: (name: string, kind: MetricKind, value: number) => void): void {
    for (let i = 0; i < this.names.length; i++) visit(this.names[i]!, this.kinds[i]!, this.values[i]!);
  }

  /** name → value. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]!] = this.values[i]!;
    return out;
  }

  private check(id: number): void {
    if (!(id >= 0 && id < this.names.length && Number.isInteger(id))) throw new HostCallError(`unknown metric id ${id}`);
  }
}
