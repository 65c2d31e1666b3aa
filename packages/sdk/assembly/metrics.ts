import { METRIC_COUNTER, METRIC_GAUGE, metric_add, metric_define, metric_set } from "./host";

/**
 * A counter the proxy publishes in /metrics. Define it once (a field of the filter, or at
 * top level), not per request: defining asks the host for an id.
 */
export class Counter {
  private readonly id: i32;

  constructor(name: string) {
    this.id = metric_define(METRIC_COUNTER, changetype<usize>(name), name.length);
  }

  inc(delta: f64 = 1): void {
    metric_add(this.id, delta);
  }
}

/** A gauge the proxy publishes in /metrics. Define it once, like a Counter. */
export class Gauge {
  private readonly id: i32;

  constructor(name: string) {
    this.id = metric_define(METRIC_GAUGE, changetype<usize>(name), name.length);
  }

  set(value: f64): void {
    metric_set(this.id, value);
  }

  add(delta: f64): void {
    metric_add(this.id, delta);
  }
}
