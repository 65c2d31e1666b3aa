/**
 * Accessors over the SharedArrayBuffer described by layout.ts: one method per field, so that no other
 * module computes an offset. The same class is used by the supervisor (which creates the buffer) and by
 * every worker (which attaches to it).
 */
import {
  BREAKER_BUCKETS,
  CLUSTER,
  CLUSTER_FIELDS,
  CLUSTER_HISTOGRAM,
  CLUSTER_HISTOGRAMS,
  CLUSTER_STAT,
  CLUSTER_STATS,
  CODE_CLASSES,
  DURATION_BUCKETS,
  ENDPOINT,
  ENDPOINT_FIELDS,
  ENDPOINT_STAT,
  ENDPOINT_STATS,
  ENDPOINT_TIME,
  ENDPOINT_TIME_FIELDS,
  HEADER,
  HEADER_FIELDS,
  HELD_CLUSTER,
  HELD_CLUSTER_FIELDS,
  HELD_ENDPOINT,
  HELD_ENDPOINT_FIELDS,
  HISTOGRAM_LENGTH,
  LAYOUT_VERSION,
  LISTENER_GAUGES,
  LISTENER_STAT,
  LISTENER_STATS,
  MAGIC,
  computeLayout,
  durationBucket,
  type Capacities,
  type ClusterField,
  type ClusterHistogram,
  type ClusterStat,
  type EndpointField,
  type EndpointStat,
  type EndpointTimeField,
  type HeaderField,
  type Layout,
  type ListenerStat,
} from './layout.js';

/**
 * Spins this many times before taking an endpoint lock over: only a thread that died inside the few
 * lines a lock guards can hold it that long, and its update is lost either way.
 */
export const LOCK_MAX_SPINS = 1 << 20;

/** The endpoint fields that are locks: 1 while a thread updates fields that change together. */
export type EndpointLockField = Extract<EndpointField, 'frb_lock' | 'outlier_lock'>;

export class SharedState {
  readonly buffer: SharedArrayBuffer;
  readonly layout: Layout;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** Where this thread's held row starts (see holdAs); -1 in a view that holds nothing (the supervisor). */
  private heldRow = -1;

  private constructor(buffer: SharedArrayBuffer, layout: Layout) {
    this.buffer = buffer;
    this.layout = layout;
    this.i32 = new Int32Array(buffer, 0, layout.int32Length);
    this.f64 = new Float64Array(buffer);
  }

  /** Allocates and initialises a new buffer. */
  static create(capacities: Omit<Capacities, 'maxRoutes'> & { maxRoutes?: number }): SharedState {
    const cap: Capacities = { ...capacities, maxRoutes: capacities.maxRoutes ?? 0 };
    const layout = computeLayout(cap);
    const s = new SharedState(new SharedArrayBuffer(layout.byteLength), layout);
    s.setHeader('magic', MAGIC);
    s.setHeader('layout_version', LAYOUT_VERSION);
    s.setHeader('max_clusters', cap.maxClusters);
    s.setHeader('max_endpoints', cap.maxEndpoints);
    s.setHeader('max_listeners', cap.maxListeners);
    s.setHeader('max_threads', cap.maxThreads);
    s.setHeader('max_routes', cap.maxRoutes);
    return s;
  }

  /** Wraps a buffer made by `create` in another thread. */
  static attach(buffer: SharedArrayBuffer): SharedState {
    const head = new Int32Array(buffer, 0, HEADER_FIELDS.length);
    if (head[HEADER.magic] !== MAGIC || head[HEADER.layout_version] !== LAYOUT_VERSION) {
      throw new Error('SharedState: buffer has an unknown layout');
    }
    const cap: Capacities = {
      maxClusters: head[HEADER.max_clusters]!,
      maxEndpoints: head[HEADER.max_endpoints]!,
      maxListeners: head[HEADER.max_listeners]!,
      maxThreads: head[HEADER.max_threads]!,
      maxRoutes: head[HEADER.max_routes]!,
    };
    return new SharedState(buffer, computeLayout(cap));
  }

