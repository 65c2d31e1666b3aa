/** Builders for the small configs end-to-end tests run Pillion with. */
export interface SimpleConfig {
  listen: number;
  admin: number;
  /** Upstream ports on 127.0.0.1, all in cluster "c". */
  upstreams: number[];
  workers?: number;
  route?: Record<string, unknown>;
  listener?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  top?: Record<string, unknown>;
}

export function simpleConfig(o: SimpleConfig) {
  return {
    workers: o.workers ?? 1,
    admin: { port: o.admin },
    access_log: { enabled: false },
    ...o.top,
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: o.listen,
        routes: [{ match: { prefix: '/' }, cluster: 'c', ...o.route }],
        ...o.listener,
      },
    ],
    clusters: [{ name: 'c', endpoints: o.upstreams.map((port) => ({ address: '127.0.0.1', port })), ...o.cluster }],
  };
}