  // ------------------------------------------------------------ header

  header(field: HeaderField): number {
    return Atomics.load(this.i32, this.layout.headerAt + HEADER[field]);
  }
  setHeader(field: HeaderField, value: number): void {
    Atomics.store(this.i32, this.layout.headerAt + HEADER[field], value);
  }
  addHeader(field: HeaderField, delta: number): number {
    return Atomics.add(this.i32, this.layout.headerAt + HEADER[field], delta) + delta;
  }

  // ------------------------------------------------------------ clusters (coordination)

  private clusterIndex(cluster: number, field: ClusterField): number {
    return this.layout.clustersAt + cluster * CLUSTER_FIELDS.length + CLUSTER[field];
  }
  cluster(cluster: number, field: ClusterField): number {
    return Atomics.load(this.i32, this.clusterIndex(cluster, field));
  }
  setCluster(cluster: number, field: ClusterField, value: number): void {
    Atomics.store(this.i32, this.clusterIndex(cluster, field), value);
  }
  /** Adds and returns the value before the add (Atomics.add semantics). */
  addCluster(cluster: number, field: ClusterField, delta: number): number {
    const h = HELD_CLUSTER[CLUSTER[field]]!;
    if (h >= 0 && this.heldRow >= 0) Atomics.add(this.i32, this.heldRow + cluster * HELD_CLUSTER_FIELDS.length + h, delta);
    return Atomics.add(this.i32, this.clusterIndex(cluster, field), delta);
  }
  /** Increments the cluster's shared round-robin sequence and returns the value before. */
  nextSequence(cluster: number): number {
    return Atomics.add(this.i32, this.clusterIndex(cluster, 'rr_sequence'), 1) >>> 0;
  }

  // ------------------------------------------------------------ endpoints (coordination)

  private endpointIndex(slot: number, field: EndpointField): number {
    return this.layout.endpointsAt + slot * ENDPOINT_FIELDS.length + ENDPOINT[field];
  }
  endpoint(slot: number, field: EndpointField): number {
    return Atomics.load(this.i32, this.endpointIndex(slot, field));
  }
  setEndpoint(slot: number, field: EndpointField, value: number): void {
    Atomics.store(this.i32, this.endpointIndex(slot, field), value);
  }
  /** Adds and returns the value before the add. */
  addEndpoint(slot: number, field: EndpointField, delta: number): number {
    const h = HELD_ENDPOINT[ENDPOINT[field]]!;
    if (h >= 0 && this.heldRow >= 0) Atomics.add(this.i32, this.heldEndpointAt(this.heldRow, slot) + h, delta);
    return Atomics.add(this.i32, this.endpointIndex(slot, field), delta);
  }
  compareExchangeEndpoint(slot: number, field: EndpointField, expected: number, value: number): number {
    return Atomics.compareExchange(this.i32, this.endpointIndex(slot, field), expected, value);
  }
  /**
   * Takes one of the endpoint's short spin locks (0 free, 1 held) with compare-and-exchange; after
   * LOCK_MAX_SPINS failed tries, takes it over. Release it with unlockEndpoint.
   */
  lockEndpoint(slot: number, field: EndpointLockField): void {
    const i = this.endpointIndex(slot, field);
    for (let n = 0; n < LOCK_MAX_SPINS; n++) if (Atomics.compareExchange(this.i32, i, 0, 1) === 0) return;
    Atomics.store(this.i32, i, 1);
  }
  unlockEndpoint(slot: number, field: EndpointLockField): void {
    Atomics.store(this.i32, this.endpointIndex(slot, field), 0);
  }
  orEndpoint(slot: number, field: EndpointField, bits: number): number {
    return Atomics.or(this.i32, this.endpointIndex(slot, field), bits);
  }
  andEndpoint(slot: number, field: EndpointField, bits: number): number {
    return Atomics.and(this.i32, this.endpointIndex(slot, field), bits);
  }

  endpointTime(slot: number, field: EndpointTimeField): number {
    return this.f64[this.layout.endpointTimesAt + slot * ENDPOINT_TIME_FIELDS.length + ENDPOINT_TIME[field]]!;
  }
  setEndpointTime(slot: number, field: EndpointTimeField, ms: number): void {
    this.f64[this.layout.endpointTimesAt + slot * ENDPOINT_TIME_FIELDS.length + ENDPOINT_TIME[field]] = ms;
  }

  /** The endpoint's failure-rate breaker buckets: [successes, failures], views of shared memory. */
  breakerBuckets(slot: number): [Int32Array, Int32Array] {
    const at = this.layout.breakerBucketsAt + slot * 2 * BREAKER_BUCKETS;
    return [this.i32.subarray(at, at + BREAKER_BUCKETS), this.i32.subarray(at + BREAKER_BUCKETS, at + 2 * BREAKER_BUCKETS)];
  }

  // ------------------------------------------------------------ what each thread holds

  /**
   * Makes this view count, in `thread`'s held row, its adds to the held fields (HELD_CLUSTER_FIELDS,
   * HELD_ENDPOINT_FIELDS). A worker calls it once, before its first request.
   */
  holdAs(thread: number): void {
    if (thread < 0 || thread >= this.layout.cap.maxThreads) throw new RangeError(`no held row ${thread}`);
    this.heldRow = this.layout.heldAt + thread * this.layout.heldRowLength;
  }

  private heldEndpointAt(row: number, slot: number): number {
    return row + this.layout.cap.maxClusters * HELD_CLUSTER_FIELDS.length + slot * HELD_ENDPOINT_FIELDS.length;
  }

  /**
   * Gives back what a thread that died held: takes its share out of every held cluster and endpoint
   * field, zeroes its row, and zeroes its share of the listener gauges (requests and connections it was
   * serving). Call it only once the thread has stopped, before a new thread takes its index.
   * Returns the total it gave back (requests, connections, ... summed; 0 when it held nothing).
   */
  releaseThread(thread: number): number {
    if (thread < 0 || thread >= this.layout.cap.maxThreads) throw new RangeError(`no held row ${thread}`);
    const row = this.layout.heldAt + thread * this.layout.heldRowLength;
    let released = 0;
    for (let c = 0; c < this.layout.cap.maxClusters; c++) {
      for (let h = 0; h < HELD_CLUSTER_FIELDS.length; h++) {
        const v = Atomics.exchange(this.i32, row + c * HELD_CLUSTER_FIELDS.length + h, 0);
        if (v === 0) continue;
        Atomics.sub(this.i32, this.clusterIndex(c, HELD_CLUSTER_FIELDS[h]!), v);
        released += Math.abs(v);
      }
    }
    for (let e = 0; e < this.layout.cap.maxEndpoints; e++) {
      const at = this.heldEndpointAt(row, e);
      for (let h = 0; h < HELD_ENDPOINT_FIELDS.length; h++) {
        const v = Atomics.exchange(this.i32, at + h, 0);
        if (v === 0) continue;
        Atomics.sub(this.i32, this.endpointIndex(e, HELD_ENDPOINT_FIELDS[h]!), v);
        released += Math.abs(v);
      }
    }
    const stats = this.layout.statsAt + thread * this.layout.rowLength + this.layout.row.listenerStatsAt;
    for (let l = 0; l < this.layout.cap.maxListeners; l++) {
      for (const g of LISTENER_GAUGES) this.f64[stats + l * LISTENER_STATS.length + LISTENER_STAT[g]] = 0;
    }
    return released;
  }

  /** What `thread` holds of one endpoint field (tests and diagnostics). */
  heldEndpoint(thread: number, slot: number, field: (typeof HELD_ENDPOINT_FIELDS)[number]): number {
    const row = this.layout.heldAt + thread * this.layout.heldRowLength;
    return Atomics.load(this.i32, this.heldEndpointAt(row, slot) + HELD_ENDPOINT[ENDPOINT[field]]!);
  }

  /** Zeroes every coordination field and time of a slot, for reuse. */
  clearEndpoint(slot: number): void {
    // A reused slot must not inherit a share some thread held of the endpoint that had it.
    for (let t = 0; t < this.layout.cap.maxThreads; t++) {
      const at = this.heldEndpointAt(this.layout.heldAt + t * this.layout.heldRowLength, slot);
      for (let h = 0; h < HELD_ENDPOINT_FIELDS.length; h++) Atomics.store(this.i32, at + h, 0);
    }
    for (const f of ENDPOINT_FIELDS) this.setEndpoint(slot, f, 0);
    for (const f of ENDPOINT_TIME_FIELDS) this.setEndpointTime(slot, f, 0);
    for (const counts of this.breakerBuckets(slot)) counts.fill(0);
  }

  // ------------------------------------------------------------ statistics

  /** The writer for one thread's statistics row. Only that thread may use it. */
  statsWriter(thread: number): StatsWriter {
    if (thread < 0 || thread >= this.layout.cap.maxThreads) throw new RangeError(`no statistics row ${thread}`);
    const start = this.layout.statsAt + thread * this.layout.rowLength;
    return new StatsWriter(this.f64.subarray(start, start + this.layout.rowLength), this.layout);
  }

  /** Sum of one row offset over every thread. */
  private sumRows(offset: number): number {
    const { statsAt, rowLength, cap } = this.layout;
    let sum = 0;
    for (let t = 0; t < cap.maxThreads; t++) sum += this.f64[statsAt + t * rowLength + offset]!;
    return sum;
  }

  requests(listener: number, cluster: number /* -1 for none */, codeClassIndex: number): number {
    return this.sumRows(requestsOffset(this.layout, listener, cluster, codeClassIndex));
  }
  /** Cumulative counts per bucket (non-cumulative as stored; the caller accumulates), then sum and count. */
  durationHistogram(listener: number): Histogram {
    return this.histogramAt(this.layout.row.durationAt + listener * HISTOGRAM_LENGTH);
  }
  /** Requests that matched a route (by its slot), by code class. */
  routeRequests(route: number, codeClassIndex: number): number {
    return this.sumRows(this.layout.row.routeRequestsAt + route * CODE_CLASSES.length + codeClassIndex);
  }
  /** Duration histogram of the requests that matched a route, like durationHistogram. */
  routeDuration(route: number): Histogram {
    return this.histogramAt(this.layout.row.routeDurationAt + route * HISTOGRAM_LENGTH);
  }
  /** One of a cluster's latency histograms, like durationHistogram. */
  clusterHistogram(cluster: number, which: ClusterHistogram): Histogram {
    return this.histogramAt(clusterHistogramOffset(this.layout, cluster, which));
  }
  private histogramAt(base: number): Histogram {
    const buckets: number[] = [];
    let count = 0;
    for (let b = 0; b <= DURATION_BUCKETS.length; b++) {
      const n = this.sumRows(base + b);
      buckets.push(n);
      count += n;
    }
    return { buckets, sum: this.sumRows(base + DURATION_BUCKETS.length + 1), count };
  }
  /** One thread's own value of a listener statistic (to see how work spreads over threads). */
  threadListenerStat(thread: number, listener: number, stat: ListenerStat): number {
    const { statsAt, rowLength } = this.layout;
    return this.f64[statsAt + thread * rowLength + this.layout.row.listenerStatsAt + listener * LISTENER_STATS.length + LISTENER_STAT[stat]]!;
  }
  listenerStat(listener: number, stat: ListenerStat): number {
    return this.sumRows(this.layout.row.listenerStatsAt + listener * LISTENER_STATS.length + LISTENER_STAT[stat]);
  }
  clusterStat(cluster: number, stat: ClusterStat): number {
    return this.sumRows(this.layout.row.clusterStatsAt + cluster * CLUSTER_STATS.length + CLUSTER_STAT[stat]);
  }
  endpointStat(slot: number, stat: EndpointStat): number {
    return this.sumRows(this.layout.row.endpointStatsAt + slot * ENDPOINT_STATS.length + ENDPOINT_STAT[stat]);
  }
}

/** Per-bucket counts (not cumulative; the last is +Inf), the sum of the observed values and their count. */
export interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

function clusterHistogramOffset(layout: Layout, cluster: number, which: ClusterHistogram): number {
  return layout.row.clusterHistogramsAt + (cluster * CLUSTER_HISTOGRAMS.length + CLUSTER_HISTOGRAM[which]) * HISTOGRAM_LENGTH;
}

function requestsOffset(layout: Layout, listener: number, cluster: number, codeClassIndex: number): number {
  const clusters = layout.cap.maxClusters + 1;
  const c = cluster < 0 ? layout.cap.maxClusters : cluster;
  return layout.row.requestsAt + (listener * clusters + c) * CODE_CLASSES.length + codeClassIndex;
}

/** One thread's statistics row. Plain (non-atomic) adds: only the owning thread writes it. */
export class StatsWriter {
  private readonly row: Float64Array;
  private readonly layout: Layout;

  constructor(row: Float64Array, layout: Layout) {
    this.row = row;
    this.layout = layout;
  }

  /** Counts a finished request: code class and duration histogram. */
  request(listener: number, cluster: number, codeClassIndex: number, seconds: number): void {
    this.row[requestsOffset(this.layout, listener, cluster, codeClassIndex)]! += 1;
    this.observe(this.layout.row.durationAt + listener * HISTOGRAM_LENGTH, seconds);
  }
  /** Counts a finished request that matched the route in slot `route`: code class and duration. */
  routeRequest(route: number, codeClassIndex: number, seconds: number): void {
    this.row[this.layout.row.routeRequestsAt + route * CODE_CLASSES.length + codeClassIndex]! += 1;
    this.observe(this.layout.row.routeDurationAt + route * HISTOGRAM_LENGTH, seconds);
  }
  /** Adds one observation (seconds) to a cluster's latency histogram. */
  clusterLatency(cluster: number, which: ClusterHistogram, seconds: number): void {
    this.observe(clusterHistogramOffset(this.layout, cluster, which), seconds);
  }
  /** Counts an attempt on an endpoint by how it was answered: a code class index (0: no response). */
  endpointResponse(slot: number, codeClassIndex: number): void {
    this.row[this.layout.row.endpointStatsAt + slot * ENDPOINT_STATS.length + ENDPOINT_STAT.responses_none + codeClassIndex]! += 1;
  }
  private observe(base: number, seconds: number): void {
    this.row[base + durationBucket(seconds)]! += 1;
    this.row[base + DURATION_BUCKETS.length + 1]! += seconds;
  }
  listener(listener: number, stat: ListenerStat, delta: number): void {
    this.row[this.layout.row.listenerStatsAt + listener * LISTENER_STATS.length + LISTENER_STAT[stat]]! += delta;
  }
  cluster(cluster: number, stat: ClusterStat, delta: number): void {
    this.row[this.layout.row.clusterStatsAt + cluster * CLUSTER_STATS.length + CLUSTER_STAT[stat]]! += delta;
  }
  endpoint(slot: number, stat: EndpointStat, delta: number): void {
    this.row[this.layout.row.endpointStatsAt + slot * ENDPOINT_STATS.length + ENDPOINT_STAT[stat]]! += delta;
  }
}
